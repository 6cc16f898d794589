//! CI proof run on MariaDB: every fault the testkit has for it.
#![allow(missing_docs)]

mod proof_common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_your_writes_violation_under_every_fault() {
    let topo = ryw_testkit::MariaDbTopology::start(2)
        .await
        .expect("start mariadb");
    let backend = ryw_diesel::Mysql::new().with_cluster_name("ryw-proof");
    proof_common::proof_run("mariadb", &topo, backend).await;
}

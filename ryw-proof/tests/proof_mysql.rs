//! CI proof run on Oracle MySQL: every fault the testkit has for it, the switchover included.
#![allow(missing_docs)]

mod proof_common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_your_writes_violation_under_every_fault() {
    let topo = ryw_testkit::MysqlTopology::start(2)
        .await
        .expect("start mysql");
    // Named: the leader's server_uuid changes with the switchover, floors must not.
    let backend = ryw_diesel::Mysql::new().with_cluster_name("ryw-proof");
    proof_common::proof_run("mysql", &topo, backend).await;
}

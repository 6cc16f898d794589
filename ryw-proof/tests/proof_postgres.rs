//! CI proof run on Postgres: every fault, including a switchover.
#![allow(missing_docs)]

mod proof_common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_your_writes_violation_under_every_fault() {
    let topo = ryw_testkit::PgTopology::start(2)
        .await
        .expect("start postgres");
    proof_common::proof_run("postgres", &topo, ryw_diesel::Postgres::new()).await;
}

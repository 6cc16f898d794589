//! The leader's connections die (terminated, or the leader restarts): a write that meets a
//! dead pooled connection at BEGIN goes through on another one, writes during the outage fail
//! with retryable errors (or inside their transaction, or, caught mid-COMMIT, with an unknown
//! outcome — never a false success, never a hang), and the router recovers by itself.
//! Postgres and MariaDB, with pools that hand out idle connections unchecked so the dead ones
//! really reach the router.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::time::Duration;

use ryw::{Error, PoolConfig, ReplicatedPool, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_proof::backends::{CaptureFault, ProofBackend, setup_sql};
use ryw_testkit::{Faults, MariaDbTopology, PgTopology};

async fn write<B: ProofBackend>(router: &Router<CaptureFault<B>>, v: i64) -> Result<(), Error> {
    let user = ScopeKey::of("user_id", 1);
    RywContext::new()
        .run(router.write(&user, async move |conn| B::set_version(conn, 1, v).await))
        .await
        .map(drop)
}

async fn leader_outage<B: ProofBackend, T: Faults>(
    topo: &T,
    inner: B,
    must_meet_dead_connections: bool,
) {
    topo.execute_on_primary(&setup_sql(1)).await.unwrap();
    let backend = CaptureFault::new(inner);
    let pool = ReplicatedPool::builder(backend, topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .config(PoolConfig::default().with_max_size(4))
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    // Four idle leader connections in the pool.
    let (a, b, c, d) = tokio::join!(
        write(&router, 1),
        write(&router, 2),
        write(&router, 3),
        write(&router, 4)
    );
    for r in [a, b, c, d] {
        r.unwrap();
    }
    assert!(topo.kill_primary_connections().await.unwrap() >= 1);
    // Writes meet the dead connections at BEGIN and go through on others. (The Postgres
    // client often notices a closed socket by itself, and the pool then drops the connection
    // at checkout; the MySQL client only notices when it next sends, so there BEGIN meets
    // them for sure.)
    for v in 5..10 {
        write(&router, v).await.expect("a write after the kill");
    }
    let retries = router.stats().begin_retries;
    println!("BEGIN left {retries} dead connections behind");
    if must_meet_dead_connections {
        assert!(
            retries >= 1,
            "no write met a dead connection: the fault was not real"
        );
    }

    // A crash restart of the leader while writes go on.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let writes = async {
        let (mut ok, mut retryable, mut unknown, mut rolled_back) = (0, 0, 0, 0);
        let mut v = 10;
        while !*done_rx.borrow() {
            v += 1;
            match tokio::time::timeout(Duration::from_secs(20), write(&router, v)).await {
                Ok(Ok(())) => ok += 1,
                Ok(Err(e)) if e.is_retryable() => retryable += 1,
                Ok(Err(Error::CommitOutcomeUnknown { .. })) => unknown += 1,
                // The UPDATE itself failed inside the transaction: nothing was committed.
                Ok(Err(Error::Query { what: "query", .. })) => rolled_back += 1,
                Ok(Err(e)) => panic!("a write failed with a non-retryable error: {e}"),
                Err(_) => panic!("a write hung"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, retryable, unknown, rolled_back)
    };
    let outage = async {
        topo.restart_primary_immediate().await.unwrap();
        done_tx.send_replace(true);
    };
    let ((ok, retryable, unknown, rolled_back), ()) = tokio::join!(writes, outage);
    println!(
        "during the restart: {ok} ok, {retryable} retryable errors, {rolled_back} failed \
         inside the transaction, {unknown} of unknown outcome"
    );
    // Recovered by itself: once the leader answers, the connect circuit lets a probe through
    // within its backoff (failing fast, retryably, until then), and writes succeed again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match write(&router, 1_000).await {
            Ok(()) => break,
            Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("a write after the restart: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leader_outage() {
    let topo = PgTopology::start(1).await.unwrap();
    Box::pin(leader_outage(&topo, ryw::Postgres::new(), false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_leader_outage() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    let backend = ryw::Mysql::new().with_cluster_name("leader-outage");
    Box::pin(leader_outage(&topo, backend, true)).await;
}

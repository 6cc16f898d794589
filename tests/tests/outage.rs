//! A leader that goes away under clients that retry at once does not meet a storm of
//! connection attempts: the leader's connections sit behind a circuit (`circuit.rs`). The
//! leader is made unreachable by the testkit's relay in front of it (relayed connections cut,
//! new ones closed at once, each counted) for 5 s while 200 clients write and retry at once.
//! Bound: the pool's connections at the first failure, then one attempt at a time, at most
//! one per 50 ms — 16 + 5 s × 20/s = 116 in the outage. Without the circuit every failed
//! write tried again: thousands.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ryw::{Error, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{PgTopology, RoundTrips, Topology};
use tokio::time::Instant;

#[path = "common/tables.rs"]
mod tables;

const CLIENTS: u64 = 200;
const OUTAGE: Duration = Duration::from_secs(5);
/// 16 pooled connections trying at the first failure, then at most 20 attempts a second.
const BOUND: u64 = 16 + 5 * 20;

async fn write(router: &Router<Postgres>, id: u64) -> Result<(), Error> {
    let user = ScopeKey::of("user_id", id % 20);
    RywContext::new()
        .run(router.write(&user, async |c: &mut AsyncPgConnection| {
            diesel::sql_query("UPDATE outage SET v = v + 1 WHERE id = 1")
                .execute(c)
                .await
                .map_err(Error::from_diesel)
        }))
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_the_leader_does_not_amplify_and_recovers() {
    let topo = PgTopology::start(1).await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE TABLE outage (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO outage VALUES (1, 0)",
    )
    .await;
    let relay = RoundTrips::in_front_of(&topo.primary_url()).unwrap();
    let pool = ReplicatedPool::builder(Postgres::new(), relay.url(&topo.primary_url()))
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    for i in 0..CLIENTS {
        write(&router, i).await.unwrap();
    }

    relay.set_down(true);
    let before = relay.connections();
    let (stop, failed, succeeded) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (router, stop) = (router.clone(), Arc::clone(&stop));
            let (failed, succeeded) = (Arc::clone(&failed), Arc::clone(&succeeded));
            tokio::spawn(async move {
                // Retry at once, bounded in count as in time.
                for _ in 0..100_000 {
                    if AtomicBool::load(&stop, Ordering::Relaxed) {
                        break;
                    }
                    match write(&router, i).await {
                        Ok(()) => succeeded.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(OUTAGE).await;
    let attempts = relay.connections() - before;
    let failures = AtomicU64::load(&failed, Ordering::Relaxed);
    println!(
        "outage: {failures} failed writes, {attempts} connection attempts to the leader, {:?}",
        router.stats()
    );
    assert_eq!(
        AtomicU64::load(&succeeded, Ordering::Relaxed),
        0,
        "the leader was away"
    );
    assert!(
        failures > 10 * BOUND,
        "the clients did not retry hard enough to show anything: {failures}"
    );
    assert!(
        attempts <= BOUND,
        "{attempts} connection attempts in {OUTAGE:?}, bound {BOUND}"
    );
    let stats = router.stats();
    assert!(stats.leader_circuit_opened >= 1, "{stats:?}");
    assert!(stats.leader_checkouts_refused > 0, "{stats:?}");

    // Back: the clients' writes go through again, found by a probe within the circuit's
    // longest pause.
    relay.set_down(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while AtomicU64::load(&succeeded, Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "no write went through after the outage"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    write(&router, 0).await.unwrap();
}

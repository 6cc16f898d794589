//! Latency-first routing (`Prefer::Latency`) on a real Postgres replica 300 ms behind:
//!
//! * a fenced read right after a write goes to the leader at once (no wait), where
//!   replica-first waits the lag out on the replica — both see the write, a plain replica read
//!   does not;
//! * the leader's fallback budget binds: with 2 slots and 12 latency-first reads at once, the
//!   leader never runs more than 2 of them; the others wait for a slot or the replica, and
//!   every one sees the write;
//! * its rate bound binds too: at 3 fallback reads a second, 10 reads at once put at most 3
//!   on the leader; the others wait for the replica.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::store::MemoryStore;
use ryw::{Error, FallbackReason, Postgres, Routed, Router, RouterConfig};
use ryw::{Prefer, ReadPolicy, RywContext, ScopeKey};
use ryw_testkit::{PgTopology, Topology};

mod common;
#[path = "common/tables.rs"]
mod tables;

const LAG: Duration = Duration::from_millis(300);

#[path = "common/write.rs"]
mod set;

async fn setup(topo: &PgTopology, config: RouterConfig) -> Router<Postgres> {
    tables::create_everywhere(
        topo,
        "CREATE TABLE IF NOT EXISTS fast (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO fast VALUES (1, 0) ON CONFLICT DO NOTHING",
    )
    .await;
    let store = Arc::new(MemoryStore::new(100));
    let router = common::router(topo, Postgres::new(), config, store).await;
    topo.set_lag(0, LAG).await.unwrap();
    router
}

async fn write(router: &Router<Postgres>, v: i64) {
    set::set_v(router, "fast", v).await;
}

async fn read(router: &Router<Postgres>, policy: ReadPolicy) -> Routed<i64> {
    router
        .read_with(&ScopeKey::of("user_id", 1), &policy, async |conn| {
            diesel::select(sql::<BigInt>("(SELECT v FROM fast WHERE id = 1)"))
                .get_result::<i64>(conn)
                .await
                .map_err(Error::from_diesel)
        })
        .await
        .unwrap()
}

/// What a plain read on the replica sees now.
async fn naive(topo: &PgTopology) -> i64 {
    let mut conn = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();
    diesel::select(sql::<BigInt>("(SELECT v FROM fast WHERE id = 1)"))
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_first_reads_the_leader_at_once_and_prefer_replica_waits() {
    let topo = PgTopology::start(1).await.unwrap();
    let router = setup(&topo, RouterConfig::default()).await;
    let fast = ReadPolicy::default().with_prefer(Prefer::Latency);
    let patient = ReadPolicy::default().with_prefer(Prefer::Replica);
    RywContext::new()
        .run(async {
            write(&router, 1).await;
            assert_eq!(naive(&topo).await, 0, "the lag is not real");
            let r = read(&router, fast).await;
            assert_eq!(r.value, 1);
            assert!(r.served_by.is_leader(), "{r:?}");
            assert_eq!(r.fallback, Some(FallbackReason::Fastest));

            write(&router, 2).await;
            assert_ne!(naive(&topo).await, 2, "the lag is not real");
            let r = read(&router, patient).await;
            assert_eq!(r.value, 2);
            assert!(
                !r.served_by.is_leader(),
                "replica-first went to the leader: {r:?}"
            );
            assert_eq!(r.fallback, None);
        })
        .await;
    let stats = router.stats();
    assert_eq!(
        (stats.leader_reads, stats.replica_reads),
        (1, 1),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_budget_bounds_latency_first_reads() {
    let topo = PgTopology::start(1).await.unwrap();
    let config = RouterConfig::default().with_leader_fallback_limit(2, Duration::from_secs(2));
    let router = setup(&topo, config).await;
    let fast = ReadPolicy::default().with_prefer(Prefer::Latency);
    let reads: Vec<Routed<i64>> = RywContext::new()
        .run(async {
            write(&router, 7).await;
            assert_eq!(naive(&topo).await, 0, "the lag is not real");
            // Each read holds its leader slot for 50 ms: 12 of them cannot all have one.
            let slow = async |conn: &mut AsyncPgConnection| {
                diesel::select(sql::<BigInt>(
                    "(SELECT v FROM fast, pg_sleep(0.05) WHERE id = 1)",
                ))
                .get_result::<i64>(conn)
                .await
                .map_err(Error::from_diesel)
            };
            let user = ScopeKey::of("user_id", 1);
            let all = (0..12).map(|_| router.read_with(&user, &fast, slow));
            futures_util::future::join_all(all)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect()
        })
        .await;
    assert!(
        reads.iter().all(|r| r.value == 7),
        "a stale read: {reads:?}"
    );
    let stats = router.stats();
    assert!(stats.leader_fallback_peak <= 2, "{stats:?}");
    assert_eq!(stats.leader_fallback_limit, 2);
    assert!(stats.leader_busy > 0, "the budget never bound: {stats:?}");
    assert_eq!(stats.leader_shed, 0, "{stats:?}");
    assert_eq!(stats.leader_reads + stats.replica_reads, 12, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_budget_rate_bounds_fallback_reads_per_second() {
    let topo = PgTopology::start(1).await.unwrap();
    let config = RouterConfig::default().with_leader_fallback_rate(3);
    let router = setup(&topo, config).await;
    let reads: Vec<Routed<i64>> = RywContext::new()
        .run(async {
            write(&router, 5).await;
            assert_eq!(naive(&topo).await, 0, "the lag is not real");
            // Ten latency-first reads at once (the default policy), three fallback reads a
            // second: the rest wait for the replica (300 ms) or the window, whichever first.
            let user = ScopeKey::of("user_id", 1);
            let policy = ReadPolicy::default();
            let all = (0..10).map(|_| {
                router.read_with(&user, &policy, async |conn: &mut AsyncPgConnection| {
                    diesel::select(sql::<BigInt>("(SELECT v FROM fast WHERE id = 1)"))
                        .get_result::<i64>(conn)
                        .await
                        .map_err(Error::from_diesel)
                })
            });
            futures_util::future::join_all(all)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect()
        })
        .await;
    assert!(
        reads.iter().all(|r| r.value == 5),
        "a stale read: {reads:?}"
    );
    let stats = router.stats();
    assert_eq!(stats.leader_fallback_rate, Some(3));
    assert!(stats.leader_reads <= 3, "{stats:?}");
    assert_eq!(stats.leader_reads + stats.replica_reads, 10, "{stats:?}");
    assert!(
        stats.leader_budget_waits >= stats.replica_reads,
        "every read the replica served waited at the budget: {stats:?}"
    );
    assert_eq!(stats.leader_shed, 0, "{stats:?}");
}

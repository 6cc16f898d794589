//! Autocommit writes (`Router::write_autocommit`: one statement, no BEGIN / COMMIT, then the
//! capture) on a real Postgres replica 300 ms behind: the write's position fences the next
//! reads as a transaction's does — a plain replica read right after it is stale, a fenced
//! read is not, whether it goes to the leader (latency first) or waits for the replica
//! (replica first) — and a failed statement raises no floor.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::store::MemoryStore;
use ryw::{Error, Postgres, Prefer, ReadPolicy, Routed, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{PgTopology, Topology};

mod common;
#[path = "common/tables.rs"]
mod tables;

const LAG: Duration = Duration::from_millis(300);

fn user() -> ScopeKey {
    ScopeKey::of("user_id", 1)
}

async fn setup(topo: &PgTopology) -> Router<Postgres> {
    tables::create_everywhere(
        topo,
        "CREATE TABLE auto (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO auto VALUES (1, 0)",
    )
    .await;
    let store = Arc::new(MemoryStore::new(100));
    let router = common::router(topo, Postgres::new(), RouterConfig::default(), store).await;
    topo.set_lag(0, LAG).await.unwrap();
    router
}

async fn set(router: &Router<Postgres>, sql_text: &'static str) -> Result<Routed<usize>, Error> {
    router
        .write_autocommit(
            std::slice::from_ref(&user()),
            async |c: &mut AsyncPgConnection| {
                diesel::sql_query(sql_text)
                    .execute(c)
                    .await
                    .map_err(Error::from_diesel)
            },
        )
        .await
}

async fn read(router: &Router<Postgres>, policy: ReadPolicy) -> Routed<i64> {
    router
        .read_with(&user(), &policy, async |c: &mut AsyncPgConnection| {
            diesel::select(sql::<BigInt>("(SELECT v FROM auto WHERE id = 1)"))
                .get_result(c)
                .await
                .map_err(Error::from_diesel)
        })
        .await
        .unwrap()
}

async fn naive(topo: &PgTopology) -> i64 {
    let mut c = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();
    diesel::select(sql::<BigInt>("(SELECT v FROM auto WHERE id = 1)"))
        .get_result(&mut c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_write_fences_the_next_reads() {
    let topo = PgTopology::start(1).await.unwrap();
    let router = setup(&topo).await;
    RywContext::new()
        .run(async {
            let w = set(&router, "UPDATE auto SET v = 1 WHERE id = 1")
                .await
                .unwrap();
            assert_eq!(w.value, 1);
            assert!(w.position.is_some(), "no position captured");
            assert_eq!(naive(&topo).await, 0, "the lag is not real");
            let fast = read(&router, ReadPolicy::default()).await;
            assert_eq!(fast.value, 1, "{fast:?}");
            assert!(fast.served_by.is_leader(), "{fast:?}");

            set(&router, "UPDATE auto SET v = 2 WHERE id = 1")
                .await
                .unwrap();
            assert_ne!(naive(&topo).await, 2, "the lag is not real");
            let patient = ReadPolicy::default().with_prefer(Prefer::Replica);
            let r = read(&router, patient).await;
            assert_eq!(r.value, 2, "{r:?}");
            assert!(!r.served_by.is_leader(), "{r:?}");
        })
        .await;
    let stats = router.stats();
    assert_eq!(stats.uncaptured_writes, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_write_that_fails_raises_no_floor() {
    let topo = PgTopology::start(1).await.unwrap();
    let router = setup(&topo).await;
    let ctx = RywContext::new();
    let err = ctx
        .clone()
        .run(set(&router, "UPDATE no_such_table SET v = 1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Query { .. }), "{err}");
    // No floor: the scope's next read goes to the replica at once, without a fence.
    let r = ctx.run(read(&router, ReadPolicy::default())).await;
    assert!(r.position.is_none(), "a failed write raised a floor: {r:?}");
    assert!(!r.served_by.is_leader(), "{r:?}");
    let stats = router.stats();
    assert_eq!(stats.uncaptured_writes, 0, "{stats:?}");
}

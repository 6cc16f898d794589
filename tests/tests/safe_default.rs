//! The pitfall a new user met: a write then a read through the router *outside any context*
//! (a CLI, a job, a test without the layer) fenced nothing with `Router::new`. Now `new` keeps
//! floors in an in-process store, so such reads are fresh; opting out (`without_store`) shows
//! the stale reads again, and the router says so once and counts it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use ryw::ScopeKey;
use ryw::{Postgres, ReplicatedPool, Router, RouterConfig};
use ryw_testkit::{PgTopology, Topology};

#[path = "common/tables.rs"]
mod tables;

const ROUNDS: i64 = 10;

/// `ROUNDS` writes, each followed at once by a read of the same scope, all outside any
/// context; returns how many reads missed their write.
async fn stale_reads(router: &Router<Postgres>) -> i64 {
    let user = ScopeKey::of("user_id", 1);
    let mut stale = 0;
    for v in 1..=ROUNDS {
        router
            .write(&user, async move |conn| {
                diesel::sql_query(format!("UPDATE pitfall SET v = {v} WHERE id = 1"))
                    .execute(conn)
                    .await
                    .map_err(ryw::Error::from_diesel)
            })
            .await
            .unwrap();
        let read = router
            .read(&user, async |conn| {
                diesel::select(sql::<BigInt>("(SELECT v FROM pitfall WHERE id = 1)"))
                    .get_result::<i64>(conn)
                    .await
                    .map_err(ryw::Error::from_diesel)
            })
            .await
            .unwrap();
        stale += i64::from(read.value < v);
    }
    stale
}

async fn router(topo: &PgTopology, store: bool) -> Router<Postgres> {
    let pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    // Replica first: a fresh read then comes from the fence on a replica, not from the
    // leader (latency first, the default policy, would read the leader after each write).
    let policy = ryw::ReadPolicy::default().with_prefer(ryw::Prefer::Replica);
    let router = if store {
        Router::new(pool, RouterConfig::default().with_policy(policy)).await
    } else {
        Router::without_store(pool, RouterConfig::default()).await
    }
    .unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    router
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_outside_any_context_are_fenced_by_default() {
    let topo = PgTopology::start(1).await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE TABLE pitfall (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO pitfall VALUES (1, 0)",
    )
    .await;
    topo.set_lag(0, Duration::from_millis(300)).await.unwrap();

    // Opted out of any store: every read right after its write is stale, and it is said.
    let bare = router(&topo, false).await;
    assert_eq!(
        stale_reads(&bare).await,
        ROUNDS,
        "the pitfall is not reproduced"
    );
    assert_eq!(bare.stats().unfenced_by_setup, ROUNDS as u64);

    // The default router: none is.
    let safe = router(&topo, true).await;
    topo.execute_on_primary("UPDATE pitfall SET v = 0 WHERE id = 1")
        .await
        .unwrap();
    topo.set_lag(0, Duration::ZERO).await.unwrap();
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .unwrap();
    topo.set_lag(0, Duration::from_millis(300)).await.unwrap();
    assert_eq!(stale_reads(&safe).await, 0);
    assert_eq!(safe.stats().unfenced_by_setup, 0);
    assert!(
        safe.stats().replica_reads > 0,
        "the default router stopped using replicas"
    );
}

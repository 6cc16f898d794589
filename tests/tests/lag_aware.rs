//! The router's view of lag, on real replicas:
//!
//! * reads that need no particular position skip a replica whose oldest missing commit is
//!   past `max_replica_lag`, even when the other one is busier;
//! * writes do not poll the trackers, yet a read that may not wait finds a replica that
//!   caught up since the write (the trackers poll at the pending cadence while a commit is
//!   known the replica lacks), and the polls stay bounded per interval, not per write.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::{Error, Postgres, ReplicatedPool, Router, RouterConfig, ServedBy};
use ryw::{ReadPolicy, RywContext, ScopeKey};
use ryw_testkit::{PgTopology, Topology};

#[path = "common/write.rs"]
mod set;

async fn setup(topo: &PgTopology, config: RouterConfig) -> Router<Postgres> {
    topo.execute_on_primary(
        "CREATE TABLE IF NOT EXISTS lagged (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO lagged VALUES (1, 0) ON CONFLICT DO NOTHING",
    )
    .await
    .unwrap();
    let mut builder = ReplicatedPool::builder(Postgres::new(), topo.primary_url());
    for (i, url) in topo.replica_urls().iter().enumerate() {
        topo.wait_caught_up(i, Duration::from_secs(30))
            .await
            .unwrap();
        builder = builder.replica(format!("r{i}"), url);
    }
    let router = Router::new(builder.build().unwrap(), config).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    router
}

async fn write(router: &Router<Postgres>, v: i64) {
    set::set_v(router, "lagged", v).await;
}

async fn read(router: &Router<Postgres>, user: i64, policy: ReadPolicy, sleep: f64) -> ServedBy {
    router
        .read_with(&ScopeKey::of("user_id", user), &policy, async move |conn| {
            diesel::select(sql::<BigInt>(&format!(
                "(SELECT v FROM lagged, pg_sleep({sleep}) WHERE id = 1)"
            )))
            .get_result::<i64>(conn)
            .await
            .map_err(Error::from_diesel)
        })
        .await
        .unwrap()
        .served_by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfenced_reads_skip_a_replica_past_the_lag_bound() {
    let topo = PgTopology::start(2).await.unwrap();
    let config = RouterConfig::default().with_max_replica_lag(Duration::from_secs(1), 16 << 20);
    let router = setup(&topo, config).await;
    topo.set_lag(1, Duration::from_secs(30)).await.unwrap();
    write(&router, 1).await;
    // r1 is 30 s behind: a plain read there misses the write.
    let mut r1 = AsyncPgConnection::establish(&topo.replica_urls()[1])
        .await
        .unwrap();
    let naive: i64 = diesel::select(sql::<BigInt>("(SELECT v FROM lagged WHERE id = 1)"))
        .get_result(&mut r1)
        .await
        .unwrap();
    assert_eq!(naive, 0, "the replica is not lagging");
    // Once the router sees r1 past the 1 s bound, unfenced reads (another user, no floor)
    // avoid it even while r0 is busy with a long read and r1 idles.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let policy = router.policy();
    let busy = {
        let router = router.clone();
        tokio::spawn(async move { read(&router, 2, policy, 1.0).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..10 {
        let served = read(&router, 3, policy, 0.0).await;
        assert_eq!(
            served,
            ServedBy::Replica("r0".into()),
            "{:?}",
            router.replica_status()
        );
    }
    assert_eq!(busy.await.unwrap(), ServedBy::Replica("r0".into()));
    // With only the lagging replica online, it still serves (nothing better is left).
    topo.kill_replica(0).await.unwrap();
    let alone = async {
        loop {
            if read(&router, 3, policy, 0.0).await == ServedBy::Replica("r1".into()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), alone)
        .await
        .expect("the lagging replica never served once alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_may_not_wait_finds_a_replica_that_caught_up_since_the_write() {
    let topo = PgTopology::start(1).await.unwrap();
    let router = setup(&topo, RouterConfig::default()).await;
    let lag = Duration::from_millis(150);
    topo.set_lag(0, lag).await.unwrap();
    let no_wait = ReadPolicy::default().with_wait_budget(Duration::ZERO);
    let polls = || router.stats().position_queries[0];
    let mut on_replica = 0;
    let before = polls();
    let rounds = 10;
    for v in 1..=rounds {
        RywContext::new()
            .run(async {
                write(&router, v).await;
                // Right after the write no replica has it: the leader serves.
                assert_eq!(read(&router, 1, no_wait, 0.0).await, ServedBy::Leader);
                // Well within the idle poll interval (500 ms) but past the lag.
                tokio::time::sleep(lag + Duration::from_millis(150)).await;
                if read(&router, 1, no_wait, 0.0).await != ServedBy::Leader {
                    on_replica += 1;
                }
            })
            .await;
    }
    let spent = polls() - before;
    println!("{on_replica} of {rounds} reads found the replica; {spent} position queries");
    assert!(on_replica >= rounds - 1, "{on_replica} of {rounds}");
    // Each round lasts ~300 ms: at most one poll per pending interval (20 ms) while the
    // write is pending, a few idle ones otherwise.
    assert!(
        spent <= u64::try_from(rounds).unwrap() * 20,
        "{spent} polls"
    );
}

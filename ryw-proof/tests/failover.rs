//! An unplanned Postgres failover that loses a write: the primary dies, a replica that had
//! not received the last write is promoted. The session's floor from before the failover that
//! the new timeline holds stays a fence (a lagging replica is shown stale for it first, and
//! ryw still reads the write); the floor of the lost write is detected, counted and lowered to
//! the switch point, so the session's reads neither hang on it nor pretend it survived.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Session, eventually, node_version, reached};
use ryw::ScopeKey;
use ryw::{Postgres, ReplicatedPool, Router, RouterConfig, TrackerConfig};
use ryw_proof::backends::{ProofBackend, setup_sql};
use ryw_testkit::{PgTopology, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failover_keeps_surviving_floors_and_reports_lost_ones() {
    let topo = PgTopology::start(2).await.unwrap();
    topo.execute_on_primary(&setup_sql(3)).await.unwrap();
    for r in 0..2 {
        topo.wait_caught_up(r, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let urls = topo.replica_urls();
    let pool = ReplicatedPool::builder(Postgres::new(), topo.leader_url())
        .replica("r0", &urls[0])
        .replica("r1", &urls[1])
        .build()
        .unwrap();
    let config = RouterConfig::default()
        .with_tracker(TrackerConfig::default().with_idle_interval(Duration::from_millis(100)));
    let router = Router::new(pool, config).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    // r0 (to be promoted) trails by 1 s, r1 by 3 s: r1 never holds more than r0.
    topo.set_lag(0, Duration::from_secs(1)).await.unwrap();
    topo.set_lag(1, Duration::from_secs(3)).await.unwrap();
    let (kept, lost, after) = (
        ScopeKey::of("user_id", 1),
        ScopeKey::of("user_id", 2),
        ScopeKey::of("user_id", 3),
    );
    let session = Session::new(&router);
    let write = async |scope: &ScopeKey, id: i64| session.write(scope, id).await;
    let read = async |scope: &ScopeKey, id: i64| session.read(scope, id).await;

    // W1 reaches r0; W2 is acknowledged by the primary but still held back on its way to r0.
    assert!(write(&kept, 1).await.position.is_some());
    let r0 = &urls[0];
    assert!(
        reached::<Postgres>(r0, 1).await,
        "r0 never received the first write"
    );
    assert!(write(&lost, 2).await.position.is_some());
    topo.failover(0).await.unwrap();

    // The new leader does not have W2 (it was lost), but has W1.
    let leader = topo.primary_url();
    assert_eq!(
        node_version::<Postgres>(&leader, 2).await,
        Some(0),
        "the write was not lost"
    );
    assert_eq!(node_version::<Postgres>(&leader, 1).await, Some(1));
    // r1 trails the new leader by 3 s: a plain read of W1 there is stale.
    assert_eq!(
        node_version::<Postgres>(&urls[1], 1).await,
        Some(0),
        "r1 not stale: nothing to show"
    );

    // The router notices the new timeline by itself (its leader poll).
    assert!(
        eventually(Duration::from_secs(15), async || router
            .stats()
            .epoch_changes
            == 1)
        .await,
        "the router never saw the new timeline: {:?}",
        router.stats()
    );
    // W1 survived: still fenced, never read stale.
    let r = read(&kept, 1).await;
    assert_eq!(
        r.value, 1,
        "stale read of a surviving write from {:?}",
        r.served_by
    );
    // W2 was lost: detected, counted once, and its floor lowered to the switch point.
    let stats = router.stats();
    assert_eq!(stats.lost_floors, 1, "{stats:?}");
    let r = read(&lost, 2).await;
    assert_eq!(r.value, 0, "a lost write cannot be read");
    assert_eq!(router.stats().lost_floors, 1, "counted again");
    // Writes on the new timeline are fenced as usual.
    assert!(write(&after, 3).await.position.is_some());
    let r = read(&after, 3).await;
    assert_eq!(
        r.value, 1,
        "read after the failover missed its write ({:?})",
        r.served_by
    );
}

/// Token-less reads after a lossy promotion, with the floors in a shared Redis store: the
/// store's floors carry their epoch, so a floor of a write the failover lost is settled like
/// a token's — counted, lowered to the switch point (and written back) — instead of fencing
/// the scope at a position no replica will ever reach. Reads prefer replicas (wait budget 1 s),
/// so an unsettled lost floor would cost each read its whole budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_epoch_lost_floors_cost_no_wait_after_a_lossy_promotion() {
    use std::sync::Arc;

    use ryw::store::RedisStore;
    use ryw::store::ScopeStore;
    use ryw::{Prefer, ReadPolicy};
    use ryw_testkit::RedisServer;

    const SCOPES: i64 = 5;
    let topo = PgTopology::start(2).await.unwrap();
    topo.execute_on_primary(&setup_sql(2 * SCOPES + 1))
        .await
        .unwrap();
    for r in 0..2 {
        topo.wait_caught_up(r, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let redis = RedisServer::start().await.unwrap();
    let urls = topo.replica_urls();
    let instance = async |name: &str| {
        let pool = ReplicatedPool::builder(Postgres::new(), topo.leader_url())
            .replica("r0", &urls[0])
            .replica("r1", &urls[1])
            .build()
            .unwrap();
        let store: Arc<dyn ScopeStore> =
            Arc::new(RedisStore::from_url(&redis.url(), "app:").unwrap());
        let config = RouterConfig::default()
            .with_policy(ReadPolicy::default().with_prefer(Prefer::Replica))
            .with_tracker(TrackerConfig::default().with_idle_interval(Duration::from_millis(100)));
        let router = Router::with_store(pool, config, store).await.unwrap();
        assert!(
            router.ready(Duration::from_secs(10)).await,
            "{name} not ready"
        );
        router
    };
    let before = instance("before").await;
    topo.set_lag(0, Duration::from_secs(1)).await.unwrap();
    topo.set_lag(1, Duration::from_secs(3)).await.unwrap();
    let scope = |id: i64| ScopeKey::of("user_id", id);
    // Token-less writes: their floors live in the store only.
    let write = async |id: i64| {
        before
            .write(&scope(id), async move |conn| {
                Postgres::set_version(conn, id, 1).await
            })
            .await
            .unwrap()
    };
    let kept: Vec<i64> = (1..=SCOPES).collect();
    let lost: Vec<i64> = (SCOPES + 1..=2 * SCOPES).collect();
    for id in &kept {
        assert!(write(*id).await.position.is_some());
    }
    let r0 = &urls[0];
    let last = SCOPES;
    assert!(
        reached::<Postgres>(r0, last).await,
        "r0 never received the surviving writes"
    );
    for id in &lost {
        assert!(write(*id).await.position.is_some());
    }
    topo.failover(0).await.unwrap();
    let leader = topo.primary_url();
    for id in &lost {
        assert_eq!(
            node_version::<Postgres>(&leader, *id).await,
            Some(0),
            "{id} not lost"
        );
    }
    // r1 follows the new leader 3 s behind: a plain read of a surviving write there is stale.
    assert_eq!(
        node_version::<Postgres>(&urls[1], 1).await,
        Some(0),
        "r1 not stale"
    );
    topo.set_lag(1, Duration::ZERO).await.unwrap();
    topo.wait_caught_up(1, Duration::from_secs(20))
        .await
        .unwrap();

    // One instance that lived through the failover, one started after it.
    assert!(
        eventually(Duration::from_secs(15), async || before
            .stats()
            .epoch_changes
            == 1)
        .await,
        "the surviving instance never saw the new timeline"
    );
    let after = instance("after").await;
    let read = async |router: &Router<Postgres>, id: i64| {
        router
            .read(&scope(id), async move |conn| {
                Postgres::version(conn, id).await
            })
            .await
            .unwrap()
    };
    let mut lost_waits = Vec::new();
    for (router, ids) in [(&after, &lost[..3]), (&before, &lost[3..])] {
        for id in ids {
            let r = read(router, *id).await;
            assert_eq!(r.value, 0, "a lost write cannot be read");
            assert!(
                r.position.is_some(),
                "the store's floor was dropped instead of lowered"
            );
            lost_waits.push((r.waited, r.served_by.clone(), r.fallback));
        }
    }
    let mut kept_waits = Vec::new();
    for id in &kept {
        let r = read(&after, *id).await;
        assert_eq!(
            r.value, 1,
            "stale read of a surviving write ({:?})",
            r.served_by
        );
        kept_waits.push((r.waited, r.served_by.clone(), r.fallback));
    }
    eprintln!("lost scopes: {lost_waits:?}\nkept scopes: {kept_waits:?}");
    // A settled lost floor is the switch point, which the caught-up replica holds: served
    // there without waiting, like the surviving scopes.
    for (waited, served_by, fallback) in &lost_waits {
        assert!(
            !served_by.is_leader() && fallback.is_none() && waited.is_zero(),
            "a lost floor still fenced its scope: waited {waited:?} on {served_by:?} ({fallback:?})"
        );
    }
    let lost_floors = before.stats().lost_floors + after.stats().lost_floors;
    assert_eq!(
        lost_floors, SCOPES as u64,
        "each lost store floor counted once (the first read writes it back settled)"
    );
    // Read again: settled in the store, nothing more to count.
    for id in &lost {
        assert_eq!(read(&after, *id).await.value, 0);
    }
    assert_eq!(
        before.stats().lost_floors + after.stats().lost_floors,
        SCOPES as u64
    );
}

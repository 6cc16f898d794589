//! A write whose committing connection dies right after COMMIT, before the position capture,
//! still fences the next read: the router recaptures the position on a fresh leader
//! connection; and when even that fails, the scope's "unfenced" mark travels in the token and
//! the store, so the *next* request's read is fenced by the leader's position. Postgres and
//! MariaDB, with real lag (a plain replica read is shown stale first).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ryw::{KeyRing, RywContext, ScopeKey, TokenCodec};

use ryw::store::MemoryStore;
use ryw::{ReplicatedPool, Router, RouterConfig, ServedBy};
use ryw_proof::backends::{CaptureFault, ProofBackend, setup_sql};
use ryw_testkit::{MariaDbTopology, PgTopology, Topology};

async fn lost_capture_is_recaptured<B: ProofBackend>(topo: &impl Topology, inner: B) {
    topo.execute_on_primary(&setup_sql(1)).await.unwrap();
    topo.wait_caught_up(0, Duration::from_secs(20))
        .await
        .unwrap();
    let backend = CaptureFault::new(inner);
    let pool = ReplicatedPool::builder(backend.clone(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    topo.set_lag(0, Duration::from_millis(800)).await.unwrap();
    let user = ScopeKey::of("user_id", 1);
    backend.arm(1);
    RywContext::new()
        .run(async {
            let w = router
                .write(&user, async |conn| B::set_version(conn, 1, 1).await)
                .await
                .unwrap();
            assert_eq!(backend.fired(), 1, "the capture was not sabotaged");
            assert!(
                w.position.is_some(),
                "the write came back without a position"
            );
            let stats = router.stats();
            assert_eq!((stats.recaptured_writes, stats.uncaptured_writes), (1, 0));
            // The lag is real: a plain replica read misses the write.
            let mut conn = router.pool().replica(0).await.unwrap();
            assert_eq!(
                B::version(&mut conn, 1).await.unwrap(),
                0,
                "replica not stale"
            );
            drop(conn);
            let r = router
                .read(&user, async |conn| B::version(conn, 1).await)
                .await
                .unwrap();
            assert_eq!(
                r.value, 1,
                "read served by {:?} missed the write",
                r.served_by
            );
            assert!(matches!(
                r.served_by,
                ServedBy::Replica(_) | ServedBy::Leader
            ));
        })
        .await;
    topo.set_lag(0, Duration::ZERO).await.unwrap();
}

/// The capture is lost and the retry fails too (`capture_retry` zero: the leader stays away for
/// the whole retry window). The write returns without a position; the next requests — one
/// carrying the token, one with nothing but the shared store — still see it.
async fn unfenced_write_fences_the_next_requests<B: ProofBackend>(topo: &impl Topology, inner: B) {
    topo.execute_on_primary(&setup_sql(2)).await.unwrap();
    topo.wait_caught_up(0, Duration::from_secs(20))
        .await
        .unwrap();
    let backend = CaptureFault::new(inner);
    let pool = ReplicatedPool::builder(backend.clone(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let config = RouterConfig::default().with_capture_retry(Duration::ZERO);
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new(100));
    let router = Router::with_store(pool, config, store.clone())
        .await
        .unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    // The same store, but a router whose unfenced window is zero: it ignores the mark.
    let unmarked_pool = ReplicatedPool::builder(backend.clone(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let unmarked_config = RouterConfig::default().with_unfenced_window(Duration::ZERO);
    let unmarked = Router::with_store(unmarked_pool, unmarked_config, store)
        .await
        .unwrap();
    assert!(unmarked.ready(Duration::from_secs(10)).await);
    // Another app instance that does not share the store: only the token reaches it.
    let other_pool = ReplicatedPool::builder(backend.clone(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let other = Router::new(other_pool, RouterConfig::default())
        .await
        .unwrap();
    assert!(other.ready(Duration::from_secs(10)).await);
    let codec = TokenCodec::new(KeyRing::new(1, &[7u8; 32]).unwrap());
    topo.set_lag(0, Duration::from_secs(2)).await.unwrap();
    let user = ScopeKey::of("user_id", 2);
    backend.arm(1);
    let first = RywContext::new();
    let w = first
        .clone()
        .run(async {
            router
                .write(&user, async |conn| B::set_version(conn, 2, 1).await)
                .await
                .unwrap()
        })
        .await;
    assert_eq!(backend.fired(), 1, "the capture was not sabotaged");
    assert!(w.position.is_none(), "the retry was meant to fail");
    assert_eq!(router.stats().uncaptured_writes, 1);
    let token = first.export_token(&codec).unwrap();

    // Without the mark (window zero) a fresh request reads around the write: stale.
    let naive = RywContext::new()
        .run(async {
            unmarked
                .read(&user, async |conn| B::version(conn, 2).await)
                .await
                .unwrap()
        })
        .await;
    assert_eq!(naive.value, 0, "the replica was not stale: nothing to show");

    // The next request carries the token to the other instance (no shared store): fenced
    // by the leader's position, not stale.
    let next = RywContext::from_token(&codec, &token).unwrap();
    let r = next
        .clone()
        .run(async {
            other
                .read(&user, async |conn| B::version(conn, 2).await)
                .await
                .unwrap()
        })
        .await;
    assert_eq!(
        r.value, 1,
        "token request missed the write ({:?})",
        r.served_by
    );
    assert!(r.position.is_some(), "the read had no fence");
    // Its outgoing token carries a real floor now instead of the mark.
    let resolved = RywContext::from_token(&codec, &next.export_token(&codec).unwrap()).unwrap();
    assert_eq!(resolved.unfenced_since(router.cluster(), &user), None);
    assert!(
        resolved
            .required(router.cluster(), &user)
            .unwrap()
            .is_some()
    );

    // A request with no token at all (another device) finds the mark in the store.
    let r = RywContext::new()
        .run(async {
            router
                .read(&user, async |conn| B::version(conn, 2).await)
                .await
                .unwrap()
        })
        .await;
    assert_eq!(
        r.value, 1,
        "store-only request missed the write ({:?})",
        r.served_by
    );
    let (stats, other) = (router.stats(), other.stats());
    assert_eq!(stats.unfenced_resolved, 1, "{stats:?}");
    assert_eq!(other.unfenced_resolved, 1, "{other:?}");
    assert_eq!(stats.unfenced_leader_reads + other.unfenced_leader_reads, 0);
    topo.set_lag(0, Duration::ZERO).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unfenced_write_fences_the_next_requests() {
    let topo = PgTopology::start(1).await.unwrap();
    unfenced_write_fences_the_next_requests(&topo, ryw::Postgres::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_unfenced_write_fences_the_next_requests() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    let backend = ryw::Mysql::new().with_cluster_name("unfenced-write");
    unfenced_write_fences_the_next_requests(&topo, backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_capture_is_recaptured() {
    let topo = PgTopology::start(1).await.unwrap();
    lost_capture_is_recaptured(&topo, ryw::Postgres::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_lost_capture_is_recaptured() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    let backend = ryw::Mysql::new().with_cluster_name("capture-failure");
    lost_capture_is_recaptured(&topo, backend).await;
}

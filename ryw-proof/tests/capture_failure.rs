//! A write whose committing connection dies right after COMMIT, before the position capture,
//! still fences the next read: the router recaptures the position on a fresh leader
//! connection. Postgres and MariaDB, with real lag (a plain replica read is shown stale first).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ryw_core::{MemoryStore, RywContext, ScopeKey};
use ryw_diesel::{ReplicatedPool, Router, RouterConfig, ServedBy};
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
    let router = Router::with_store(
        pool,
        RouterConfig::default(),
        Arc::new(MemoryStore::new(100)),
    )
    .await
    .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_capture_is_recaptured() {
    let topo = PgTopology::start(1).await.unwrap();
    lost_capture_is_recaptured(&topo, ryw_diesel::Postgres::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_lost_capture_is_recaptured() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    let backend = ryw_diesel::Mysql::new().with_cluster_name("capture-failure");
    lost_capture_is_recaptured(&topo, backend).await;
}

//! Shared by the integration test binaries: a router over a testkit topology.

use std::sync::Arc;
use std::time::Duration;

use ryw::backend::ReplicationBackend;
use ryw::store::ScopeStore;
use ryw::{ReplicatedPool, Router, RouterConfig};
use ryw_testkit::Topology;

/// A router over every replica of `topo` (named `r0`, `r1`, …), trackers polled once.
pub(crate) async fn router<B: ReplicationBackend, T: Topology>(
    topo: &T,
    backend: B,
    config: RouterConfig,
    store: Arc<dyn ScopeStore>,
) -> Router<B> {
    let mut pool = ReplicatedPool::builder(backend, topo.primary_url());
    for (i, url) in topo.replica_urls().iter().enumerate() {
        pool = pool.replica(format!("r{i}"), url);
    }
    let router = Router::with_store(pool.build().unwrap(), config, store)
        .await
        .unwrap();
    assert!(
        router.ready(Duration::from_secs(5)).await,
        "trackers never polled"
    );
    router
}

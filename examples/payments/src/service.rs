//! Wiring the service together: a router over the leader and replicas, and the handlers'
//! state (shared by the binary and the fault recipe).

use std::sync::Arc;
use std::time::Duration;

use ryw::backend::ReplicationBackend;
use ryw::layer::RywLayer;
use ryw::store::ScopeStore;
use ryw::{ReplicatedPool, Router, RouterConfig};

use crate::http::AppState;
use crate::repo::Payments;

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
}

/// The balance every user starts with, in cents.
pub const START_BALANCE: i64 = 1_000_000;

/// The handlers' state: `repo`, the router's counters and the layer's.
pub fn state<R: Payments, B: ReplicationBackend>(
    repo: R,
    router: Router<B>,
    layer: &RywLayer,
) -> Arc<AppState<R>> {
    Arc::new(AppState {
        repo,
        plain_reads: Default::default(),
        stats: Box::new(move || router.stats()),
        layer: layer.stats(),
    })
}

/// A router over `leader` and `replicas` (named `replica-<i>`), sharing floors through
/// `store`; waits up to 5 s for the replicas' first positions.
///
/// # Errors
/// When the pool cannot be built or the leader cannot be reached.
pub async fn router<B: ReplicationBackend>(
    backend: B,
    leader: &str,
    replicas: &[String],
    store: Arc<dyn ScopeStore>,
    config: RouterConfig,
) -> Result<Router<B>, ryw::Error> {
    let mut pool = ReplicatedPool::builder(backend, leader);
    for (i, url) in replicas.iter().enumerate() {
        pool = pool.replica(format!("replica-{i}"), url);
    }
    let router = Router::with_store(pool.build()?, config, store).await?;
    router.ready(Duration::from_secs(5)).await;
    Ok(router)
}

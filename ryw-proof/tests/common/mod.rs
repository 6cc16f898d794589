//! Shared by the failover test binaries: a bounded wait on a condition, a node's register read
//! directly, and one session's writes and reads of the register table through a router.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use diesel_async::AsyncConnection;
use ryw::{Routed, Router};
use ryw::{RywContext, ScopeKey};
use ryw_proof::backends::ProofBackend;
use tokio::time::Instant;

/// Polls `cond` every 20 ms until it holds or `within` passed.
pub(crate) async fn eventually(within: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The version of `id` on one node of backend `B`, read directly (`None` when it cannot be
/// read).
pub(crate) async fn node_version<B: ProofBackend>(url: &str, id: i64) -> Option<i64> {
    let mut conn = B::Connection::establish(url).await.ok()?;
    B::version(&mut conn, id).await.ok()
}

/// Waits (10 s at most) until the node at `url` has register `id` set.
pub(crate) async fn reached<B: ProofBackend>(url: &str, id: i64) -> bool {
    eventually(Duration::from_secs(10), async || {
        node_version::<B>(url, id).await == Some(1)
    })
    .await
}

/// One session (one context, carried across its calls) on one router.
pub(crate) struct Session<B: ProofBackend> {
    pub(crate) router: Router<B>,
    pub(crate) ctx: RywContext,
}

impl<B: ProofBackend> Session<B> {
    pub(crate) fn new(router: &Router<B>) -> Self {
        Self {
            router: router.clone(),
            ctx: RywContext::new(),
        }
    }

    /// Sets register `id` to 1 under `scope`.
    pub(crate) async fn write(&self, scope: &ScopeKey, id: i64) -> Routed<()> {
        let router = &self.router;
        let write = router.write(scope, async move |conn| B::set_version(conn, id, 1).await);
        self.ctx.clone().run(write).await.unwrap()
    }

    /// Reads register `id` under `scope`.
    pub(crate) async fn read(&self, scope: &ScopeKey, id: i64) -> Routed<i64> {
        let router = &self.router;
        let read = router.read(scope, async move |conn| B::version(conn, id).await);
        self.ctx.clone().run(read).await.unwrap()
    }
}

//! Scope stores: floors shared across requests, devices and app instances, keyed by scope.
//!
//! A request carries its own floors in its [`RywContext`](crate::RywContext) and token; the
//! store is what lets a *different* client of the same scope (another device of the same
//! user, a request without a token, another app instance) see them too.
//!
//! The one rule every implementation keeps: [`raise`](ScopeStore::raise) never lowers a
//! stored position, even when writers race (an atomic max-merge, not a plain overwrite — a
//! plain `SET` lets a slow writer replace a higher LSN with a lower one).
//!
//! A scope written without a known position carries an *unfenced mark* for a bounded window
//! ([`ScopeStore::mark_unfenced`]), so another request of the scope fences its reads by the
//! leader's position instead of reading around the write.

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;

use crate::RywError;
use crate::floors::{ClusterId, ScopeKey};
use crate::position::Position;

/// The future a [`ScopeStore`] method returns (boxed so the trait is object safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RywError>> + Send + 'a>>;

/// What a store holds for one scope: its floor and, if the scope was written without a known
/// position within the mark's window, when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredFloor {
    /// The floor, if any and not expired.
    pub position: Option<Position>,
    /// The latest unfenced write of the scope whose mark has not expired.
    pub unfenced_since: Option<SystemTime>,
}

/// Where per-scope floors live between requests.
pub trait ScopeStore: Send + Sync + 'static {
    /// The floor and the unfenced mark of `scope` in `cluster`, in one round trip.
    fn lookup<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
    ) -> StoreFuture<'a, StoredFloor>;

    /// The floor stored for `scope` in `cluster`, if any and not expired.
    fn get<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
    ) -> StoreFuture<'a, Option<Position>> {
        Box::pin(async move { Ok(self.lookup(cluster, scope).await?.position) })
    }

    /// Records that `scope` was written now without a known position (the leader went away
    /// between COMMIT and the capture); the mark lasts `window`. A later mark replaces it.
    fn mark_unfenced<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        window: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Raises the floor of `scope` in `cluster` to cover `position` and keeps it for at
    /// least `ttl`. Never lowers the stored floor.
    fn raise<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        position: &'a Position,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Raises the floors of every scope in `scopes` to cover `position` (a write that changed
    /// them all). The default raises them one by one and returns the first error after trying
    /// all; stores with a network hop do it in one round trip where they can.
    fn raise_many<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scopes: &'a [ScopeKey],
        position: &'a Position,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut first = None;
            for scope in scopes {
                if let Err(e) = self.raise(cluster, scope, position, ttl).await {
                    first.get_or_insert(e);
                }
            }
            first.map_or(Ok(()), Err)
        })
    }

    /// A short name for logs and metrics (`"memory"`, `"redis"`).
    fn name(&self) -> &'static str;
}

//! Scope stores: floors shared across requests, devices and app instances, keyed by scope.
//!
//! A request carries its own floors in its [`RywContext`](crate::RywContext) and token; the
//! store is what lets a *different* client of the same scope (another device of the same
//! user, a request without a token, another app instance) see them too.
//!
//! The one rule every implementation keeps: [`raise`](ScopeStore::raise) never lowers a
//! stored position, even when writers race (an atomic max-merge, not a plain overwrite — a
//! plain `SET` lets a slow writer replace a higher LSN with a lower one).

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;

use crate::RywError;
use crate::floors::{ClusterId, ScopeKey};
use crate::position::Position;

/// The future a [`ScopeStore`] method returns (boxed so the trait is object safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RywError>> + Send + 'a>>;

/// Where per-scope floors live between requests.
pub trait ScopeStore: Send + Sync + 'static {
    /// The floor stored for `scope` in `cluster`, if any and not expired.
    fn get<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
    ) -> StoreFuture<'a, Option<Position>>;

    /// Raises the floor of `scope` in `cluster` to cover `position` and keeps it for at
    /// least `ttl`. Never lowers the stored floor.
    fn raise<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        position: &'a Position,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// A short name for logs and metrics (`"memory"`, `"redis"`).
    fn name(&self) -> &'static str;
}

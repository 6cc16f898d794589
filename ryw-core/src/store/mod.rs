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

mod feed;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

pub use feed::{Demand, FeedEntry, Lease, PositionFeed, Published};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;

use crate::RywError;
use crate::floors::{ClusterId, EpochHistory, ScopeKey, Settled};
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
    /// The leader epoch the floor was raised on (Postgres: the timeline); `None` where the
    /// backend has no epochs or the entry predates epochs in the store.
    pub epoch: Option<u32>,
    /// The latest unfenced write of the scope whose mark has not expired.
    pub unfenced_since: Option<SystemTime>,
    /// When the store's current life began, as far as it can tell (`None`: a store that
    /// cannot lose its data while the app runs, like the in-process one). A shared store
    /// that restarted empty, was flushed or failed over began a new life then: floors written
    /// before may be gone, and a router fences reads by the leader's position until every
    /// replica passed it (see [`RedisStore`]).
    pub life_began: Option<SystemTime>,
}

/// The epoch a raised position was captured on, and what the raiser knows of how earlier
/// epochs ended. A store merging a floor of an earlier epoch with one of a later epoch first
/// lowers the older floor to its epoch's end (what a failover kept of it), so a write the
/// failover lost does not fence the scope's later writes on the new leader forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct EpochStamp<'a> {
    /// The epoch the position was captured on.
    pub epoch: Option<u32>,
    /// The leader's epoch history as the raiser knows it.
    pub history: Option<&'a EpochHistory>,
}

impl<'a> EpochStamp<'a> {
    /// A position captured on `epoch`, with the raiser's `history`.
    #[must_use]
    pub fn new(epoch: Option<u32>, history: Option<&'a EpochHistory>) -> Self {
        Self { epoch, history }
    }
}

/// The stored floor `held` (on `held_epoch`) merged with `offered` under `stamp`: the held
/// floor lowered to its epoch's end when it is of an earlier epoch than the offered one and
/// the stamp's history knows where that epoch ended; then the position covering both, and the
/// later epoch ([`Floor`](crate::Floor)'s merge rule).
///
/// # Errors
/// [`RywError`] when the two are of different kinds.
pub(crate) fn merge_stored(
    held: &Position,
    held_epoch: Option<u32>,
    offered: &Position,
    stamp: EpochStamp<'_>,
) -> Result<(Position, Option<u32>), RywError> {
    let older = matches!((held_epoch, stamp.epoch), (Some(h), Some(o)) if h < o);
    let lowered = match stamp.history.filter(|_| older) {
        Some(history) => match history.settle(held, held_epoch) {
            Settled::Lost { kept } => kept,
            Settled::Survived | Settled::Unchanged => held.clone(),
        },
        None => held.clone(),
    };
    Ok((lowered.merge(offered)?, held_epoch.max(stamp.epoch)))
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

    /// Raises the floors of every scope in `scopes` (a write that changed them all) to cover
    /// `position`, captured on `stamp`'s epoch, and keeps them for at least `ttl`, in one
    /// round trip where the store can. Never lowers a stored floor of the same epoch; one of
    /// an earlier epoch is first settled against the stamp's history (see [`EpochStamp`]).
    /// Tries every scope and returns the first error.
    fn raise_stamped<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scopes: &'a [ScopeKey],
        position: &'a Position,
        stamp: EpochStamp<'a>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Raises the floor of `scope` in `cluster` to cover `position` (on no known epoch) and
    /// keeps it for at least `ttl`. Never lowers the stored floor.
    fn raise<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        position: &'a Position,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let scopes = std::slice::from_ref(scope);
        self.raise_stamped(cluster, scopes, position, EpochStamp::default(), ttl)
    }

    /// Raises the floors of every scope in `scopes` to cover `position` (on no known epoch).
    fn raise_many<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scopes: &'a [ScopeKey],
        position: &'a Position,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        self.raise_stamped(cluster, scopes, position, EpochStamp::default(), ttl)
    }

    /// A short name for logs and metrics (`"memory"`, `"redis"`).
    fn name(&self) -> &'static str;

    /// As [`lookup`](Self::lookup), with the feed entries of `nodes` (in that order) from the
    /// same round trip where the store can (a standalone Redis: one `MGET`); an empty list
    /// where it cannot (the default, a Redis Cluster: the entries live in other slots).
    fn lookup_fed<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        nodes: &'a [&'a str],
    ) -> StoreFuture<'a, (StoredFloor, Vec<Option<FeedEntry>>)> {
        let _ = nodes;
        Box::pin(async move { Ok((self.lookup(cluster, scope).await?, Vec::new())) })
    }

    /// The replica position feed this store carries, if it is shared between app instances
    /// (see [`PositionFeed`]); `None` (the default) for a store of one instance.
    fn feed(&self) -> Option<&dyn PositionFeed> {
        None
    }
}

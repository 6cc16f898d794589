use std::time::{Duration, Instant};

use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;

use super::{ScopeStore, StoreFuture};
use crate::RywError;
use crate::floors::{ClusterId, ScopeKey};
use crate::position::Position;

#[derive(Debug, Clone)]
struct Entry {
    position: Position,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<(ClusterId, ScopeKey), Entry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &(ClusterId, ScopeKey),
        value: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &(ClusterId, ScopeKey),
        value: &Entry,
        _updated_at: Instant,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        // A raise is a new write: keep the floor for at least its ttl from now.
        Some(remaining.map_or(value.ttl, |r| r.max(value.ttl)))
    }
}

/// An in-process scope store on a [`moka`] cache: per-entry TTL, bounded size, and an atomic
/// per-key max-merge. Right for a single app instance; several instances need a shared store
/// (Redis).
///
/// When the bound is reached the cache evicts the least useful entries: an evicted floor makes
/// a later read of that scope (from a client without a token) possibly stale, so size it for
/// the number of scopes written within one TTL.
///
/// ```
/// use std::time::Duration;
/// use ryw_core::{ClusterId, MemoryStore, ScopeKey, ScopeStore, position::{Lsn, Position}};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ryw_core::RywError> {
/// let store = MemoryStore::new(10_000);
/// let (c, s) = (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", 1));
/// let ttl = Duration::from_secs(30);
/// store.raise(&c, &s, &Lsn::new(200).into(), ttl).await?;
/// store.raise(&c, &s, &Lsn::new(100).into(), ttl).await?;
/// assert_eq!(store.get(&c, &s).await?, Some(Position::Lsn(Lsn::new(200))));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<(ClusterId, ScopeKey), Entry>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl MemoryStore {
    /// A store holding at most `max_entries` scopes.
    #[must_use]
    pub fn new(max_entries: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    /// The floor for a key, synchronously.
    #[must_use]
    pub fn get_now(&self, cluster: &ClusterId, scope: &ScopeKey) -> Option<Position> {
        self.cache
            .get(&(cluster.clone(), scope.clone()))
            .map(|e| e.position)
    }

    /// Raises a floor, synchronously (see [`ScopeStore::raise`]).
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the stored floor is of another kind; it is kept.
    pub fn raise_now(
        &self,
        cluster: &ClusterId,
        scope: &ScopeKey,
        position: &Position,
        ttl: Duration,
    ) -> Result<(), RywError> {
        let mut err = None;
        self.cache
            .entry((cluster.clone(), scope.clone()))
            .and_compute_with(|held| {
                let Some(held) = held else {
                    return Op::Put(Entry {
                        position: position.clone(),
                        ttl,
                    });
                };
                let held = held.into_value();
                match held.position.merge(position) {
                    Ok(merged) => Op::Put(Entry {
                        position: merged,
                        ttl,
                    }),
                    Err(_) => {
                        err = Some(RywError::ScopeKindMismatch {
                            scope: scope.to_string(),
                            held: held.position.kind(),
                            offered: position.kind(),
                        });
                        Op::Nop
                    }
                }
            });
        err.map_or(Ok(()), Err)
    }

    /// Number of live entries (approximate, as moka counts lazily).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Whether the store holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ScopeStore for MemoryStore {
    fn get<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
    ) -> StoreFuture<'a, Option<Position>> {
        let out = self.get_now(cluster, scope);
        Box::pin(async move { Ok(out) })
    }

    fn raise<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        position: &'a Position,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let out = self.raise_now(cluster, scope, position, ttl);
        Box::pin(async move { out })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

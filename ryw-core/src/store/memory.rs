use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;

use super::{EpochStamp, ScopeStore, StoreFuture, StoredFloor, merge_stored};
use crate::RywError;
use crate::floors::{ClusterId, ScopeKey, from_unix_ms, unix_ms};
use crate::position::Position;

#[derive(Debug, Clone)]
struct Entry {
    position: Option<Position>,
    /// The epoch `position` was raised on.
    epoch: Option<u32>,
    /// The latest unfenced write (unix ms) and until when its mark lasts.
    unfenced: Option<(u64, u64)>,
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

    #[doc(hidden)]
    /// The floor for a key, synchronously.
    #[must_use]
    pub fn get_now(&self, cluster: &ClusterId, scope: &ScopeKey) -> Option<Position> {
        self.lookup_now(cluster, scope).position
    }

    #[doc(hidden)]
    /// The floor and unfenced mark for a key, synchronously.
    #[must_use]
    pub fn lookup_now(&self, cluster: &ClusterId, scope: &ScopeKey) -> StoredFloor {
        let Some(entry) = self.cache.get(&(cluster.clone(), scope.clone())) else {
            return StoredFloor::default();
        };
        let now = unix_ms(SystemTime::now());
        StoredFloor {
            position: entry.position,
            epoch: entry.epoch,
            unfenced_since: entry
                .unfenced
                .filter(|(_, until)| *until > now)
                .map(|(at, _)| from_unix_ms(at)),
            life_began: None,
        }
    }

    #[doc(hidden)]
    /// Marks `scope` as written now without a known position, for `window` (see
    /// [`ScopeStore::mark_unfenced`]).
    pub fn mark_unfenced_now(&self, cluster: &ClusterId, scope: &ScopeKey, window: Duration) {
        let now = unix_ms(SystemTime::now());
        let until = now.saturating_add(u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
        self.cache
            .entry((cluster.clone(), scope.clone()))
            .and_compute_with(|held| {
                let (position, epoch, ttl) = held.map_or((None, None, window), |h| {
                    let h = h.into_value();
                    (h.position, h.epoch, h.ttl.max(window))
                });
                Op::Put(Entry {
                    position,
                    epoch,
                    unfenced: Some((now, until)),
                    ttl,
                })
            });
    }

    #[doc(hidden)]
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
        self.raise_stamped_now(cluster, scope, position, EpochStamp::default(), ttl)
    }

    #[doc(hidden)]
    /// Raises a floor captured on `stamp`'s epoch, synchronously (see
    /// [`ScopeStore::raise_stamped`]).
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the stored floor is of another kind; it is kept.
    pub fn raise_stamped_now(
        &self,
        cluster: &ClusterId,
        scope: &ScopeKey,
        position: &Position,
        stamp: EpochStamp<'_>,
        ttl: Duration,
    ) -> Result<(), RywError> {
        let mut err = None;
        self.cache
            .entry((cluster.clone(), scope.clone()))
            .and_compute_with(|held| {
                let held = held.map(moka::Entry::into_value);
                let (unfenced, held_pos, held_epoch) =
                    held.map_or((None, None, None), |h| (h.unfenced, h.position, h.epoch));
                let Some(held_pos) = held_pos else {
                    return Op::Put(Entry {
                        position: Some(position.clone()),
                        epoch: stamp.epoch,
                        unfenced,
                        ttl,
                    });
                };
                match merge_stored(&held_pos, held_epoch, position, stamp) {
                    Ok((merged, epoch)) => Op::Put(Entry {
                        position: Some(merged),
                        epoch,
                        unfenced,
                        ttl,
                    }),
                    Err(_) => {
                        err = Some(RywError::ScopeKindMismatch {
                            scope: scope.to_string(),
                            held: held_pos.kind(),
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
    fn lookup<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
    ) -> StoreFuture<'a, StoredFloor> {
        let out = self.lookup_now(cluster, scope);
        Box::pin(async move { Ok(out) })
    }

    fn mark_unfenced<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        window: Duration,
    ) -> StoreFuture<'a, ()> {
        self.mark_unfenced_now(cluster, scope, window);
        Box::pin(async { Ok(()) })
    }

    fn raise_stamped<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scopes: &'a [ScopeKey],
        position: &'a Position,
        stamp: EpochStamp<'a>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let mut first = None;
        for scope in scopes {
            if let Err(e) = self.raise_stamped_now(cluster, scope, position, stamp, ttl) {
                first.get_or_insert(e);
            }
        }
        Box::pin(async move { first.map_or(Ok(()), Err) })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

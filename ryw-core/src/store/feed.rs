//! A position feed: replica positions shared by every app instance through the scope store.
//!
//! Without a feed, every app instance polls every replica for its applied position: the
//! position queries a replica answers grow with the number of instances. With one, a single
//! instance at a time holds a *lease* per replica, polls it and publishes what it saw; the
//! others read the published entry from the store instead of asking the replica. Leases
//! expire when their holder dies or stalls and carry a fencing token (a number that grows
//! with every new holder), so a paused ex-holder cannot publish over its successor.
//!
//! A published position was the replica's applied position when it was observed, and a
//! replica only moves forward within an epoch: an entry is a lower bound of the replica's
//! position now, so a read routed by a stale entry can only wait longer or go to the leader,
//! never read stale.

use std::time::{Duration, SystemTime};

use super::StoreFuture;
use crate::floors::ClusterId;
use crate::position::Position;

/// One replica's position as an instance observed and published it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedEntry {
    /// The replica's applied position when observed.
    pub position: Position,
    /// The leader epoch the observer knew (Postgres: the timeline); `None` where the
    /// backend has none.
    pub epoch: Option<u32>,
    /// When it was observed (the observer's clock).
    pub observed_at: SystemTime,
    /// `false` when the observer could not reach the replica at `observed_at` (the position
    /// is then the last one it had seen): readers take the replica offline at once instead
    /// of routing reads to it until the entry ages out.
    pub online: bool,
}

impl FeedEntry {
    /// An entry of a replica that answered at `observed_at`.
    #[must_use]
    pub fn new(position: Position, epoch: Option<u32>, observed_at: SystemTime) -> Self {
        Self {
            position,
            epoch,
            observed_at,
            online: true,
        }
    }

    /// An entry of a replica its observer could not reach at `observed_at`, with the last
    /// position it had seen.
    #[must_use]
    pub fn unreachable(position: Position, epoch: Option<u32>, observed_at: SystemTime) -> Self {
        Self {
            online: false,
            ..Self::new(position, epoch, observed_at)
        }
    }

    /// How old the observation is at `now` (zero for one from a clock ahead of `now`).
    #[must_use]
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.observed_at).unwrap_or_default()
    }
}

/// A held lease on one replica's feed: its fencing token, larger for every new holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lease(pub u64);

/// How often the readers of a replica's feed want it polled, as they tell its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Demand {
    /// Nobody asked: the idle cadence.
    #[default]
    Idle,
    /// Some instance knows of commits the replica has not applied yet.
    Pending,
    /// Some instance has a read waiting for the replica.
    Waiting,
}

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The entry was stored and the lease renewed; the readers' demand came back with it.
    Stored(Demand),
    /// The lease is held by another instance now (it expired, and another took it): nothing
    /// was stored.
    Fenced,
}

/// Where instances share replica positions (see the module docs). Implemented by
/// [`RedisStore`](super::RedisStore); a store returns one from [`ScopeStore::feed`](super::ScopeStore::feed).
pub trait PositionFeed: Send + Sync {
    /// Takes the lease on `node` of `cluster` for `holder` for `ttl`, or renews it when
    /// `holder` has it; `None` while another holder has it.
    fn acquire<'a>(
        &'a self,
        cluster: &'a ClusterId,
        node: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Lease>>;

    /// Stores `entry` for `node` if `lease` is still the current one, renewing it for `ttl`,
    /// in one round trip; the entry expires after `ttl` too.
    fn publish<'a>(
        &'a self,
        cluster: &'a ClusterId,
        node: &'a str,
        lease: Lease,
        entry: &'a FeedEntry,
        ttl: Duration,
    ) -> StoreFuture<'a, Published>;

    /// The entry of `node`, if one is stored, and the readers' demand now; tells the holder
    /// `demand` (for a short while) in the same round trip.
    fn read<'a>(
        &'a self,
        cluster: &'a ClusterId,
        node: &'a str,
        demand: Demand,
    ) -> StoreFuture<'a, (Option<FeedEntry>, Demand)>;
}

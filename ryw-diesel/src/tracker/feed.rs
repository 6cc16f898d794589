//! A tracker on a shared position feed (see [`ryw_core::store::PositionFeed`]): while it
//! holds its replica's lease it polls the replica and publishes what it saw; otherwise it
//! reads the published entry instead of polling, and polls the replica itself only while no
//! entry is fresh enough (its holder died or stalls, the store is down), taking the lease
//! when it is free.
//!
//! Waiting reads are woken by a short poll of the store, not by pub/sub: the tracker of an
//! instance with a read waiting reads the entry every `busy_interval`, on the store's shared
//! multiplexed connection (pub/sub needs a connection of its own per instance, and sharded
//! channels on a cluster); the cost lands on the store, not on the replica, and lasts only
//! while a read waits.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool::managed::Pool;
use ryw_core::store::{Demand, FeedEntry, Lease, Published};
use ryw_core::{ClusterId, ScopeStore};
use tokio::time::Instant;

use super::{Tracker, TrackerConfig};
use crate::backend::{ReplicaPosition, ReplicationBackend};

/// What a tracker needs to share its replica's position: the store with the feed, the
/// cluster, this instance's holder id and the leader's current epoch.
#[derive(Clone)]
pub(crate) struct FeedLink {
    pub(crate) store: Arc<dyn ScopeStore>,
    pub(crate) cluster: ClusterId,
    /// Unique per router instance.
    pub(crate) holder: Arc<str>,
    /// The leader's epoch as the router knows it now (entries of another are not used).
    pub(crate) epoch: Arc<dyn Fn() -> Option<u32> + Send + Sync>,
}

/// One tracker's side of the feed.
pub(super) struct FeedState {
    link: FeedLink,
    lease: Option<Lease>,
    /// The readers' demand, as the last publish or check returned it.
    demand: Demand,
    /// As holder: poll at the feed's cadence until then (any instance's demand keeps the
    /// feed busy for a lease time, so a cluster with steady writes is polled at one
    /// cadence however many instances share the load).
    busy_until: Option<Instant>,
}

impl FeedState {
    pub(super) fn new(link: FeedLink) -> Self {
        Self {
            link,
            lease: None,
            demand: Demand::Idle,
            busy_until: None,
        }
    }

    /// Whether this instance holds the replica's lease.
    pub(super) fn holds(&self) -> bool {
        self.lease.is_some()
    }

    /// As holder: whether some instance (this one included) had a read waiting or a commit
    /// pending on the replica within the last lease time.
    pub(super) fn busy(&self) -> bool {
        self.busy_until.is_some_and(|t| Instant::now() < t)
    }

    /// Notes demand now (this instance's `own` or the readers'): busy for `hold`.
    fn note(&mut self, own: Demand, hold: Duration) {
        if own != Demand::Idle || self.demand != Demand::Idle {
            self.busy_until = Some(Instant::now() + hold);
        }
    }

    /// One step: the replica's position from the feed when a fresh entry is there, else
    /// from a poll of this instance (published when it holds the lease).
    pub(super) async fn step<B: ReplicationBackend>(
        &mut self,
        tracker: &Tracker,
        backend: &B,
        pool: &Pool<B::Manager>,
        config: &TrackerConfig,
        demand: Demand,
    ) -> Result<ReplicaPosition, crate::Error> {
        let node = &*tracker.name;
        let link = &self.link;
        let Some(feed) = link.store.feed() else {
            return super::poll::counted(tracker, backend, pool, config).await;
        };
        let ttl = config.feed_lease;
        if self.lease.is_none() {
            let fresh = match feed.read(&link.cluster, node, demand).await {
                Ok((Some(entry), _)) if link.trusts(&entry, ttl) => Some(entry),
                Ok(_) => {
                    // None fresh: take the lease if nobody holds it.
                    self.lease = feed
                        .acquire(&link.cluster, node, &link.holder, ttl)
                        .await
                        .ok()
                        .flatten();
                    None
                }
                Err(_) => None,
            };
            if let Some(entry) = fresh {
                ryw_core::metrics::feed_read(node, true);
                if !entry.online {
                    return Err(crate::Error::Pool {
                        node: node.to_owned(),
                        reason: "unreachable from the position feed's holder".into(),
                    });
                }
                return Ok(not_behind(tracker, entry));
            }
            if self.lease.is_none() {
                ryw_core::metrics::feed_read(node, false);
            }
        }
        let observed_at = SystemTime::now();
        let polled = super::poll::counted(tracker, backend, pool, config).await;
        let epoch = (link.epoch)();
        let entry = match &polled {
            Ok(at) => Some(FeedEntry::new(at.applied.clone(), epoch, observed_at)),
            // Unreachable: the others take it offline now, not once the entry ages out.
            Err(_) => tracker
                .status
                .borrow()
                .applied
                .clone()
                .map(|p| FeedEntry::unreachable(p, epoch, observed_at)),
        };
        if let (Some(lease), Some(entry)) = (self.lease, entry) {
            match feed.publish(&link.cluster, node, lease, &entry, ttl).await {
                Ok(Published::Stored(d)) => {
                    self.demand = d;
                    self.note(demand, ttl);
                }
                Ok(Published::Fenced) => {
                    tracing::debug!(
                        replica = node,
                        "position feed lease moved to another instance"
                    );
                    self.lease = None;
                }
                // The store is down: the lease runs out, and every instance polls itself.
                Err(_) => {}
            }
        }
        polled
    }

    /// As the holder between polls: whether some instance asks for a poll now.
    pub(super) async fn demanded(&mut self, node: &str, hold: Duration) -> bool {
        let Some(feed) = self.link.store.feed() else {
            return false;
        };
        if let Ok((_, d)) = feed.read(&self.link.cluster, node, Demand::Idle).await {
            self.demand = d;
            self.note(Demand::Idle, hold);
        }
        self.demand != Demand::Idle
    }
}

impl FeedLink {
    /// Whether `entry` can route reads: younger than `max_age` and of the leader's current
    /// epoch.
    pub(crate) fn trusts(&self, entry: &FeedEntry, max_age: Duration) -> bool {
        entry.age(SystemTime::now()) <= max_age && entry.epoch == (self.epoch)()
    }
}

/// Offers `tracker` a position the feed published (it came back with a store lookup): taken
/// when the replica is online (for both) and the position is ahead of what the tracker has.
/// Returns whether the tracker moved.
pub(crate) fn offer(tracker: &Tracker, entry: FeedEntry) -> bool {
    tracker.status.send_if_modified(|s| {
        let ahead = s.online
            && entry.online
            && s.applied
                .as_ref()
                .is_none_or(|a| !a.covers(&entry.position).unwrap_or(true));
        if ahead {
            s.applied = Some(entry.position);
        }
        ahead
    })
}

/// The entry as a position, never behind what this tracker already saw (an entry published
/// before a newer one this instance polled itself).
fn not_behind(tracker: &Tracker, entry: FeedEntry) -> ReplicaPosition {
    let status = tracker.status.borrow();
    let applied = match &status.applied {
        Some(seen) if seen.covers(&entry.position).unwrap_or(false) => seen.clone(),
        _ => entry.position,
    };
    ReplicaPosition {
        applied,
        lag_seconds: None,
    }
}

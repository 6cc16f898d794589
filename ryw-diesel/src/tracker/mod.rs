//! One background task per replica keeps the replica's applied position in a `watch` channel.
//!
//! Readers check the cached position first (no round trip when the replica is caught up).
//! Readers that must wait register as waiters and subscribe to the router's change signal
//! instead of polling: however many readers wait, each replica costs one poll stream, polled
//! at the fast cadence only while somebody waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ryw_core::Position;
use tokio::sync::{Notify, watch};

mod feed;
mod poll;

pub(crate) use feed::{FeedLink, offer};
pub(crate) use poll::{Ctx, run};

/// Cadences of the replica trackers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerConfig {
    /// Poll interval while no reader waits.
    pub(crate) idle_interval: Duration,
    /// Poll interval while at least one reader waits on this replica.
    pub(crate) busy_interval: Duration,
    /// Poll interval while the leader is known to have commits this replica has not applied
    /// (after a write, until the replica has it). Writes do not poll the replicas themselves:
    /// this is what lets a read that may not wait find a replica that caught up since the
    /// last idle poll, at a cost bounded per interval, not per write.
    pub(crate) pending_interval: Duration,
    /// First retry delay after a replica failed; doubles up to `max_backoff`.
    pub(crate) min_backoff: Duration,
    /// Longest retry delay for a failed replica.
    pub(crate) max_backoff: Duration,
    /// Deadline of one poll (connection checkout and position query together). A replica
    /// that does not answer within it — frozen, overloaded, unreachable — is marked offline
    /// at once, so new reads stop choosing it after at most this long.
    pub(crate) poll_timeout: Duration,
    /// Share replica positions through the router's scope store when it carries a feed
    /// ([`ScopeStore::feed`](ryw_core::ScopeStore::feed): a shared store such as
    /// `RedisStore`): one app instance at a time polls each replica and publishes what it
    /// saw, the others read that instead of polling. No effect with the in-process store.
    pub(crate) position_feed: bool,
    /// With a feed: the lease holder's poll interval while any instance had a read waiting
    /// on the replica or commits pending for it within the last `feed_lease` (one cadence
    /// for all demand, so the replica's load does not grow with the number of instances);
    /// `idle_interval` otherwise.
    pub(crate) feed_interval: Duration,
    /// With a feed: how long a lease lasts without renewal (its holder renews it with every
    /// publish), and the age beyond which an entry is not trusted (the instance then polls
    /// the replica itself until a holder publishes again).
    pub(crate) feed_lease: Duration,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            idle_interval: Duration::from_millis(500),
            busy_interval: Duration::from_millis(5),
            pending_interval: Duration::from_millis(20),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            poll_timeout: Duration::from_millis(500),
            position_feed: true,
            feed_interval: Duration::from_millis(10),
            feed_lease: Duration::from_secs(1),
        }
    }
}

impl TrackerConfig {
    /// Sets the idle interval.
    #[must_use]
    pub fn with_idle_interval(mut self, d: Duration) -> Self {
        self.idle_interval = d;
        self
    }

    /// Sets the deadline of one poll.
    #[must_use]
    pub fn with_poll_timeout(mut self, d: Duration) -> Self {
        self.poll_timeout = d;
        self
    }

    /// Sets the pending interval.
    #[must_use]
    pub fn with_pending_interval(mut self, d: Duration) -> Self {
        self.pending_interval = d;
        self
    }

    /// Sets the busy interval.
    #[must_use]
    pub fn with_busy_interval(mut self, d: Duration) -> Self {
        self.busy_interval = d;
        self
    }

    /// Turns the shared position feed on or off.
    #[must_use]
    pub fn with_position_feed(mut self, on: bool) -> Self {
        self.position_feed = on;
        self
    }

    /// Sets the retry delays after a replica failed: `min` first (default 100 ms), doubling
    /// up to `max` (default 5 s).
    #[must_use]
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max;
        self
    }

    /// Sets the feed holder's poll interval under demand (default 10 ms).
    #[must_use]
    pub fn with_feed_interval(mut self, d: Duration) -> Self {
        self.feed_interval = d;
        self
    }

    /// Sets the feed lease, which is also the age past which an entry is not trusted
    /// (default 1 s).
    #[must_use]
    pub fn with_feed_lease(mut self, d: Duration) -> Self {
        self.feed_lease = d;
        self
    }
}

/// What the tracker last learned about a replica.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ReplicaStatus {
    /// Whether the last poll succeeded (and the node is replicating).
    pub online: bool,
    /// The last applied position seen (kept while offline, for diagnostics).
    pub applied: Option<Position>,
    /// Seconds since the last replayed transaction's commit on the leader, where the server
    /// tells: it grows while writes pause, so it is not the replay lag (see `replay_lag` and
    /// the `ryw_replica_lag_seconds` metric).
    pub lag_seconds: Option<f64>,
    /// Bytes of log behind the leader's last known position (Postgres).
    pub lag_bytes: Option<u64>,
    /// How long the replica lately took to apply a commit: from the leader having it (as
    /// this router saw it: a capture or a leader poll) to this tracker seeing it applied.
    /// An upper bound, by up to one poll interval; `None` until a commit was seen applied.
    pub replay_lag: Option<Duration>,
    /// When the last poll finished.
    pub checked_at: Option<Instant>,
    /// The last error, while offline.
    pub error: Option<String>,
}

/// Shared state of one replica's tracker.
pub(crate) struct Tracker {
    pub(crate) name: Arc<str>,
    pub(crate) status: watch::Sender<ReplicaStatus>,
    pub(super) waiters: AtomicUsize,
    pub(super) wake: Notify,
    pub(crate) queries: AtomicU64,
    /// Reads this router is running on the replica now (its load, as this router sees it).
    pub(crate) reads: AtomicUsize,
}

/// Registration of a waiting reader; unregisters on drop.
pub(crate) struct WaiterGuard<'a>(&'a Tracker);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A read running on the replica; uncounted on drop.
pub(crate) struct ReadGuard<'a>(&'a Tracker);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.0.reads.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Tracker {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            status: watch::Sender::new(ReplicaStatus::default()),
            waiters: AtomicUsize::new(0),
            wake: Notify::new(),
            queries: AtomicU64::new(0),
            reads: AtomicUsize::new(0),
        }
    }

    /// Counts a read running on this replica until the guard drops.
    pub(crate) fn read_guard(&self) -> ReadGuard<'_> {
        self.reads.fetch_add(1, Ordering::AcqRel);
        ReadGuard(self)
    }

    /// Reads running on this replica now.
    pub(crate) fn reads_in_flight(&self) -> usize {
        self.reads.load(Ordering::Acquire)
    }

    /// Registers a waiter and makes the tracker poll now.
    pub(crate) fn wait_guard(&self) -> WaiterGuard<'_> {
        if self.waiters.fetch_add(1, Ordering::AcqRel) == 0 {
            self.wake.notify_one();
        }
        WaiterGuard(self)
    }

    /// Asks for a poll now (after a failed checkout or an abandoned read on the replica).
    pub(crate) fn poke(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn snapshot(&self) -> ReplicaStatus {
        self.status.borrow().clone()
    }
}

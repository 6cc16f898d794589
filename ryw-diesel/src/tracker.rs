//! One background task per replica keeps the replica's applied position in a `watch` channel.
//!
//! Readers check the cached position first (no round trip when the replica is caught up).
//! Readers that must wait register as waiters and subscribe to the router's change signal
//! instead of polling: however many readers wait, each replica costs one poll stream, polled
//! at the fast cadence only while somebody waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool::managed::Pool;
use ryw_core::Position;
use tokio::sync::{Notify, watch};

use crate::backend::ReplicationBackend;

/// Cadences of the replica trackers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerConfig {
    /// Poll interval while no reader waits.
    pub idle_interval: Duration,
    /// Poll interval while at least one reader waits on this replica.
    pub busy_interval: Duration,
    /// First retry delay after a replica failed; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay for a failed replica.
    pub max_backoff: Duration,
    /// Deadline of one poll (connection checkout and position query together). A replica
    /// that does not answer within it — frozen, overloaded, unreachable — is marked offline
    /// at once, so new reads stop choosing it after at most this long.
    pub poll_timeout: Duration,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            idle_interval: Duration::from_millis(500),
            busy_interval: Duration::from_millis(5),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            poll_timeout: Duration::from_millis(500),
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

    /// Sets the busy interval.
    #[must_use]
    pub fn with_busy_interval(mut self, d: Duration) -> Self {
        self.busy_interval = d;
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
    /// Seconds behind, where the server tells.
    pub lag_seconds: Option<f64>,
    /// Bytes of log behind the leader's last known position (Postgres).
    pub lag_bytes: Option<u64>,
    /// When the last poll finished.
    pub checked_at: Option<Instant>,
    /// The last error, while offline.
    pub error: Option<String>,
}

/// Shared state of one replica's tracker.
pub(crate) struct Tracker {
    pub(crate) name: Arc<str>,
    pub(crate) status: watch::Sender<ReplicaStatus>,
    waiters: AtomicUsize,
    wake: Notify,
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

    /// Asks for a poll now (e.g. after a write, so the next fenced read finds a fresh cache).
    pub(crate) fn poke(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn snapshot(&self) -> ReplicaStatus {
        self.status.borrow().clone()
    }
}

/// One poll within `timeout`. A connection whose query overran is dropped, not returned to
/// the pool (its server may still answer the abandoned query later).
async fn poll<B: ReplicationBackend>(
    name: &Arc<str>,
    backend: &B,
    pool: &Pool<B::Manager>,
    timeout: Duration,
) -> Result<crate::backend::ReplicaPosition, crate::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let overran = |what| crate::Error::Deadline {
        node: name.to_string(),
        what,
        after: timeout,
    };
    let mut conn = match tokio::time::timeout_at(deadline, pool.get()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Err(crate::Error::Pool {
                node: name.to_string(),
                reason: e.to_string(),
            });
        }
        Err(_) => return Err(overran("connection checkout for a position poll")),
    };
    match tokio::time::timeout_at(deadline, backend.replica_position(&mut conn, name)).await {
        Ok(r) => r,
        Err(_) => {
            let _ = deadpool::managed::Object::take(conn);
            Err(overran("position poll"))
        }
    }
}

/// The loop of one tracker task; ends when `shutdown` flips or the router is dropped.
pub(crate) async fn run<B: ReplicationBackend>(
    tracker: Arc<Tracker>,
    backend: B,
    pool: Pool<B::Manager>,
    config: TrackerConfig,
    leader_hint: watch::Receiver<Option<Position>>,
    changed: Arc<watch::Sender<u64>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = config.min_backoff;
    loop {
        if *shutdown.borrow() {
            return;
        }
        tracker.queries.fetch_add(1, Ordering::Relaxed);
        ryw_core::metrics::position_query(&tracker.name);
        let polled = poll(&tracker.name, &backend, &pool, config.poll_timeout).await;
        let delay = match polled {
            Ok(at) => {
                backoff = config.min_backoff;
                let lag_bytes = match (&*leader_hint.borrow(), &at.applied) {
                    (Some(Position::Lsn(l)), Position::Lsn(a)) => Some(l.bytes_since(*a)),
                    _ => None,
                };
                ryw_core::metrics::replica_lag(&tracker.name, lag_bytes, at.lag_seconds);
                ryw_core::metrics::replica_online(&tracker.name, true);
                let moved = tracker.status.send_if_modified(|s| {
                    let moved = !s.online || s.applied.as_ref() != Some(&at.applied);
                    *s = ReplicaStatus {
                        online: true,
                        applied: Some(at.applied),
                        lag_seconds: at.lag_seconds,
                        lag_bytes,
                        checked_at: Some(Instant::now()),
                        error: None,
                    };
                    moved
                });
                if moved {
                    changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                if tracker.waiters.load(Ordering::Acquire) > 0 {
                    config.busy_interval
                } else {
                    config.idle_interval
                }
            }
            Err(e) => {
                let was_online = tracker.status.borrow().online;
                if was_online {
                    tracing::warn!(replica = %tracker.name, error = %e, "replica offline");
                }
                ryw_core::metrics::replica_online(&tracker.name, false);
                tracker.status.send_modify(|s| {
                    s.online = false;
                    s.checked_at = Some(Instant::now());
                    s.error = Some(e.to_string());
                });
                if was_online {
                    changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                let d = backoff;
                backoff = (backoff * 2).min(config.max_backoff);
                d
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = tracker.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

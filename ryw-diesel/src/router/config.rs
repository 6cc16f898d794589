//! Router configuration.

use std::time::Duration;

use ryw_core::ReadPolicy;

use crate::tracker::TrackerConfig;

/// Configuration of a [`Router`](super::Router).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RouterConfig {
    /// The default read policy.
    pub policy: ReadPolicy,
    /// How long a scope's floor stays in the scope store after a write. Set it above the
    /// worst replication lag you expect to ride out.
    pub store_ttl: Duration,
    /// Tracker cadences.
    pub tracker: TrackerConfig,
    /// How long a write whose capture failed after COMMIT keeps trying to learn the leader's
    /// position on fresh connections before it returns without one.
    pub capture_retry: Duration,
    /// How long a read waits for a replica connection before it goes elsewhere (the leader,
    /// under the policy's fallback). Short: a healthy pool hands one out in microseconds.
    pub replica_checkout_timeout: Duration,
    /// The longest a read may run on a replica. Past it the read is abandoned with
    /// [`Error::Deadline`](crate::Error::Deadline) (retryable) instead of hanging on a frozen replica.
    pub replica_read_timeout: Duration,
    /// Reads that need no particular position skip replicas whose oldest missing commit is
    /// older than this (unless no replica is left). Default 5 s: an order of magnitude past
    /// ordinary lag (100–500 ms), so it only excludes a replica that is stuck or far behind,
    /// yet short enough that nobody is shown data older than a page view.
    pub max_replica_lag: Duration,
    /// The same bound in log bytes (Postgres). Default 16 MiB: a replica replaying normally
    /// clears that in well under a second; one that far behind is catching up from an outage.
    pub max_replica_lag_bytes: u64,
    /// Concurrent reads the leader serves on behalf of replicas (fallbacks); past it the
    /// read's [`LeaderBusy`](ryw_core::LeaderBusy) choice applies. `None`: half the leader
    /// pool, so writes always find connections however far the replicas fall behind.
    pub leader_fallback_limit: Option<usize>,
    /// Fallback reads the leader starts in any one-second window (a sliding window), past
    /// which reads wait as they do for a slot. `None` (the default): no rate bound — the
    /// concurrent bound already caps the leader's fallback load at what that many
    /// connections serve, and it follows the leader's speed, where a rate would have to
    /// guess the hardware. Set it when the leader is sized for writes and its read load
    /// must stay under a known figure.
    pub leader_fallback_rate: Option<u32>,
    /// How long a read queues for a leader slot (or a replica reaching its floor) under
    /// [`LeaderBusy::Queue`](ryw_core::LeaderBusy::Queue) before it fails with
    /// [`Error::LeaderBusy`](crate::Error::LeaderBusy).
    pub leader_queue_timeout: Duration,
    /// Self-verification: one in this many reads is sampled, and a sampled read that was
    /// fenced and served by a replica is checked against the leader afterwards (see
    /// [`Router::read_verified`](super::Router::read_verified)); 0 turns it off (the
    /// default). A check is one statement on the replica (and, for `read_verified`, the read
    /// again on the leader).
    pub verify_one_in: u32,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            policy: ReadPolicy::default(),
            store_ttl: Duration::from_secs(60),
            tracker: TrackerConfig::default(),
            capture_retry: Duration::from_secs(3),
            replica_checkout_timeout: Duration::from_millis(500),
            replica_read_timeout: Duration::from_secs(5),
            max_replica_lag: Duration::from_secs(5),
            max_replica_lag_bytes: 16 << 20,
            leader_fallback_limit: None,
            leader_fallback_rate: None,
            leader_queue_timeout: Duration::from_secs(2),
            verify_one_in: 0,
        }
    }
}

impl RouterConfig {
    /// Sets the default read policy.
    #[must_use]
    pub fn with_policy(mut self, policy: ReadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the scope store TTL.
    #[must_use]
    pub fn with_store_ttl(mut self, ttl: Duration) -> Self {
        self.store_ttl = ttl;
        self
    }

    /// Sets the tracker cadences.
    #[must_use]
    pub fn with_tracker(mut self, tracker: TrackerConfig) -> Self {
        self.tracker = tracker;
        self
    }

    /// Sets the replica checkout and whole-read deadlines.
    #[must_use]
    pub fn with_replica_deadlines(mut self, checkout: Duration, read: Duration) -> Self {
        self.replica_checkout_timeout = checkout;
        self.replica_read_timeout = read;
        self
    }

    /// Sets the lag bounds for reads that need no particular position.
    #[must_use]
    pub fn with_max_replica_lag(mut self, time: Duration, bytes: u64) -> Self {
        self.max_replica_lag = time;
        self.max_replica_lag_bytes = bytes;
        self
    }

    /// Sets the bound on concurrent fallback reads on the leader and how long a read queues
    /// for one.
    #[must_use]
    pub fn with_leader_fallback_limit(mut self, limit: usize, queue: Duration) -> Self {
        self.leader_fallback_limit = Some(limit);
        self.leader_queue_timeout = queue;
        self
    }

    /// Bounds the fallback reads the leader starts per second (a sliding one-second window).
    #[must_use]
    pub fn with_leader_fallback_rate(mut self, per_second: u32) -> Self {
        self.leader_fallback_rate = Some(per_second);
        self
    }

    /// Checks one in `n` fenced replica reads against the leader (0: off).
    #[must_use]
    pub fn with_verification(mut self, n: u32) -> Self {
        self.verify_one_in = n;
        self
    }

    /// Sets how long a failed capture is retried on fresh leader connections.
    #[must_use]
    pub fn with_capture_retry(mut self, retry: Duration) -> Self {
        self.capture_retry = retry;
        self
    }
}

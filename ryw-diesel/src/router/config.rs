//! Router configuration.

use std::time::Duration;

use ryw_core::ReadPolicy;

use crate::tracker::TrackerConfig;

/// Configuration of a [`Router`](super::Router): start from `RouterConfig::default()` and
/// change what differs with the `with_*` methods, each of which documents its setting and
/// default.
///
/// ```
/// use std::time::Duration;
/// use ryw_core::ReadPolicy;
/// use ryw_diesel::RouterConfig;
///
/// let config = RouterConfig::default()
///     .with_policy(ReadPolicy::default().with_wait_budget(Duration::from_millis(200)))
///     .with_store_ttl(Duration::from_secs(120));
/// assert_eq!(config.policy().wait_budget(), Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RouterConfig {
    /// The default read policy.
    pub(crate) policy: ReadPolicy,
    /// How long a scope's floor stays in the scope store after a write. Set it above the
    /// worst replication lag you expect to ride out.
    pub(crate) store_ttl: Duration,
    /// Tracker cadences.
    pub(crate) tracker: TrackerConfig,
    /// How long a write whose capture failed after COMMIT keeps trying to learn the leader's
    /// position on fresh connections before it returns without one.
    pub(crate) capture_retry: Duration,
    /// How long a read waits for a replica connection before it goes elsewhere (the leader,
    /// under the policy's fallback). Short: a healthy pool hands one out in microseconds.
    pub(crate) replica_checkout_timeout: Duration,
    /// The longest a read may run on a replica. Past it the read is abandoned with
    /// [`Error::Deadline`](crate::Error::Deadline) (retryable) instead of hanging on a frozen replica.
    pub(crate) replica_read_timeout: Duration,
    /// Reads that need no particular position skip replicas whose oldest missing commit is
    /// older than this (unless no replica is left). Default 5 s: an order of magnitude past
    /// ordinary lag (100–500 ms), so it only excludes a replica that is stuck or far behind,
    /// yet short enough that nobody is shown data older than a page view.
    pub(crate) max_replica_lag: Duration,
    /// The same bound in log bytes (Postgres). Default 16 MiB: a replica replaying normally
    /// clears that in well under a second; one that far behind is catching up from an outage.
    pub(crate) max_replica_lag_bytes: u64,
    /// Concurrent reads the leader serves on behalf of replicas (fallbacks); past it the
    /// read's [`LeaderBusy`](ryw_core::LeaderBusy) choice applies. `None`: half the leader
    /// pool, so writes always find connections however far the replicas fall behind.
    pub(crate) leader_fallback_limit: Option<usize>,
    /// Fallback reads the leader starts in any one-second window (a sliding window), past
    /// which reads wait as they do for a slot. `None` (the default): no rate bound — the
    /// concurrent bound already caps the leader's fallback load at what that many
    /// connections serve, and it follows the leader's speed, where a rate would have to
    /// guess the hardware. Set it when the leader is sized for writes and its read load
    /// must stay under a known figure.
    pub(crate) leader_fallback_rate: Option<u32>,
    /// How long a read queues for a leader slot (or a replica reaching its floor) under
    /// [`LeaderBusy::Queue`](ryw_core::LeaderBusy::Queue) before it fails with
    /// [`Error::LeaderBusy`](crate::Error::LeaderBusy).
    pub(crate) leader_queue_timeout: Duration,
    /// Self-verification: one in this many reads is sampled, and a sampled read that was
    /// fenced and served by a replica is checked against the leader afterwards (see
    /// [`Router::read_verified`](super::Router::read_verified)); 0 turns it off (the
    /// default). A check is one statement on the replica (and, for `read_verified`, the read
    /// again on the leader).
    pub(crate) verify_one_in: u32,
    /// How long a write whose position could not be captured keeps fencing its scope's reads.
    pub(crate) unfenced_window: Duration,
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
            unfenced_window: Self::DEFAULT_UNFENCED_WINDOW,
        }
    }
}

impl RouterConfig {
    /// Default of [`with_unfenced_window`](Self::with_unfenced_window): one minute, far past
    /// the lag of a healthy replica.
    pub const DEFAULT_UNFENCED_WINDOW: Duration = Duration::from_secs(60);

    /// The default read policy: what a read without a policy of its own does.
    #[must_use]
    pub fn policy(&self) -> &ReadPolicy {
        &self.policy
    }

    /// Sets the default read policy (default: [`ReadPolicy::default`]); a read can still
    /// pass its own with [`Router::read_with`](super::Router::read_with).
    #[must_use]
    pub fn with_policy(mut self, policy: ReadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long a scope's floor stays in the scope store after a write (default 60 s). Set it
    /// above the worst replication lag you expect to ride out.
    #[must_use]
    pub fn with_store_ttl(mut self, ttl: Duration) -> Self {
        self.store_ttl = ttl;
        self
    }

    /// Sets the replica trackers' cadences and the position feed ([`TrackerConfig`]).
    #[must_use]
    pub fn with_tracker(mut self, tracker: TrackerConfig) -> Self {
        self.tracker = tracker;
        self
    }

    /// Replica deadlines. `checkout` (default 500 ms): how long a read waits for a replica
    /// connection before it goes elsewhere (the leader, under the policy's fallback) — short,
    /// a healthy pool hands one out in microseconds. `read` (default 5 s): the longest a read
    /// may run on a replica; past it the read is abandoned with
    /// [`Error::Deadline`](crate::Error::Deadline) (retryable) instead of hanging on a
    /// frozen replica.
    #[must_use]
    pub fn with_replica_deadlines(mut self, checkout: Duration, read: Duration) -> Self {
        self.replica_checkout_timeout = checkout;
        self.replica_read_timeout = read;
        self
    }

    /// Lag bounds for reads that need no particular position: they skip replicas whose
    /// oldest missing commit is older than `time` or that are `bytes` of log behind
    /// (Postgres), unless no replica is left. Defaults 5 s and 16 MiB: an order of magnitude
    /// past ordinary lag, so only a stuck replica or one catching up from an outage is
    /// excluded, yet short enough that nobody is shown data older than a page view.
    #[must_use]
    pub fn with_max_replica_lag(mut self, time: Duration, bytes: u64) -> Self {
        self.max_replica_lag = time;
        self.max_replica_lag_bytes = bytes;
        self
    }

    /// The leader's fallback budget: at most `limit` reads at once on the leader on behalf of
    /// replicas (default: half the leader pool, so writes always find connections however
    /// far the replicas fall behind); past it the read's [`LeaderBusy`](ryw_core::LeaderBusy)
    /// choice applies, and under [`LeaderBusy::Queue`](ryw_core::LeaderBusy::Queue) a read
    /// queues up to `queue` (default 2 s) for a slot or a replica reaching its floor before
    /// it fails with [`Error::LeaderBusy`](crate::Error::LeaderBusy).
    #[must_use]
    pub fn with_leader_fallback_limit(mut self, limit: usize, queue: Duration) -> Self {
        self.leader_fallback_limit = Some(limit);
        self.leader_queue_timeout = queue;
        self
    }

    /// Bounds the fallback reads the leader starts in any one-second window (sliding), past
    /// which reads wait as they do for a slot. Default: no rate bound — the concurrent bound
    /// already caps the leader's fallback load at what that many connections serve, and
    /// follows the leader's speed where a rate would have to guess the hardware. Set it when
    /// the leader is sized for writes and its read load must stay under a known figure.
    #[must_use]
    pub fn with_leader_fallback_rate(mut self, per_second: u32) -> Self {
        self.leader_fallback_rate = Some(per_second);
        self
    }

    /// Self-verification: one in `n` reads is sampled, and a sampled read that was fenced and
    /// served by a replica is checked against the leader afterwards (see
    /// [`Router::read_verified`](super::Router::read_verified)); 0 turns it off (the
    /// default). A check is one statement on the replica (and, for `read_verified`, the read
    /// again on the leader).
    #[must_use]
    pub fn with_verification(mut self, n: u32) -> Self {
        self.verify_one_in = n;
        self
    }

    /// How long a write whose capture failed after COMMIT keeps trying to learn the leader's
    /// position on fresh connections before it returns without one (default 3 s).
    #[must_use]
    pub fn with_capture_retry(mut self, retry: Duration) -> Self {
        self.capture_retry = retry;
        self
    }

    /// How long a write whose position could not be captured (the leader went away between
    /// COMMIT and the capture) keeps fencing its scope's reads (default
    /// [`DEFAULT_UNFENCED_WINDOW`](Self::DEFAULT_UNFENCED_WINDOW)). Within the window such a
    /// read is fenced by the leader's position at read time — which covers the write — or
    /// served by the leader when that position cannot be read. The mark travels in the token
    /// and the scope store, so the next request sees it too. Zero turns this off (the write
    /// is then read around, as plain replica reads would).
    #[must_use]
    pub fn with_unfenced_window(mut self, window: Duration) -> Self {
        self.unfenced_window = window;
        self
    }
}

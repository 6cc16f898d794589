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

    /// Sets how long a failed capture is retried on fresh leader connections.
    #[must_use]
    pub fn with_capture_retry(mut self, retry: Duration) -> Self {
        self.capture_retry = retry;
        self
    }
}

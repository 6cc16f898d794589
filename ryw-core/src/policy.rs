//! Read policies: how long a fenced read may wait for a replica, and what happens after.

use std::time::Duration;

/// What a fenced read does when no replica has reached its floor within the wait budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fallback {
    /// Read from the leader (always fresh, costs leader capacity). The default.
    #[default]
    Leader,
    /// Fail the read with a typed error naming the scope and the position.
    Error,
    /// Read from the freshest replica anyway and flag the result as stale.
    Stale,
}

/// How reads are routed.
///
/// ```
/// use std::time::Duration;
/// use ryw_core::{Fallback, ReadPolicy};
/// let policy = ReadPolicy::default()
///     .with_wait_budget(Duration::from_millis(250))
///     .with_fallback(Fallback::Error);
/// assert_eq!(policy.wait_budget, Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadPolicy {
    /// How long a fenced read waits for some replica to reach its floor before the fallback.
    /// Zero means "never wait".
    pub wait_budget: Duration,
    /// What to do when the budget runs out.
    pub fallback: Fallback,
    /// Time-window stickiness (the Rails/Makara/GitLab-seed behaviour) for reads whose scope
    /// has **no known position** but was written within this window (a write whose position
    /// could not be captured, or a session whose token was foreign): such reads go to the
    /// leader. `None` disables it. Reads with a known floor always use the fence instead.
    pub sticky_window: Option<Duration>,
}

impl ReadPolicy {
    /// Default wait budget: long enough to ride out ordinary lag, short enough for a web request.
    pub const DEFAULT_WAIT_BUDGET: Duration = Duration::from_millis(1000);

    /// A policy that never waits and always falls back to the leader.
    #[must_use]
    pub const fn leader_fallback_immediately() -> Self {
        Self {
            wait_budget: Duration::ZERO,
            fallback: Fallback::Leader,
            sticky_window: None,
        }
    }

    /// Sets the wait budget.
    #[must_use]
    pub const fn with_wait_budget(mut self, budget: Duration) -> Self {
        self.wait_budget = budget;
        self
    }

    /// Sets the fallback.
    #[must_use]
    pub const fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Sets the sticky window for reads with no known position.
    #[must_use]
    pub const fn with_sticky_window(mut self, window: Option<Duration>) -> Self {
        self.sticky_window = window;
        self
    }
}

impl Default for ReadPolicy {
    fn default() -> Self {
        Self {
            wait_budget: Self::DEFAULT_WAIT_BUDGET,
            fallback: Fallback::Leader,
            sticky_window: None,
        }
    }
}

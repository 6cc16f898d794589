//! Read policies: how long a fenced read may wait for a replica, and what happens after.

use std::time::Duration;

/// `name` and `from_name` for an enum whose `ALL` lists every value by name.
macro_rules! named {
    ($t:ident, $what:literal) => {
        impl $t {
            #[doc = concat!("The ", $what, "'s name (see [`ALL`](Self::ALL)).")]
            #[must_use]
            pub fn name(self) -> &'static str {
                name_in(&Self::ALL, self)
            }

            #[doc = concat!("The ", $what, " called `name`, if any.")]
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                by_name(&Self::ALL, name)
            }
        }
    };
}

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

impl Fallback {
    /// Every fallback by the name that `#[read(fallback = "…")]`, configuration files and
    /// logs use: the one list of these names.
    ///
    /// ```
    /// use ryw_core::Fallback;
    /// assert_eq!(Fallback::Stale.name(), "stale");
    /// assert_eq!(Fallback::from_name("stale"), Some(Fallback::Stale));
    /// ```
    pub const ALL: [(&'static str, Fallback); 3] = [
        ("leader", Fallback::Leader),
        ("error", Fallback::Error),
        ("stale", Fallback::Stale),
    ];
}

named!(Fallback, "fallback");

/// What a read that would go to the leader does when the leader already serves as many
/// fallback reads as the router allows (`RouterConfig::leader_fallback_limit`): the leader's
/// capacity is for writes first, and a lagging fleet must not turn every read into a leader
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LeaderBusy {
    /// Wait (bounded by the router's `leader_queue_timeout`) for a leader slot or for a
    /// replica that reaches the floor, whichever comes first; then fail with a typed error.
    /// The default: correct, and it sheds load only when the queue itself overruns.
    #[default]
    Queue,
    /// Fail at once with a typed, retryable error (an HTTP 503 for the caller).
    Error,
    /// Read from the freshest online replica and flag the result as stale.
    Stale,
}

impl LeaderBusy {
    /// Every choice by name: the one list of these names.
    pub const ALL: [(&'static str, LeaderBusy); 3] = [
        ("queue", LeaderBusy::Queue),
        ("error", LeaderBusy::Error),
        ("stale", LeaderBusy::Stale),
    ];
}

named!(LeaderBusy, "choice");

/// Where a fenced read goes when no replica has reached its floor yet and the leader has
/// room in its fallback budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Prefer {
    /// Latency first, the default: the leader at once, unless some replica is expected to
    /// reach the floor within a hedge of a few leader round trips (three measured round
    /// trips, between 1 and 25 ms). A read right after a write then costs one leader round
    /// trip instead of the replication lag. The leader's fallback budget bounds it
    /// (`RouterConfig::leader_fallback_limit`, `leader_fallback_rate`): a read past the
    /// budget waits for whichever comes first, a replica past the floor or a leader slot,
    /// within its wait budget. Needs `Fallback::Leader`; with another fallback a read
    /// prefers the replica.
    #[default]
    Latency,
    /// Replica first: wait for a replica while the wait is expected to pay off within the
    /// budget, the leader only as the fallback. For deployments that must offload the
    /// leader at any latency.
    Replica,
}

impl Prefer {
    /// Every preference by the name that `#[read(prefer = "…")]` and configuration use.
    pub const ALL: [(&'static str, Prefer); 2] =
        [("latency", Prefer::Latency), ("replica", Prefer::Replica)];
}

named!(Prefer, "preference");

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
    /// How long a write whose position could not be captured (the leader went away between
    /// COMMIT and the capture) keeps fencing its scope's reads. Within the window such a read
    /// is fenced by the leader's position at read time — which covers the write — or served by
    /// the leader when that position cannot be read. The mark travels in the token and the
    /// scope store, so the next request sees it too. Zero turns this off (the write is then
    /// read around, as plain replica reads would).
    pub unfenced_window: Duration,
    /// What a read bound for the leader does when the leader's fallback slots are taken.
    pub when_leader_busy: LeaderBusy,
    /// Monotonic reads: once the session has read a state, it never reads an older one. Each
    /// read served under this policy raises the session-wide floor (in the context, so in the
    /// token) to the position of the node that served it, read right after the read on the
    /// same connection — one statement more per read. Off by default.
    pub monotonic: bool,
    /// Whether a fenced read behind every replica prefers waiting for one or the leader.
    pub prefer: Prefer,
}

impl ReadPolicy {
    /// Default wait budget: long enough to ride out ordinary lag, short enough for a web request.
    pub const DEFAULT_WAIT_BUDGET: Duration = Duration::from_millis(1000);
    /// Default [`unfenced_window`](Self::unfenced_window): one minute, far past the lag of a
    /// healthy replica.
    pub const DEFAULT_UNFENCED_WINDOW: Duration = Duration::from_secs(60);

    /// A policy that never waits and always falls back to the leader.
    #[must_use]
    pub const fn leader_fallback_immediately() -> Self {
        Self {
            wait_budget: Duration::ZERO,
            fallback: Fallback::Leader,
            unfenced_window: Self::DEFAULT_UNFENCED_WINDOW,
            when_leader_busy: LeaderBusy::Queue,
            monotonic: false,
            prefer: Prefer::Replica,
        }
    }

    /// Sets whether a fenced read behind every replica prefers a replica or the faster path.
    #[must_use]
    pub const fn with_prefer(mut self, prefer: Prefer) -> Self {
        self.prefer = prefer;
        self
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

    /// Turns monotonic reads on or off (see [`monotonic`](Self::monotonic)).
    #[must_use]
    pub const fn with_monotonic(mut self, on: bool) -> Self {
        self.monotonic = on;
        self
    }

    /// Sets what a read bound for a busy leader does.
    #[must_use]
    pub const fn when_leader_busy(mut self, busy: LeaderBusy) -> Self {
        self.when_leader_busy = busy;
        self
    }

    /// Sets how long an unfenced write keeps fencing its scope's reads.
    #[must_use]
    pub const fn with_unfenced_window(mut self, window: Duration) -> Self {
        self.unfenced_window = window;
        self
    }
}

impl Default for ReadPolicy {
    fn default() -> Self {
        Self {
            wait_budget: Self::DEFAULT_WAIT_BUDGET,
            fallback: Fallback::Leader,
            unfenced_window: Self::DEFAULT_UNFENCED_WINDOW,
            when_leader_busy: LeaderBusy::Queue,
            monotonic: false,
            prefer: Prefer::Latency,
        }
    }
}

/// The name of `value` among `all` (names are unique; every value is listed).
fn name_in<T: PartialEq>(all: &[(&'static str, T)], value: T) -> &'static str {
    all.iter()
        .find(|(_, v)| *v == value)
        .map_or("", |(n, _)| *n)
}

/// The value called `name` among `all`, if any.
fn by_name<T: Copy>(all: &[(&'static str, T)], name: &str) -> Option<T> {
    all.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

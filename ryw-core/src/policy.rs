//! Read policies: how long a fenced read may wait for a replica, and what happens after.

use std::time::Duration;

/// `name` and `from_name` for an enum whose `ALL` lists every value by name.
macro_rules! named {
    ($t:ident, $what:literal) => {
        impl $t {
            #[doc = concat!("The ", $what, "'s name (see [`ALL`](Self::ALL)).")]
            #[must_use]
            #[doc(hidden)]
            pub fn name(self) -> &'static str {
                name_in(&Self::ALL, self)
            }

            #[doc = concat!("The ", $what, " called `name`, if any.")]
            #[must_use]
            #[doc(hidden)]
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
    #[doc(hidden)]
    pub const ALL: [(&'static str, Fallback); 3] = [
        ("leader", Fallback::Leader),
        ("error", Fallback::Error),
        ("stale", Fallback::Stale),
    ];
}

named!(Fallback, "fallback");

/// What a read that would go to the leader does when the leader already serves as many
/// fallback reads as the router allows (`RouterConfig::with_leader_fallback_limit`): the leader's
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
    #[doc(hidden)]
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
    /// (`RouterConfig::with_leader_fallback_limit`, `leader_fallback_rate`): a read past the
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
    #[doc(hidden)]
    pub const ALL: [(&'static str, Prefer); 2] =
        [("latency", Prefer::Latency), ("replica", Prefer::Replica)];
}

named!(Prefer, "preference");

/// How a read is routed: one value per read (a router's default, a named policy, or one
/// passed to [`read_with`](https://docs.rs/ryw/latest/ryw/struct.Router.html#method.read_with)).
/// Start from `ReadPolicy::default()` (latency first, 1 s budget, leader fallback) and change
/// what differs with the `with_*` methods.
///
/// ```
/// use std::time::Duration;
/// use ryw_core::{Fallback, ReadPolicy};
/// let policy = ReadPolicy::default()
///     .with_wait_budget(Duration::from_millis(250))
///     .with_fallback(Fallback::Error);
/// assert_eq!(policy.wait_budget(), Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPolicy {
    wait_budget: Duration,
    fallback: Fallback,
    leader_busy: LeaderBusy,
    monotonic: bool,
    prefer: Prefer,
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
            leader_busy: LeaderBusy::Queue,
            monotonic: false,
            prefer: Prefer::Replica,
        }
    }

    /// Whether a fenced read behind every replica goes to the leader at once
    /// ([`Prefer::Latency`], the default) or waits for a replica ([`Prefer::Replica`]).
    #[must_use]
    pub const fn with_prefer(mut self, prefer: Prefer) -> Self {
        self.prefer = prefer;
        self
    }

    /// How long a fenced read waits for some replica to reach its floor before the fallback
    /// (default [`DEFAULT_WAIT_BUDGET`](Self::DEFAULT_WAIT_BUDGET)). Zero: never wait.
    #[must_use]
    pub const fn with_wait_budget(mut self, budget: Duration) -> Self {
        self.wait_budget = budget;
        self
    }

    /// What a fenced read does when the budget runs out (default [`Fallback::Leader`]).
    #[must_use]
    pub const fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Monotonic reads (default off): once the session has read a state, it never reads an
    /// older one. Each read served under this policy raises the session-wide floor (in the
    /// context, so in the token) to the position of the node that served it, read right after
    /// the read on the same connection — one statement more per read.
    #[must_use]
    pub const fn with_monotonic(mut self, on: bool) -> Self {
        self.monotonic = on;
        self
    }

    /// What a read bound for the leader does when the leader's fallback slots are taken
    /// (default [`LeaderBusy::Queue`]).
    #[must_use]
    pub const fn with_leader_busy(mut self, busy: LeaderBusy) -> Self {
        self.leader_busy = busy;
        self
    }

    /// The wait budget ([`with_wait_budget`](Self::with_wait_budget)).
    #[must_use]
    pub const fn wait_budget(&self) -> Duration {
        self.wait_budget
    }

    /// The fallback ([`with_fallback`](Self::with_fallback)).
    #[must_use]
    pub const fn fallback(&self) -> Fallback {
        self.fallback
    }

    /// What a read does at a busy leader ([`with_leader_busy`](Self::with_leader_busy)).
    #[must_use]
    pub const fn leader_busy(&self) -> LeaderBusy {
        self.leader_busy
    }

    /// Whether reads are monotonic ([`with_monotonic`](Self::with_monotonic)).
    #[must_use]
    pub const fn monotonic(&self) -> bool {
        self.monotonic
    }

    /// The preference ([`with_prefer`](Self::with_prefer)).
    #[must_use]
    pub const fn prefer(&self) -> Prefer {
        self.prefer
    }
}

impl Default for ReadPolicy {
    fn default() -> Self {
        Self {
            wait_budget: Self::DEFAULT_WAIT_BUDGET,
            fallback: Fallback::Leader,
            leader_busy: LeaderBusy::Queue,
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

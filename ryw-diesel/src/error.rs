//! The one error type of `ryw-diesel`.

use std::time::Duration;

use ryw_core::{Position, RywError};

/// Everything the router, the pools and the backends can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection could not be taken from a node's pool (node down, pool exhausted).
    #[error("no connection to {node}: {reason}")]
    Pool {
        /// `leader` or the replica's name.
        node: String,
        /// The pool's error.
        reason: String,
    },
    /// A statement ryw sends (capture, position probe, wait) failed.
    #[error("{what} on {node} failed: {source}")]
    Query {
        /// What ryw was doing.
        what: &'static str,
        /// `leader` or the replica's name.
        node: String,
        /// The driver error.
        #[source]
        source: diesel::result::Error,
    },
    /// A node answered something ryw cannot use (a NULL position, an unparsable value).
    #[error("{node} returned an unusable {what}: {detail}")]
    Unexpected {
        /// `leader` or the replica's name.
        node: String,
        /// What was asked.
        what: &'static str,
        /// What came back.
        detail: String,
    },
    /// A configured replica is not replicating (it is a leader itself, e.g. after a failover).
    #[error("{node} is not a replica (not in recovery); it is never used for fenced reads")]
    NotAReplica {
        /// The replica's name.
        node: String,
    },
    /// No replica reached the floor within the wait budget and the policy says fail.
    #[error("no replica reached {position} for scope {scope:?} within {waited:?}")]
    FenceTimeout {
        /// The scope read.
        scope: String,
        /// The floor it required.
        position: Position,
        /// How long it waited.
        waited: Duration,
    },
    /// A node did not answer within a deadline ryw enforces (a frozen or overloaded replica,
    /// an unreachable leader). Retryable: the node is avoided or the call can be repeated.
    #[error("{what} on {node} exceeded its {after:?} deadline")]
    Deadline {
        /// `leader` or the replica's name.
        node: String,
        /// What overran.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The connection failed while COMMIT was in flight: the write may or may not have
    /// committed. Never retried by ryw; a caller that retries must make the write idempotent
    /// or check first.
    #[error("COMMIT on {node} has an unknown outcome: {source}")]
    CommitOutcomeUnknown {
        /// `leader`.
        node: String,
        /// The driver error.
        #[source]
        source: diesel::result::Error,
    },
    /// A read bound for the leader found its fallback slots taken
    /// ([`RouterConfig::with_leader_fallback_limit`](crate::RouterConfig::with_leader_fallback_limit))
    /// and its policy said fail (at once, or after queueing this long). Retryable: nothing
    /// ran.
    #[error("the leader serves {limit} fallback reads already; read shed after {waited:?}")]
    LeaderBusy {
        /// The bound on concurrent fallback reads on the leader.
        limit: usize,
        /// How long the read queued for a slot.
        waited: Duration,
    },
    /// The pools or router were configured wrongly.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A read asked for a named policy the router does not know.
    #[error(
        "no read policy named {name:?} on this router (defined: {defined:?}); define it with Router::define_policy"
    )]
    UnknownPolicy {
        /// The name asked for.
        name: String,
        /// The names the router knows.
        defined: Vec<String>,
    },
    /// A `ryw-core` error (positions, tokens, store).
    #[error(transparent)]
    Core(#[from] RywError),
}

impl Error {
    /// Whether the same call may simply be tried again later: the node was unreachable, busy
    /// or too slow ([`Pool`](Self::Pool), [`Deadline`](Self::Deadline),
    /// [`LeaderBusy`](Self::LeaderBusy)), no replica caught up
    /// in time ([`FenceTimeout`](Self::FenceTimeout)), or BEGIN failed (nothing was written).
    /// Not for [`CommitOutcomeUnknown`](Self::CommitOutcomeUnknown), configuration errors or
    /// the database's own answers. Services map these to 503 with `Retry-After`.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Pool { .. }
            | Self::Deadline { .. }
            | Self::FenceTimeout { .. }
            | Self::LeaderBusy { .. } => true,
            Self::Query { what, .. } => *what == "BEGIN",
            _ => false,
        }
    }
}

//! What a routed call returns: its value, where it ran, and why.

use std::sync::Arc;
use std::time::Duration;

use ryw_core::Position;

/// Where a routed call ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServedBy {
    /// The leader.
    Leader,
    /// The replica of this name.
    Replica(Arc<str>),
}

impl ServedBy {
    /// Whether the leader served it.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        matches!(self, Self::Leader)
    }
}

/// Why a fenced read went to the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FallbackReason {
    /// No replica reached the floor within the wait budget.
    BudgetExhausted,
    /// No replica is online.
    NoHealthyReplica,
    /// A recent write of the scope has no known position and the leader's position could
    /// not be read to fence it.
    Unfenced,
    /// The context asked for its next read on the leader (an untrusted token).
    Pinned,
    /// The read overran its deadline on a replica and was run again on the leader.
    ReplicaDeadline,
    /// The replica went away under the read (its connection died, and no fresh one could be
    /// had, or that one died too) and the read was run again on the leader.
    ReplicaLost,
    /// Latency first: no replica was expected past the floor within the hedge, and the
    /// leader had room in its fallback budget.
    Fastest,
}

impl FallbackReason {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::BudgetExhausted => "budget_exhausted",
            Self::NoHealthyReplica => "no_healthy_replica",
            Self::Unfenced => "unfenced",
            Self::Pinned => "pinned",
            Self::ReplicaDeadline => "replica_deadline",
            Self::ReplicaLost => "replica_lost",
            Self::Fastest => "latency_first",
        }
    }
}

/// The result of a routed call, with where and how it ran.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Routed<T> {
    /// What the closure returned.
    pub value: T,
    /// Where it ran.
    pub served_by: ServedBy,
    /// How long the read waited for a replica to reach its floor.
    pub waited: Duration,
    /// For reads: the floor it required. For writes: the captured position (`None` when the
    /// capture failed; the write itself committed).
    pub position: Option<Position>,
    /// Set when [`Fallback::Stale`](ryw_core::Fallback::Stale) served the read from a replica behind its floor.
    pub stale: bool,
    /// Set when a fenced read fell back to the leader, and why.
    pub fallback: Option<FallbackReason>,
}

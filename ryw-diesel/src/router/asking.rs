//! What the read loop (`read.rs`) knows of one read between two decisions, and the one call
//! that turns it, with the replicas now, into a [`Decision`].

use std::time::Duration;

use ryw_core::{Position, ReadPolicy};
use tokio::time::Instant;

use super::Router;
use super::decide::{Ask, Decision, LagBound, decide};
use crate::backend::ReplicationBackend;

/// What the loop knows of one read between two decisions.
pub(super) struct Asking {
    /// Its floor (the request's own until the store answered).
    pub(super) floor: Option<Position>,
    /// Whether the store has answered (before, only a replica ready at once is taken).
    pub(super) stored: bool,
    pub(super) unresolved: bool,
    pub(super) pinned: bool,
    /// The end of its wait budget.
    pub(super) deadline: Instant,
    /// When it began waiting for a replica.
    pub(super) waiting_since: Option<Instant>,
    /// Whether a server-side wait may still be sent.
    pub(super) server_wait: bool,
    /// Whether the leader's slots were found taken since the last decision.
    pub(super) leader_busy: bool,
    /// Whether the next decision is the first with the store's floor.
    pub(super) first: bool,
    /// When it joined the leader queue, and until when it stays there.
    pub(super) queued: Option<(Instant, Instant)>,
    /// Whether it was booked as waiting because the leader was at its budget.
    pub(super) budget_bound: bool,
}

impl<B: ReplicationBackend> Router<B> {
    /// The one decision call: the read's state and the replicas now.
    pub(super) fn decide(&self, s: &Asking, policy: &ReadPolicy) -> Decision {
        let inner = &*self.inner;
        let config = &inner.config;
        let remaining = if s.stored {
            s.deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        let ask = Ask {
            floor: s.floor.as_ref(),
            floor_age: s
                .floor
                .as_ref()
                .and_then(|f| inner.leader.history().time_of(f))
                .map(|t| t.elapsed()),
            fallback: policy.fallback(),
            when_busy: policy.leader_busy(),
            leader_busy: s.leader_busy || inner.leader.slots().busy(),
            remaining,
            bound: LagBound {
                time: config.max_replica_lag,
                bytes: config.max_replica_lag_bytes,
            },
            pinned: s.pinned,
            unresolved: s.unresolved,
            server_wait: s.server_wait,
            waited: s.waiting_since.map_or(Duration::ZERO, |t| t.elapsed()),
            prefer: policy.prefer(),
            hedge: inner.leader.hedge(),
            rotation: inner.replicas.rotate(),
        };
        decide(&ask, &inner.replicas.views())
    }
}

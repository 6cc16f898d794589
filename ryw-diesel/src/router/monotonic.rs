//! Monotonic reads: after a read under a monotonic policy, the session-wide floor rises to
//! the position of the node that served it.
//!
//! Which position: the one read on the same connection *after* the read. Replay only moves
//! forward, so it covers every state the read could have seen — an upper bound. The tracker's
//! cached position at decision time would be a lower bound, and a lower bound is not safe:
//! the read may have seen a state past it, and a later read fenced only by it could land on
//! another replica between the two and go back in time. The price is one statement per
//! monotonic read (none for other reads).

use ryw_core::RywContext;

use super::Router;
use super::ledger::Event;
use crate::backend::ReplicationBackend;

/// Where a monotonic read ran.
pub(super) enum Served {
    /// The leader.
    Leader,
    /// Replica number `i`.
    Replica(usize),
}

impl<B: ReplicationBackend> Router<B> {
    /// Raises the current context's session floor to the position `conn`'s node has applied
    /// now (right after the read it served). Without a context there is no session to keep
    /// monotonic. When that position cannot be read, the leader's current position is used
    /// instead (it covers any state the read could have seen); if that fails too, the
    /// session's next unfenced read is pinned to the leader and the miss is booked.
    pub(super) async fn observe_read(&self, conn: &mut B::Connection, served: Served) {
        let Some(ctx) = RywContext::current() else {
            return;
        };
        let inner = &*self.inner;
        let deadline = inner.config.replica_checkout_timeout;
        let on_conn = match served {
            Served::Leader => {
                match tokio::time::timeout(deadline, inner.leader.position_on(conn)).await {
                    Ok(Ok(c)) => Some((c.position, c.epoch)),
                    _ => None,
                }
            }
            Served::Replica(i) => inner
                .replicas
                .position_on(i, conn)
                .await
                .map(|p| (p, inner.leader.epoch())),
        };
        let seen = match on_conn {
            Some(seen) => Some(seen),
            // The leader's position now covers any state the read could have seen.
            None => inner
                .leader
                .position(deadline)
                .await
                .ok()
                .map(|c| (c.position, c.epoch)),
        };
        match seen {
            Some((position, epoch)) => inner.floors.raise_session(&ctx, position, epoch),
            None => {
                inner.ledger.record(Event::MonotonicMiss);
                ctx.pin_next_read_to_leader();
            }
        }
    }
}

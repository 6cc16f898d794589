//! Monotonic reads: after a read under a monotonic policy, the session-wide floor rises to
//! the position of the node that served it.
//!
//! Which position: the one read on the same connection *after* the read. Replay only moves
//! forward, so it covers every state the read could have seen — an upper bound. The tracker's
//! cached position at decision time would be a lower bound, and a lower bound is not safe:
//! the read may have seen a state past it, and a later read fenced only by it could land on
//! another replica between the two and go back in time. The price is one statement per
//! monotonic read (none for other reads).

use std::sync::atomic::Ordering;

use ryw_core::{Floor, Position, RywContext};

use super::*;

/// Where a monotonic read ran.
pub(super) enum Served<'a> {
    /// The leader.
    Leader,
    /// The replica of this name.
    Replica(&'a str),
}

impl<B: ReplicationBackend> Router<B> {
    /// Raises the current context's session floor to the position `conn`'s node has applied
    /// now (right after the read it served). Without a context there is no session to keep
    /// monotonic. When that position cannot be read, the is used instead (it covers any state the read could have seen); if
    /// that fails too, the session's next unfenced read is pinned to the leader and the miss
    /// is counted.
    pub(super) async fn observe_read(&self, conn: &mut B::Connection, served: Served<'_>) {
        let Some(ctx) = RywContext::current() else {
            return;
        };
        let backend = &self.inner.pool.backend;
        let deadline = self.inner.config.replica_checkout_timeout;
        let read = async {
            match served {
                Served::Leader => backend
                    .leader_position(conn)
                    .await
                    .map(|c| (c.position, c.epoch)),
                Served::Replica(name) => backend
                    .replica_position(conn, name)
                    .await
                    .map(|p| (p.applied, self.inner.epochs.current())),
            }
        };
        if let Ok(Ok((position, epoch))) = tokio::time::timeout(deadline, read).await {
            return self.raise_session(&ctx, position, epoch);
        }
        // The leader's position now covers any state the read could have seen.
        let leader = async {
            let mut conn = self.leader_conn().await?;
            backend.leader_position(&mut conn).await
        };
        match tokio::time::timeout(deadline, leader).await {
            Ok(Ok(c)) => self.raise_session(&ctx, c.position, c.epoch),
            _ => {
                self.inner
                    .counters
                    .monotonic_misses
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "could not read the position after a monotonic read, nor the leader's; the session's next unfenced read goes to the leader"
                );
                ctx.pin_next_read_to_leader();
            }
        }
    }

    fn raise_session(&self, ctx: &RywContext, position: Position, epoch: Option<u32>) {
        let floor = Floor::new(position).with_epoch(epoch);
        if let Err(e) = ctx.raise_session_floor(&self.inner.cluster, floor) {
            tracing::warn!(error = %e, "could not raise the session floor");
        }
    }
}

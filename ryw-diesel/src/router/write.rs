//! The write path: a leader transaction, the commit position, the floors.

use std::time::Duration;

use ryw_core::{Position, RywContext, ScopeKey};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::Router;
use super::ledger::Event;
use super::outcome::{Routed, ServedBy};
use crate::Error;
use crate::backend::{Captured, ReplicationBackend};
use crate::conn_fn::ConnFn;
use crate::transaction::{begin, run_and_capture};

/// How a write commits.
#[derive(Debug, Clone, Copy)]
enum Commit {
    /// BEGIN, the closure, then COMMIT with the capture.
    Transaction,
    /// The closure's one statement commits on its own; then the capture.
    Autocommit,
}

impl<B: ReplicationBackend> Router<B> {
    /// Runs `f` in a transaction on the leader, then captures the commit position and raises
    /// `scope`'s floor in the current [`RywContext`] (if any) and in the scope store.
    ///
    /// If the transaction fails it is rolled back and the error returned. If the capture fails
    /// after COMMIT (the connection died), the leader's current position is read on a fresh
    /// connection instead: it covers the commit — unless the leader changed in between (a
    /// later epoch, or a position lacking what the old leader had), when it covers the write
    /// only if the write survived the change; a warning says so. Only if the leader stays unreachable for
    /// [`RouterConfig::with_capture_retry`](super::RouterConfig::with_capture_retry) is the write returned with `position: None`; the scope
    /// is then marked as written without a position in the context (so in the outgoing
    /// token) and the store, for [`RouterConfig::with_unfenced_window`](super::RouterConfig::with_unfenced_window), and the failure is logged and
    /// counted. Reads of a marked scope are fenced by the leader's position at read time.
    ///
    /// # Errors
    /// The closure's error, or a pool / BEGIN / COMMIT error converted into `E` (from
    /// [`Error`]).
    pub async fn write<R, E, F>(&self, scope: &ScopeKey, f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        self.write_scopes(std::slice::from_ref(scope), f).await
    }

    /// As [`write`](Self::write) for a write that changes several scopes (a user and their
    /// organisation): one transaction, one capture, and every scope's floor raised to it — in
    /// the context (so the token) and in the store in one call
    /// ([`ScopeStore::raise_many`](ryw_core::ScopeStore::raise_many): one round trip on a
    /// standalone Redis).
    ///
    /// # Errors
    /// As [`write`](Self::write); [`Error::Config`] for an empty `scopes`, before anything
    /// runs.
    pub async fn write_scopes<R, E, F>(&self, scopes: &[ScopeKey], f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        self.write_as(scopes, f, Commit::Transaction).await
    }

    /// As [`write_scopes`](Self::write_scopes) for a write that needs no transaction: one
    /// statement (an `UPDATE`, an `INSERT`), which the server commits on its own. No BEGIN and
    /// no COMMIT: the statement, then the capture on the same connection — two round trips
    /// where a transactional write takes four (BEGIN, the statement, COMMIT with the capture).
    /// The closure must run exactly one statement that writes: a second one would commit on
    /// its own too, and a failure between them would leave the first one written.
    ///
    /// A statement whose connection is lost while it runs has an unknown outcome, as a
    /// COMMIT in flight has (the closure's error says so: [`is_connection_lost`](crate::is_connection_lost)):
    /// retry it only if it is idempotent. A capture lost after the statement is recaptured,
    /// else the scopes are marked, as for [`write`](Self::write).
    ///
    /// # Errors
    /// The closure's error, a pool error, or [`Error::Config`] for an empty `scopes`.
    pub async fn write_autocommit<R, E, F>(&self, scopes: &[ScopeKey], f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        self.write_as(scopes, f, Commit::Autocommit).await
    }

    async fn write_as<R, E, F>(
        &self,
        scopes: &[ScopeKey],
        f: F,
        commit: Commit,
    ) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let Some(first) = scopes.first() else {
            return Err(E::from(Error::Config(
                "a write must name at least one scope".into(),
            )));
        };
        let span =
            tracing::debug_span!("ryw.write", scope = %first, scopes = scopes.len(), ?commit);
        // Boxed once per write (beside several round trips), so a caller's future stays small.
        let write = async move {
            let inner = &*self.inner;
            let backend = &inner.pool.backend;
            let (value, captured) = match commit {
                Commit::Transaction => {
                    let (mut conn, retries) = begin(&inner.pool).await.map_err(E::from)?;
                    inner.ledger.record(Event::BeginRetries(retries));
                    run_and_capture::<B, R, E, F>(backend, &mut conn, f).await?
                }
                Commit::Autocommit => {
                    let mut conn = inner.pool.leader().await.map_err(E::from)?;
                    let value = f(&mut *conn).await?;
                    (value, backend.capture(&mut conn).await)
                }
            };
            let captured = match captured {
                Ok(p) => Some(p),
                Err(e) => self.recapture(first, &e).await,
            };
            let is_known = captured.is_some();
            inner.ledger.record(Event::Write { captured: is_known });
            self.record_captured(scopes, captured.as_ref()).await;
            Ok(Routed {
                value,
                served_by: ServedBy::Leader,
                waited: Duration::ZERO,
                position: captured.map(|c| c.position),
                stale: false,
                fallback: None,
            })
        };
        Box::pin(write.instrument(span)).await
    }

    /// The capture on the committing connection failed after COMMIT (the connection died, the
    /// leader restarted). The leader's current position, read on a fresh connection, covers
    /// the commit: retried within [`RouterConfig::with_capture_retry`](super::RouterConfig::with_capture_retry).
    /// `None` (booked, logged) when the leader stays unreachable that long.
    async fn recapture(&self, scope: &ScopeKey, first: &Error) -> Option<Captured> {
        let inner = &*self.inner;
        // The leader as this router knew it when the commit was acknowledged.
        let known = (inner.leader.epoch(), inner.leader.hint().borrow().clone());
        let deadline = Instant::now() + inner.config.capture_retry;
        let mut pause = Duration::from_millis(25);
        let mut last;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match inner.leader.position(left).await {
                Ok(p) => {
                    let leader_changed = leader_changed(&known, &p);
                    inner.ledger.record(Event::Recaptured {
                        scope,
                        first,
                        leader_changed,
                    });
                    return Some(p);
                }
                Err(Error::Deadline { .. }) => last = "capture retry deadline passed".into(),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(400));
        }
        inner.ledger.record(Event::Uncaptured {
            scope,
            first,
            last: &last,
        });
        None
    }

    /// Raises `scope`'s floor to `position` in the current context and the store, as
    /// [`write`](Self::write) does after its own capture (for writes made outside the router).
    /// The position is taken to be on the leader's current epoch. `None` marks the scope as
    /// written without a known position.
    pub async fn record_write(&self, scope: &ScopeKey, position: Option<&Position>) {
        let captured = position.map(|p| Captured {
            position: p.clone(),
            epoch: self.inner.leader.epoch(),
        });
        self.record_captured(std::slice::from_ref(scope), captured.as_ref())
            .await;
    }

    /// A write's position (or its absence) recorded: the leader advanced to it (the trackers
    /// poll at the pending cadence until their replica has it — no poll per write), and every
    /// scope's floor raised to it in the context and the store; without a position, the
    /// scopes are marked as written without one.
    async fn record_captured(&self, scopes: &[ScopeKey], captured: Option<&Captured>) {
        let inner = &*self.inner;
        let Some(captured) = captured else {
            inner.floors.mark_unfenced(scopes).await;
            return;
        };
        inner.leader.observe_epoch(captured.epoch).await;
        inner.leader.advanced(&captured.position);
        // The context's floors of earlier epochs are settled first: a lost floor merged
        // unsettled with this write's would keep the lost position as the fence.
        if let Some(ctx) = RywContext::current() {
            inner.leader.reconcile(&ctx).await;
        }
        let history = inner.leader.epoch_history();
        inner.floors.raise(scopes, captured, history.as_ref()).await;
    }
}

/// Whether the position `recaptured` comes from another leader than the one this router knew
/// (`known`: its epoch and last position) when the commit was acknowledged: a later epoch, or
/// a position that lacks what the old leader had (a lossy promotion). The write may then have
/// been acknowledged by the old leader and lost with it: the new leader's position covers it
/// only if it survived.
fn leader_changed(known: &(Option<u32>, Option<Position>), recaptured: &Captured) -> bool {
    let (epoch, position) = known;
    let later_epoch = matches!((epoch, recaptured.epoch), (Some(a), Some(b)) if b > *a);
    let behind = position
        .as_ref()
        .is_some_and(|p| !recaptured.position.covers(p).unwrap_or(true));
    later_epoch || behind
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(position: &str, epoch: Option<u32>) -> Captured {
        Captured {
            position: Position::GtidSet(position.parse().expect("a GTID set")),
            epoch,
        }
    }

    const OLD: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const NEW: &str = "4f22ab58-82db-22f2-af44-d91bb0530673";

    #[test]
    fn a_recapture_on_the_same_leader_is_no_leader_change() {
        let known = (None, Some(captured(&format!("{OLD}:1-10"), None).position));
        assert!(!leader_changed(
            &known,
            &captured(&format!("{OLD}:1-12"), None)
        ));
        assert!(!leader_changed(
            &(Some(2), None),
            &captured(&format!("{OLD}:1-12"), Some(2))
        ));
    }

    #[test]
    fn a_recapture_behind_the_known_leader_or_on_a_later_epoch_is_a_leader_change() {
        // A promoted replica that lacks what the old leader had acknowledged.
        let known = (None, Some(captured(&format!("{OLD}:1-10"), None).position));
        let promoted = captured(&format!("{OLD}:1-7,{NEW}:1-2"), None);
        assert!(leader_changed(&known, &promoted));
        assert!(leader_changed(
            &(Some(2), None),
            &captured(&format!("{NEW}:1"), Some(3))
        ));
    }
}

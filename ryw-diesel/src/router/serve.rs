//! Serving a read where the decision sent it: on a replica (its connection, the deadline,
//! the checks that run after it), or on the leader in a fallback slot — including a replica
//! read that overran and runs again there.

use std::sync::Arc;
use std::time::Duration;

use ryw_core::{Fallback, Position, ReadPolicy, ScopeKey};
use tokio::time::Instant;

use super::Router;
use super::leader_slots::Slot;
use super::ledger::Event;
use super::monotonic::Served;
use super::outcome::{FallbackReason, Routed, ServedBy};
use super::replicas::Ran;
use crate::Error;
use crate::backend::ReplicationBackend;
use crate::conn_fn::{CallError, ReadFn};
use crate::pool::Conn;

/// A read bound for the leader: why, the fallback slot it holds while it runs, and how long
/// it waited first.
pub(super) struct Fell {
    pub(super) reason: FallbackReason,
    pub(super) slot: Option<Slot>,
    pub(super) waited: Duration,
}

/// What a read on a replica needs besides its closure: what runs on the connection after a
/// successful read (the monotonic session floor, a sampled read's position check), and the
/// fallback should it overrun.
#[derive(Clone, Copy)]
pub(super) struct After<'a> {
    monotonic: bool,
    /// The policy's fallback, for a read that overran.
    fallback: Fallback,
    verify: Option<(&'a ScopeKey, &'a Position)>,
}

impl<'a> After<'a> {
    pub(super) fn new(
        policy: &ReadPolicy,
        scope: &'a ScopeKey,
        floor: Option<&'a Position>,
        sampled: bool,
    ) -> Self {
        Self {
            monotonic: policy.monotonic(),
            fallback: policy.fallback(),
            verify: floor.filter(|_| sampled).map(|f| (scope, f)),
        }
    }
}

impl<B: ReplicationBackend> Router<B> {
    /// Serves the read on replica `i` (on `conn`, when a server-side wait already holds one);
    /// without a connection in time, on the leader. `stale` when the replica is behind the
    /// read's floor.
    pub(super) async fn on_replica<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        i: usize,
        conn: Option<Conn<B>>,
        stale: bool,
        (floor, waited): (Option<Position>, Duration),
        f: F,
        after: After<'_>,
    ) -> Result<Routed<R>, E> {
        let replicas = &self.inner.replicas;
        let monotonic = after.monotonic;
        let ran = async {
            // Counts the read on its replica while it runs: decisions prefer idle replicas.
            let _running = replicas.running(i);
            let conn = match conn {
                Some(c) => c,
                None => replicas.conn(i).await?,
            };
            let fenced = floor.is_some();
            self.book_read(false, fenced, stale, None);
            Some(self.run_on(i, conn, f.clone(), after).await)
        };
        match ran.await {
            Some(Ran::Done(value)) => Ok(Routed {
                value: value?,
                served_by: ServedBy::Replica(Arc::clone(replicas.name(i))),
                waited,
                position: floor,
                stale,
                fallback: None,
            }),
            Some(Ran::Abandoned { why, error }) => {
                let again = (waited, floor);
                Box::pin(self.rerun(error, why, after.fallback, f, again, monotonic)).await
            }
            None => {
                let slot = self.rerun_slot().await.map_err(E::from)?;
                let fell = Fell {
                    reason: FallbackReason::NoHealthyReplica,
                    slot: Some(slot),
                    waited,
                };
                Box::pin(self.on_leader(fell, floor, f, monotonic)).await
            }
        }
    }

    /// Runs `f` on replica `i`, then what runs after a read there.
    pub(super) async fn run_on<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        i: usize,
        conn: Conn<B>,
        f: F,
        after: After<'_>,
    ) -> Ran<Result<R, E>> {
        let check = after.verify.map(|(_, floor)| floor);
        match self.inner.replicas.run(i, conn, check, f).await {
            Ran::Done(Ok((value, mut conn))) => {
                if let Some((scope, floor)) = after.verify {
                    self.verify_position(&mut conn, i, scope, floor).await;
                }
                if after.monotonic {
                    self.observe_read(&mut conn, Served::Replica(i)).await;
                }
                Ran::Done(Ok(value))
            }
            Ran::Done(Err(e)) => Ran::Done(Err(e)),
            Ran::Abandoned { why, error } => Ran::Abandoned { why, error },
        }
    }

    /// Runs `f` on the leader for a read that fell back there.
    pub(super) async fn on_leader<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        fell: Fell,
        floor: Option<Position>,
        f: F,
        monotonic: bool,
    ) -> Result<Routed<R>, E> {
        let _slot = fell.slot;
        let (value, mut conn) = self.inner.leader.run_read(f).await?;
        self.book_read(true, floor.is_some(), false, Some(fell.reason));
        if monotonic {
            self.observe_read(&mut conn, Served::Leader).await;
        }
        Ok(Routed {
            value,
            served_by: ServedBy::Leader,
            waited: fell.waited,
            position: floor,
            stale: false,
            fallback: Some(fell.reason),
        })
    }

    /// A replica read was given up on (it overran its deadline, or its replica went away):
    /// under [`Fallback::Leader`] the leader runs it again (reads are re-runnable: the
    /// closure is `Clone`), booked with `why`; else the caller gets the retryable error.
    pub(super) async fn rerun<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        abandoned: Error,
        why: FallbackReason,
        fallback: Fallback,
        again: F,
        (waited, floor): (Duration, Option<Position>),
        monotonic: bool,
    ) -> Result<Routed<R>, E> {
        if fallback != Fallback::Leader {
            return Err(E::from(abandoned));
        }
        self.inner.ledger.record(Event::ReadRerun);
        let slot = self.rerun_slot().await.map_err(E::from)?;
        let fell = Fell {
            reason: why,
            slot: Some(slot),
            waited,
        };
        self.on_leader(fell, floor, again, monotonic).await
    }

    /// A leader slot for a read to re-run there (its replica overran or could not be
    /// reached), queueing like [`LeaderBusy::Queue`](ryw_core::LeaderBusy::Queue).
    ///
    /// # Errors
    /// [`Error::LeaderBusy`] when no slot frees within the queue timeout.
    async fn rerun_slot(&self) -> Result<Slot, Error> {
        let slots = self.inner.leader.slots();
        if let Some(slot) = slots.try_take() {
            return Ok(slot);
        }
        self.inner.ledger.record(Event::LeaderBusy { waits: true });
        let started = Instant::now();
        let deadline = started + self.inner.config.leader_queue_timeout;
        match slots.take_until(deadline).await {
            Some(slot) => Ok(slot),
            None => Err(self.shed(started.elapsed())),
        }
    }

    /// A read the busy leader cannot take: booked, and the typed, retryable error.
    pub(super) fn shed(&self, waited: Duration) -> Error {
        let limit = self.inner.leader.slots().limit();
        self.inner
            .ledger
            .record(Event::LeaderShed { limit, waited });
        Error::LeaderBusy { limit, waited }
    }

    pub(super) fn book_read(
        &self,
        leader: bool,
        fenced: bool,
        stale: bool,
        fallback: Option<FallbackReason>,
    ) {
        self.inner.ledger.record(Event::Read {
            leader,
            fenced,
            stale,
            fallback,
        });
    }
}

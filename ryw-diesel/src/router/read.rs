//! The read path: one loop that asks the decision (`decide`) and acts on it — serve on a
//! replica, wait and ask again, serve on the leader in a fallback slot, queue for a slot,
//! shed, fail — re-asking after every wait.
//!
//! ```text
//! requested floor ──► [ask] ─ Replica(i), store pending ──► run on i while the store answers
//!                       │                                     (kept, or routed again)
//!                       ▼ store's floor merged, resolved
//!               ┌──►  [ask] ─ Replica / Stale ─► replica ─(overran)─► leader rerun
//!               │       ├── Wait(None) ── a tracker change or a recheck ──┐
//!               │       ├── Wait(Some(i)) ─ server-side wait on i ─ reached ─► replica
//!               │       ├── Leader(reason) ─ slot free ─► leader │ taken: leader busy
//!               │       ├── Queue ─ a slot ─► leader │ a replica reached the floor
//!               │       └── Shed / Fail ─► typed error
//!               └────────────────────────────────────────────────────┘
//! ```

use std::time::Duration;

use ryw_core::{Fallback, Position, Prefer, ReadPolicy, RywContext, ScopeKey};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::Router;
use super::asking::Asking;
use super::decide::{Decision, ReplicaView, SERVER_WAIT_GRACE};
use super::floor::{Requested, Resolved};
use super::ledger::Event;
use super::outcome::{FallbackReason, Routed};
use super::overlap::Overlap;
use super::serve::{After, Fell};
use super::watch::Watch;
use crate::Error;
use crate::backend::{ReplicationBackend, WaitMethod};
use crate::conn_fn::{CallError, ConnFn, ReadFn};

/// How often a waiting read decides again when no tracker reports a change: its estimates
/// move with the clock.
const RECHECK_EVERY: Duration = Duration::from_millis(25);

impl<B: ReplicationBackend> Router<B> {
    /// Reads with the router's default policy. See [`read_with`](Self::read_with).
    ///
    /// # Errors
    /// As [`read_with`](Self::read_with).
    pub async fn read<R, E, F>(&self, scope: &ScopeKey, f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let policy = self.inner.config.policy;
        self.read_with(scope, &policy, f).await
    }

    /// Reads `scope` under `policy`: to a replica that has applied the scope's floor, waiting
    /// up to the budget, else the policy's fallback.
    ///
    /// A read that overruns [`RouterConfig::with_replica_deadlines`](super::RouterConfig::with_replica_deadlines)
    /// on a replica (frozen, overloaded) is abandoned there and, under
    /// [`Fallback::Leader`], run again on the leader — reads are
    /// idempotent, and the closure is `Clone` so it can be called twice (any closure capturing
    /// references or `Clone` values is).
    ///
    /// # Errors
    /// The closure's error; [`Error::FenceTimeout`] under
    /// [`Fallback::Error`]; [`Error::LeaderBusy`]; pool errors.
    pub async fn read_with<R, E, F>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        f: F,
    ) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        self.read_sampled(scope, policy, f, self.sample()).await
    }

    /// [`read_with`](Self::read_with), with the position check of self-verification when
    /// `sampled` (see `verify.rs`): the read loop.
    pub(super) async fn read_sampled<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        f: F,
        sampled: bool,
    ) -> Result<Routed<R>, E> {
        let span = tracing::debug_span!("ryw.read", scope = %scope);
        // The loop's states are boxed once per read (one allocation beside a network round
        // trip), so a caller's future holding a read stays small.
        let read = async move {
            let inner = &*self.inner;
            let start = Instant::now();
            let ctx = RywContext::current();
            if let Some(ctx) = &ctx {
                inner.leader.reconcile(ctx).await;
            }
            let requested = inner.floors.requested(ctx, scope);
            // With a replica ready for the request's own floor, the store's round trip runs
            // alongside the read instead of before it.
            let overlap = inner.floors.has_store() && !inner.floors.in_window(requested.marked);
            let mut s = Asking {
                floor: requested.floor.clone(),
                stored: !overlap,
                unresolved: false,
                pinned: requested
                    .ctx
                    .as_ref()
                    .is_some_and(RywContext::leader_pinned),
                deadline: start,
                waiting_since: None,
                server_wait: B::WAIT == WaitMethod::ServerSide,
                leader_busy: false,
                first: true,
                queued: None,
                budget_bound: false,
            };
            if !overlap {
                let stored = self.stored(scope).await;
                self.resolved(&mut s, scope, policy, &requested, stored.as_ref())
                    .await;
            }
            let mut watch: Option<Watch<'_>> = None;
            let fell = |reason, slot| Fell {
                reason,
                slot,
                waited: start.elapsed(),
            };
            loop {
                let d = self.decide(&s, policy);
                if !s.stored {
                    let stored = match d {
                        Decision::Replica(i) => {
                            let after =
                                After::new(policy, scope, requested.floor.as_ref(), sampled);
                            let target = (i, inner.replicas.views().swap_remove(i).applied);
                            match self
                                .overlapped(scope, policy, &requested, target, &f, after)
                                .await
                            {
                                Overlap::Done(out) => return out,
                                Overlap::Redo(stored) => stored,
                            }
                        }
                        _ => self.stored(scope).await,
                    };
                    self.resolved(&mut s, scope, policy, &requested, stored.as_ref())
                        .await;
                    continue;
                }
                if std::mem::take(&mut s.first)
                    && s.floor.is_some()
                    && !s.unresolved
                    && !policy.wait_budget().is_zero()
                    && !matches!(d, Decision::Wait(_) | Decision::Replica(_))
                {
                    inner.ledger.record(Event::WaitSkipped);
                }
                if !matches!(d, Decision::Wait(_))
                    && let Some(since) = s.waiting_since.take()
                {
                    let reached = matches!(d, Decision::Replica(_));
                    let waited = since.elapsed();
                    inner.ledger.record(Event::ReadWait { waited, reached });
                }
                let latency_first =
                    policy.prefer() == Prefer::Latency && policy.fallback() == Fallback::Leader;
                let (i, conn, stale) = match d {
                    Decision::Replica(i) => (i, None, false),
                    Decision::Stale { replica, busy } => {
                        if busy {
                            inner.ledger.record(Event::LeaderBusy { waits: false });
                        }
                        (replica, None, true)
                    }
                    Decision::Wait(None) => {
                        let now = Instant::now();
                        let since = *s.waiting_since.get_or_insert(now);
                        let mut step = s.deadline.min(now + RECHECK_EVERY);
                        for until in [
                            (s.server_wait).then_some(since + SERVER_WAIT_GRACE),
                            latency_first.then_some(since + inner.leader.hedge()),
                        ]
                        .into_iter()
                        .flatten()
                        {
                            if until > now {
                                step = step.min(until);
                            }
                        }
                        if !(latency_first && inner.leader.slots().busy()) {
                            let w = watch.get_or_insert_with(|| {
                                inner.replicas.watch(0..inner.replicas.len())
                            });
                            w.changed(step).await;
                            continue;
                        }
                        // Latency first with the leader at its budget: whichever comes
                        // first, a replica past the floor or a leader slot.
                        if !std::mem::replace(&mut s.budget_bound, true) {
                            inner.ledger.record(Event::LeaderBusy { waits: true });
                        }
                        // One place in the slot queue for the whole budget (FIFO: a read
                        // that left and re-joined it would go to the back).
                        watch = None;
                        let slot = Box::pin(inner.leader.slots().take_until(s.deadline));
                        let caught_up = Box::pin(self.caught_up(s.floor.as_ref(), s.deadline));
                        tokio::select! {
                            Some(slot) = slot => {
                                let fell = fell(FallbackReason::Fastest, Some(slot));
                                return self.on_leader(fell, s.floor, f, policy.monotonic()).await;
                            }
                            true = caught_up => continue,
                            else => continue,
                        }
                    }
                    Decision::Wait(Some(i)) => {
                        // One server-side wait, with what is left of the budget; whatever it
                        // answers, the budget is then spent.
                        watch = None;
                        s.server_wait = false;
                        let Some(floor) = s.floor.clone() else {
                            continue;
                        };
                        let since = *s.waiting_since.get_or_insert_with(Instant::now);
                        let remaining = s.deadline.saturating_duration_since(Instant::now());
                        s.deadline = Instant::now();
                        inner.ledger.record(Event::ServerWait);
                        // Boxed, as the other rare paths: they keep every read's future small.
                        let wait = Box::pin(inner.replicas.server_wait(i, &floor, remaining));
                        let Some(conn) = wait.await else {
                            continue;
                        };
                        s.waiting_since = None;
                        let (waited, reached) = (since.elapsed(), true);
                        inner.ledger.record(Event::ReadWait { waited, reached });
                        (i, Some(conn), false)
                    }
                    Decision::Leader(FallbackReason::Pinned) => {
                        let fell = fell(FallbackReason::Pinned, None);
                        return self.on_leader(fell, s.floor, f, policy.monotonic()).await;
                    }
                    Decision::Leader(reason) => match inner.leader.try_slot() {
                        Some(slot) => {
                            let fell = fell(reason, Some(slot));
                            return self.on_leader(fell, s.floor, f, policy.monotonic()).await;
                        }
                        // Taken since the decision: ask again, knowing.
                        None => {
                            s.leader_busy = true;
                            continue;
                        }
                    },
                    Decision::Queue(reason) => {
                        if !std::mem::replace(&mut s.budget_bound, true) {
                            inner.ledger.record(Event::LeaderBusy { waits: true });
                        }
                        let (joined, until) = *s.queued.get_or_insert_with(|| {
                            let now = Instant::now();
                            (now, now + inner.config.leader_queue_timeout)
                        });
                        let queued = async {
                            match inner.leader.slots().take_until(until).await {
                                Some(slot) => Ok(slot),
                                None => Err(self.shed(joined.elapsed())),
                            }
                        };
                        let queued = Box::pin(queued);
                        let caught_up = Box::pin(self.caught_up(s.floor.as_ref(), until));
                        tokio::select! {
                            slot = queued => {
                                let fell = fell(reason, Some(slot.map_err(E::from)?));
                                return self.on_leader(fell, s.floor, f, policy.monotonic()).await;
                            }
                            true = caught_up => continue,
                        }
                    }
                    Decision::Shed => {
                        inner.ledger.record(Event::LeaderBusy { waits: false });
                        return Err(E::from(self.shed(Duration::ZERO)));
                    }
                    Decision::Fail(position) => {
                        inner.ledger.record(Event::FenceTimeout);
                        return Err(E::from(Error::FenceTimeout {
                            scope: scope.to_string(),
                            position,
                            waited: start.elapsed(),
                        }));
                    }
                };
                let waited = start.elapsed();
                let check = s.floor.as_ref().filter(|_| !stale);
                let after = After::new(policy, scope, check, sampled);
                let floor = s.floor.clone();
                return self
                    .on_replica(i, conn, stale, (floor, waited), f, after)
                    .await;
            }
        };
        Box::pin(read.instrument(span)).await
    }

    /// The store answered: the floor both parts give, resolved; the budget starts now.
    async fn resolved(
        &self,
        s: &mut Asking,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        requested: &Requested,
        stored: Option<&ryw_core::StoredFloor>,
    ) {
        let inner = &*self.inner;
        let Resolved { floor, unresolved } = inner
            .floors
            .resolve(scope, requested, stored, &inner.leader)
            .await;
        s.pinned = floor.is_none()
            && !unresolved
            && requested
                .ctx
                .as_ref()
                .is_some_and(RywContext::take_leader_pin);
        s.floor = floor;
        s.unresolved = unresolved;
        s.stored = true;
        s.deadline = Instant::now() + policy.wait_budget();
    }

    /// Whether a replica reaches `floor` before `until` (never, without a floor).
    async fn caught_up(&self, floor: Option<&Position>, until: Instant) -> bool {
        let replicas = &self.inner.replicas;
        let Some(floor) = floor else {
            tokio::time::sleep_until(until).await;
            return false;
        };
        let mut watch = replicas.watch(0..replicas.len());
        let covers = |v: &[ReplicaView]| v.iter().any(|r| r.covers(floor)).then_some(());
        watch.until(until, covers).await.is_some()
    }
}

//! Acting on the routing decision (`decide`): snapshots of the trackers in, waits on them
//! or a server-side wait when the decision says wait, the fallback once the budget is spent.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::{Position, ReadPolicy, RywContext, metrics};
use tokio::time::Instant;

use super::decide::{Ask, Decision, ReplicaView, decide, freshest};
use super::*;

impl From<Decision> for Pick {
    /// `Wait` is acted on before a pick is made; reaching here it means "nothing yet".
    fn from(d: Decision) -> Self {
        match d {
            Decision::Replica(i) => Pick::Replica(i),
            Decision::Stale(i) => Pick::Stale(i),
            Decision::Fail => Pick::Fail,
            Decision::Leader(reason) => Pick::Leader(reason),
            Decision::Wait => Pick::Leader(FallbackReason::BudgetExhausted),
        }
    }
}

impl<B: ReplicationBackend> Router<B> {
    /// Every replica as its tracker last saw it, with this router's reads in flight.
    pub(super) fn snapshot(&self) -> Vec<ReplicaView> {
        self.inner
            .trackers
            .iter()
            .map(|t| {
                let s = t.status.borrow();
                ReplicaView {
                    online: s.online,
                    applied: s.applied.clone(),
                    in_flight: t.reads_in_flight(),
                }
            })
            .collect()
    }

    /// The inputs of one decision (advances the rotation).
    pub(super) fn ask<'a>(
        &self,
        floor: Option<&'a Position>,
        policy: &ReadPolicy,
        may_wait: bool,
        pinned: bool,
    ) -> Ask<'a> {
        Ask {
            floor,
            fallback: policy.fallback,
            may_wait,
            pinned,
            rotation: self.inner.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(super) fn pick_unfenced(&self, policy: &ReadPolicy) -> Pick {
        let pinned = RywContext::current().is_some_and(|ctx| ctx.take_leader_pin());
        decide(&self.ask(None, policy, false, pinned), &self.snapshot()).into()
    }

    pub(super) async fn pick_fenced(
        &self,
        floor: &Position,
        policy: &ReadPolicy,
    ) -> (Pick, Option<Conn<B>>) {
        let may_wait = !policy.wait_budget.is_zero();
        match decide(
            &self.ask(Some(floor), policy, may_wait, false),
            &self.snapshot(),
        ) {
            Decision::Wait => {}
            now => return (now.into(), None),
        }
        let deadline = Instant::now() + policy.wait_budget;
        let backend = &self.inner.pool.backend;
        if backend.has_server_wait() {
            // First let the (just poked) trackers refresh the cache: a replica that has
            // already caught up is then used without a wait statement, and a paused or
            // stuck replica is not chosen for the server-side wait.
            let slice = deadline.min(Instant::now() + SERVER_WAIT_GRACE);
            if let Some(i) = self.tracker_wait(floor, policy, slice).await {
                return (Pick::Replica(i), None);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !remaining.is_zero()
                && let Some((i, conn)) = self.server_wait(floor, remaining).await
            {
                metrics::read_wait(
                    policy.wait_budget.saturating_sub(deadline - Instant::now()),
                    true,
                );
                return (Pick::Replica(i), Some(conn));
            }
        } else if let Some(i) = self.tracker_wait(floor, policy, deadline).await {
            return (Pick::Replica(i), None);
        }
        metrics::read_wait(policy.wait_budget, false);
        let spent = self.ask(Some(floor), policy, false, false);
        (decide(&spent, &self.snapshot()).into(), None)
    }

    /// Waits on the trackers' change signal until the decision names a replica.
    pub(super) async fn tracker_wait(
        &self,
        floor: &Position,
        policy: &ReadPolicy,
        deadline: Instant,
    ) -> Option<usize> {
        let started = Instant::now();
        let _guards: Vec<_> = self.inner.trackers.iter().map(|t| t.wait_guard()).collect();
        let mut changed = self.inner.changed.subscribe();
        loop {
            let ask = self.ask(Some(floor), policy, true, false);
            if let Decision::Replica(i) = decide(&ask, &self.snapshot()) {
                metrics::read_wait(started.elapsed(), true);
                return Some(i);
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Server-side wait on the most advanced online replica, on the connection that will
    /// serve the read.
    pub(super) async fn server_wait(
        &self,
        floor: &Position,
        budget: Duration,
    ) -> Option<(usize, Conn<B>)> {
        let i = freshest(&self.snapshot())?;
        let mut conn = self.replica_conn(i).await?;
        let name = &self.inner.trackers[i].name;
        self.inner
            .counters
            .server_waits
            .fetch_add(1, Ordering::Relaxed);
        // The server times the wait out itself, unless it cannot answer at all (frozen): then
        // the wait is abandoned a checkout deadline after its budget.
        let overall = budget + self.inner.config.replica_checkout_timeout;
        let wait = self
            .inner
            .pool
            .backend
            .server_wait(&mut conn, name, floor, budget);
        match tokio::time::timeout(overall, wait).await {
            Ok(Ok(true)) => Some((i, conn)),
            Ok(Ok(false)) => None,
            Ok(Err(e)) => {
                tracing::warn!(replica = %name, error = %e, "server-side wait failed");
                None
            }
            Err(_) => {
                let _ = deadpool::managed::Object::take(conn);
                self.count_deadline_hit();
                self.inner.trackers[i].poke();
                self.warn_deadline(name, "server-side wait", overall);
                None
            }
        }
    }
}

//! Acting on the routing decision (`decide`): snapshots of the trackers in, waits on them
//! or a server-side wait when the decision says wait, the fallback once the budget is spent.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::{Position, ReadPolicy, RywContext, metrics};
use tokio::time::Instant;

use super::decide::{Ask, Decision, LagBound, ReplicaView, decide, freshest};
use super::*;

/// How often a waiting read decides again when no tracker reports a change.
const RECHECK_EVERY: Duration = Duration::from_millis(25);

/// How a wait on the trackers ended.
pub(super) enum Waited {
    /// This replica reached the floor.
    Replica(usize),
    /// The budget ran out.
    Deadline,
    /// No replica is expected to reach the floor within the budget left.
    Hopeless,
}

impl From<Decision> for Pick {
    /// `Wait` is acted on before a pick is made; reaching here it means "nothing yet".
    fn from(d: Decision) -> Self {
        match d {
            Decision::Replica(i) => Pick::Replica(i),
            Decision::Stale(i) => Pick::Stale(i),
            Decision::Fail => Pick::Fail,
            Decision::Leader(reason) => Pick::Leader(reason),
            Decision::Wait => Pick::Leader(FallbackReason::BudgetExhausted),
            Decision::Queue => Pick::Queue,
            Decision::Shed => Pick::Shed,
        }
    }
}

impl<B: ReplicationBackend> Router<B> {
    /// Every replica as its tracker last saw it, with this router's reads in flight.
    pub(super) fn snapshot(&self) -> Vec<ReplicaView> {
        let now = Instant::now();
        let history = &self.inner.history;
        self.inner
            .trackers
            .iter()
            .map(|t| {
                let s = t.status.borrow();
                let missing = s.applied.as_ref().and_then(|a| history.oldest_missing(a));
                ReplicaView {
                    online: s.online,
                    applied: s.applied.clone(),
                    in_flight: t.reads_in_flight(),
                    staleness: missing.map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
                    lag_bytes: s.lag_bytes,
                    replay_lag: s.replay_lag,
                }
            })
            .collect()
    }

    /// The inputs of one decision (advances the rotation).
    pub(super) fn ask<'a>(
        &self,
        floor: Option<&'a Position>,
        policy: &ReadPolicy,
        remaining: Duration,
        pinned: bool,
    ) -> Ask<'a> {
        let config = &self.inner.config;
        Ask {
            floor,
            floor_age: floor
                .and_then(|f| self.inner.history.time_of(f))
                .map(|t| t.elapsed()),
            fallback: policy.fallback,
            when_busy: policy.when_leader_busy,
            leader_busy: self.inner.leader_slots.busy(),
            remaining,
            bound: LagBound {
                time: config.max_replica_lag,
                bytes: config.max_replica_lag_bytes,
            },
            pinned,
            rotation: self.inner.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(super) fn pick_unfenced(&self, policy: &ReadPolicy) -> Pick {
        let pinned = RywContext::current().is_some_and(|ctx| ctx.take_leader_pin());
        decide(
            &self.ask(None, policy, Duration::ZERO, pinned),
            &self.snapshot(),
        )
        .into()
    }

    pub(super) async fn pick_fenced(
        &self,
        floor: &Position,
        policy: &ReadPolicy,
    ) -> (Pick, Option<Conn<B>>) {
        let ask = self.ask(Some(floor), policy, policy.wait_budget, false);
        match decide(&ask, &self.snapshot()) {
            Decision::Wait => {}
            Decision::Replica(i) => return (Pick::Replica(i), None),
            now => {
                if !policy.wait_budget.is_zero() {
                    self.inner
                        .counters
                        .waits_skipped
                        .fetch_add(1, Ordering::Relaxed);
                }
                return (now.into(), None);
            }
        }
        let deadline = Instant::now() + policy.wait_budget;
        let backend = &self.inner.pool.backend;
        if backend.has_server_wait() {
            // First let the trackers (polling fast once a reader waits) refresh the cache: a
            // replica that has already caught up is then used without a wait statement, and
            // a paused or stuck replica is not chosen for the server-side wait.
            let slice = deadline.min(Instant::now() + SERVER_WAIT_GRACE);
            match self
                .tracker_wait(floor, policy, deadline, slice, false)
                .await
            {
                Waited::Replica(i) => return (Pick::Replica(i), None),
                Waited::Hopeless => return (self.spent(floor, policy), None),
                Waited::Deadline => {}
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
        } else if let Waited::Replica(i) = self
            .tracker_wait(floor, policy, deadline, deadline, false)
            .await
        {
            return (Pick::Replica(i), None);
        }
        metrics::read_wait(policy.wait_budget, false);
        (self.spent(floor, policy), None)
    }

    /// The decision once waiting is over.
    fn spent(&self, floor: &Position, policy: &ReadPolicy) -> Pick {
        decide(
            &self.ask(Some(floor), policy, Duration::ZERO, false),
            &self.snapshot(),
        )
        .into()
    }

    /// Waits on the trackers' change signal until the decision names a replica, `until`
    /// passes (`deadline` is the end of the budget, for the estimates), or waiting no longer pays off (no replica is expected to reach the
    /// floor within the budget left: the estimate proved wrong) — unless `persist`, which
    /// waits for a replica whatever the estimate says.
    pub(super) async fn tracker_wait(
        &self,
        floor: &Position,
        policy: &ReadPolicy,
        deadline: Instant,
        until: Instant,
        persist: bool,
    ) -> Waited {
        let started = Instant::now();
        let _guards: Vec<_> = self.inner.trackers.iter().map(|t| t.wait_guard()).collect();
        let mut changed = self.inner.changed.subscribe();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let ask = self.ask(
                Some(floor),
                policy,
                remaining.max(Duration::from_nanos(1)),
                false,
            );
            match decide(&ask, &self.snapshot()) {
                Decision::Replica(i) => {
                    metrics::read_wait(started.elapsed(), true);
                    return Waited::Replica(i);
                }
                Decision::Wait => {}
                _ if persist => {}
                _ => return Waited::Hopeless,
            }
            // Re-decide at least every few polls: the estimate moves with the clock.
            let step = until.min(Instant::now() + RECHECK_EVERY);
            if tokio::time::timeout_at(step, changed.changed())
                .await
                .is_err()
                && Instant::now() >= until
            {
                return Waited::Deadline;
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

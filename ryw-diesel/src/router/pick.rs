//! Choosing a node for a read: covering replicas, waits, the fallback.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::{Fallback, Position, ReadPolicy, RywContext, metrics};
use tokio::time::Instant;

use super::*;

impl<B: ReplicationBackend> Router<B> {
    pub(super) fn online(&self) -> Vec<(usize, Option<Position>)> {
        self.inner
            .trackers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let s = t.status.borrow();
                s.online.then(|| (i, s.applied.clone()))
            })
            .collect()
    }

    pub(super) fn rotate(&self, n: usize) -> usize {
        self.inner.next.fetch_add(1, Ordering::Relaxed) % n.max(1)
    }

    pub(super) fn pick_unfenced(&self) -> Pick {
        if let Some(ctx) = RywContext::current()
            && ctx.take_leader_pin()
        {
            return Pick::Leader(FallbackReason::Pinned);
        }
        match self.choose(&self.online()) {
            Some(i) => Pick::Replica(i),
            None => Pick::Leader(FallbackReason::NoHealthyReplica),
        }
    }

    pub(super) fn covering(&self, floor: &Position) -> Vec<(usize, Option<Position>)> {
        self.online()
            .into_iter()
            .filter(|(_, at)| {
                at.as_ref()
                    .is_some_and(|a| a.covers(floor).unwrap_or(false))
            })
            .collect()
    }

    /// Among candidate replicas (index, applied position): the one running the fewest of
    /// this router's reads, then the freshest; full ties rotate. Any candidate is correct
    /// (the caller filtered them); this keeps a busy replica from queueing reads while an
    /// idle one waits, and otherwise serves from the least-lagged replica, whose data is
    /// the newest for readers without a floor of their own.
    pub(super) fn choose(&self, candidates: &[(usize, Option<Position>)]) -> Option<usize> {
        let n = candidates.len();
        let start = self.rotate(n);
        let in_use = |i: usize| {
            self.inner
                .trackers
                .get(i)
                .map_or(usize::MAX, |t| t.reads_in_flight())
        };
        let mut best: Option<(usize, usize, &Option<Position>)> = None;
        for k in 0..n {
            let (i, at) = &candidates[(start + k) % n];
            let busy = in_use(*i);
            let better = match &best {
                None => true,
                Some((_, b_busy, b_at)) => {
                    busy < *b_busy
                        || (busy == *b_busy && freshness(at, b_at) == std::cmp::Ordering::Greater)
                }
            };
            if better {
                best = Some((*i, busy, at));
            }
        }
        best.map(|(i, _, _)| i)
    }

    pub(super) async fn pick_fenced(
        &self,
        floor: &Position,
        policy: &ReadPolicy,
    ) -> (Pick, Option<Conn<B>>) {
        if let Some(i) = self.choose(&self.covering(floor)) {
            return (Pick::Replica(i), None);
        }
        let deadline = Instant::now() + policy.wait_budget;
        if !policy.wait_budget.is_zero() && !self.online().is_empty() {
            let backend = &self.inner.pool.backend;
            if backend.has_server_wait() {
                // First let the (just poked) trackers refresh the cache: a replica that has
                // already caught up is then used without a wait statement, and a paused or
                // stuck replica is not chosen for the server-side wait.
                let slice = deadline.min(Instant::now() + SERVER_WAIT_GRACE);
                if let Some(i) = self.tracker_wait(floor, slice).await {
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
            } else if let Some(i) = self.tracker_wait(floor, deadline).await {
                return (Pick::Replica(i), None);
            }
            metrics::read_wait(policy.wait_budget, false);
        }
        let online = self.online();
        let pick = match policy.fallback {
            Fallback::Leader => Pick::Leader(if online.is_empty() {
                FallbackReason::NoHealthyReplica
            } else {
                FallbackReason::BudgetExhausted
            }),
            Fallback::Error => Pick::Fail,
            // The freshest online replica; the leader when none is online.
            _ => online
                .iter()
                .max_by(|a, b| freshness(&a.1, &b.1))
                .map_or(Pick::Leader(FallbackReason::NoHealthyReplica), |(i, _)| {
                    Pick::Stale(*i)
                }),
        };
        (pick, None)
    }

    /// Waits on the trackers' change signal until an online replica covers `floor`.
    pub(super) async fn tracker_wait(&self, floor: &Position, deadline: Instant) -> Option<usize> {
        let started = Instant::now();
        let _guards: Vec<_> = self.inner.trackers.iter().map(|t| t.wait_guard()).collect();
        let mut changed = self.inner.changed.subscribe();
        loop {
            if let Some(i) = self.choose(&self.covering(floor)) {
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
        let online = self.online();
        let (i, _) = online.iter().max_by(|a, b| freshness(&a.1, &b.1))?;
        let mut conn = self.replica_conn(*i).await?;
        let name = &self.inner.trackers[*i].name;
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
            Ok(Ok(true)) => Some((*i, conn)),
            Ok(Ok(false)) => None,
            Ok(Err(e)) => {
                tracing::warn!(replica = %name, error = %e, "server-side wait failed");
                None
            }
            Err(_) => {
                let _ = deadpool::managed::Object::take(conn);
                self.count_deadline_hit();
                self.inner.trackers[*i].poke();
                self.warn_deadline(name, "server-side wait", overall);
                None
            }
        }
    }
}

/// Orders optional positions by freshness where they are comparable.
pub(super) fn freshness(a: &Option<Position>, b: &Option<Position>) -> std::cmp::Ordering {
    use std::cmp::Ordering as O;
    match (a, b) {
        (Some(a), Some(b)) => match (a.covers(b), b.covers(a)) {
            (Ok(true), Ok(false)) => O::Greater,
            (Ok(false), Ok(true)) => O::Less,
            _ => O::Equal,
        },
        (Some(_), None) => O::Greater,
        (None, Some(_)) => O::Less,
        (None, None) => O::Equal,
    }
}

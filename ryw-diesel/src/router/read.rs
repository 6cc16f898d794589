//! The read path: the floor, the pick, the closure on the chosen connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::time::{Duration, SystemTime};

use ryw_core::{Fallback, Floor, Position, ReadPolicy, RywContext, ScopeKey, metrics};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::*;

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
    /// A read that overruns [`RouterConfig::replica_read_timeout`] on a replica (frozen,
    /// overloaded) is abandoned there and, under [`Fallback::Leader`], run again on the
    /// leader — reads are idempotent, and the closure is `Clone` so it can be called twice
    /// (any closure capturing references or `Clone` values is).
    ///
    /// # Errors
    /// The closure's error; [`Error::FenceTimeout`] under [`Fallback::Error`]; pool errors.
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
        let span = tracing::debug_span!("ryw.read", scope = %scope);
        async move {
            let start = Instant::now();
            let (floor, unresolved) = self.floor(scope, policy).await;
            let (pick, waited_conn) = match &floor {
                _ if unresolved => (Pick::Leader(FallbackReason::Unfenced), None),
                None => (self.pick_unfenced(), None),
                Some(floor) => self.pick_fenced(floor, policy).await,
            };
            let waited = start.elapsed();
            let fenced = floor.is_some();
            // Counts the read on its replica while it runs: `choose` prefers idle replicas.
            let mut _running = None;
            let (mut conn, served_by, stale, fallback) = match pick {
                Pick::Replica(i) | Pick::Stale(i) => {
                    let stale = matches!(pick, Pick::Stale(_));
                    let tracker = &self.inner.trackers[i];
                    _running = Some(tracker.read_guard());
                    let conn = match waited_conn {
                        Some(c) => Some(c),
                        None => self.replica_conn(i).await,
                    };
                    match conn {
                        Some(c) => (c, ServedBy::Replica(Arc::clone(&tracker.name)), stale, None),
                        None => {
                            _running = None;
                            (
                                self.leader_conn().await.map_err(E::from)?,
                                ServedBy::Leader,
                                false,
                                Some(FallbackReason::NoHealthyReplica),
                            )
                        }
                    }
                }
                Pick::Leader(reason) => (
                    self.leader_conn().await.map_err(E::from)?,
                    ServedBy::Leader,
                    false,
                    Some(reason),
                ),
                Pick::Fail => {
                    self.inner
                        .counters
                        .fallbacks
                        .fetch_add(1, Ordering::Relaxed);
                    metrics::fallback("error");
                    return Err(E::from(Error::FenceTimeout {
                        scope: scope.to_string(),
                        position: floor.unwrap_or(Position::Lsn(ryw_core::position::Lsn::new(0))),
                        waited,
                    }));
                }
            };
            self.count_read(&served_by, fenced, stale, fallback);
            let name = match &served_by {
                ServedBy::Leader => {
                    let value = f(&mut conn).await?;
                    return Ok(Routed {
                        value,
                        served_by,
                        waited,
                        position: floor,
                        stale,
                        fallback,
                    });
                }
                ServedBy::Replica(name) => Arc::clone(name),
            };
            let deadline = self.inner.config.replica_read_timeout;
            let again = f.clone();
            if let Ok(v) = tokio::time::timeout(deadline, f(&mut conn)).await {
                return Ok(Routed {
                    value: v?,
                    served_by,
                    waited,
                    position: floor,
                    stale,
                    fallback,
                });
            }
            let abandoned = self.abandon_read(&name, conn);
            if policy.fallback != Fallback::Leader {
                return Err(E::from(abandoned));
            }
            // Reads are re-runnable (the closure is `Clone`): the leader serves this one.
            self.inner
                .counters
                .reads_rerun_on_leader
                .fetch_add(1, Ordering::Relaxed);
            metrics::read_rerun();
            let mut conn = self.leader_conn().await.map_err(E::from)?;
            self.count_read(
                &ServedBy::Leader,
                fenced,
                false,
                Some(FallbackReason::ReplicaDeadline),
            );
            let value = again(&mut conn).await?;
            Ok(Routed {
                value,
                served_by: ServedBy::Leader,
                waited,
                position: floor,
                stale: false,
                fallback: Some(FallbackReason::ReplicaDeadline),
            })
        }
        .instrument(span)
        .await
    }

    pub(super) fn count_read(
        &self,
        served_by: &ServedBy,
        fenced: bool,
        stale: bool,
        fallback: Option<FallbackReason>,
    ) {
        let c = &self.inner.counters;
        match served_by {
            ServedBy::Leader => {
                c.leader_reads.fetch_add(1, Ordering::Relaxed);
                metrics::read("leader", fenced);
            }
            ServedBy::Replica(_) => {
                c.replica_reads.fetch_add(1, Ordering::Relaxed);
                metrics::read("replica", fenced);
            }
        }
        if stale {
            metrics::stale_read();
        }
        if let Some(reason) = fallback {
            c.fallbacks.fetch_add(1, Ordering::Relaxed);
            metrics::fallback(reason.label());
        }
    }

    /// The floor a read of `scope` must see: context and store merged, after reconciling the
    /// context's floors with the leader's epoch history. Floors of another cluster of the
    /// same family are ignored and counted. A scope written without a known position (marked
    /// in the context or the store within the policy's window) is fenced by the leader's
    /// position read now, which covers that write; `true` when that position could not be
    /// read (the read must go to the leader).
    pub(super) async fn floor(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
    ) -> (Option<Position>, bool) {
        let inner = &self.inner;
        let ctx = RywContext::current();
        let mut floor = None;
        let mut marked = None;
        if let Some(ctx) = &ctx {
            self.reconcile(ctx).await;
            match ctx.required(&inner.cluster, scope) {
                Ok(p) => floor = p,
                Err(e) => tracing::warn!(scope = %scope, error = %e, "context floor unusable"),
            }
            marked = ctx.unfenced_since(&inner.cluster, scope);
            self.count_foreign(ctx, scope);
        }
        if let Some(store) = &inner.store {
            match store.lookup(&inner.cluster, scope).await {
                Ok(stored) => {
                    if let Some(p) = stored.position {
                        floor = Some(match floor {
                            None => p,
                            Some(f) => f.merge(&p).unwrap_or(f),
                        });
                    }
                    marked = marked.max(stored.unfenced_since);
                }
                Err(e) => self.store_failed(store.name(), scope, &e),
            }
        }
        let in_window = marked.is_some_and(|at| {
            SystemTime::now()
                .duration_since(at)
                .map_or(true, |age| age < policy.unfenced_window)
        });
        if !in_window {
            return (floor, false);
        }
        match self.leader_fence(ctx.as_ref(), scope).await {
            Some(p) => {
                let merged = match floor {
                    None => p,
                    Some(f) => f.merge(&p).unwrap_or(f),
                };
                (Some(merged), false)
            }
            None => (floor, true),
        }
    }

    /// The leader's current position as the fence of a scope written without a known
    /// position (it covers that write: the mark was made after its COMMIT returned). Raised in
    /// the context, which drops the context's mark. `None` when the leader cannot tell.
    async fn leader_fence(&self, ctx: Option<&RywContext>, scope: &ScopeKey) -> Option<Position> {
        let inner = &self.inner;
        match self
            .leader_position_by(
                Instant::now() + UNFENCED_FENCE_TIMEOUT,
                UNFENCED_FENCE_TIMEOUT,
            )
            .await
        {
            Ok(c) => {
                inner
                    .counters
                    .unfenced_resolved
                    .fetch_add(1, Ordering::Relaxed);
                metrics::unfenced_read("fenced_by_leader_position");
                if let Some(ctx) = ctx {
                    let floor = Floor::new(c.position.clone()).with_epoch(c.epoch);
                    if let Err(e) = ctx.raise_floor(&inner.cluster, scope, floor) {
                        tracing::warn!(scope = %scope, error = %e, "could not raise the context floor");
                    }
                }
                Some(c.position)
            }
            Err(e) => {
                inner
                    .counters
                    .unfenced_leader_reads
                    .fetch_add(1, Ordering::Relaxed);
                metrics::unfenced_read("leader");
                if let Some(folded) = inner.warnings.unfenced.check() {
                    tracing::warn!(scope = %scope, error = %e, folded, "a scope written without a known position cannot be fenced: reading it from the leader");
                }
                None
            }
        }
    }

    fn count_foreign(&self, ctx: &RywContext, scope: &ScopeKey) {
        let inner = &self.inner;
        let family = inner.pool.backend.family();
        let foreign = ctx.floors().clusters().any(|(c, f)| {
            c != &inner.cluster
                && c.as_str().starts_with(family)
                && (f.session().is_some() || f.scopes().any(|(s, _)| s == scope))
        });
        if foreign {
            inner
                .counters
                .foreign_floors
                .fetch_add(1, Ordering::Relaxed);
            metrics::foreign_floor();
            if let Some(folded) = inner.warnings.foreign.check() {
                tracing::warn!(scope = %scope, cluster = %inner.cluster, folded, "ignoring a floor from another cluster (a token or store entry of another deployment?)");
            }
        }
    }
}

/// Deadline for reading the leader's position to fence a scope written without one.
const UNFENCED_FENCE_TIMEOUT: Duration = Duration::from_secs(1);

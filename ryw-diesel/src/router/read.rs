//! The read path: the floor, the pick, the closure on the chosen connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ryw_core::{Position, ReadPolicy, RywContext, ScopeKey, metrics};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::*;

impl<B: Backend> Router<B> {
    /// Reads with the router's default policy. See [`read_with`](Self::read_with).
    ///
    /// # Errors
    /// As [`read_with`](Self::read_with).
    pub async fn read<R, E, F>(&self, scope: &ScopeKey, f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let policy = self.inner.config.policy;
        self.read_with(scope, &policy, f).await
    }

    /// Reads `scope` under `policy`: to a replica that has applied the scope's floor, waiting
    /// up to the budget, else the policy's fallback.
    ///
    /// # Errors
    /// The closure's error; [`Error::FenceTimeout`] under [`Fallback::Error`](ryw_core::Fallback::Error); pool errors.
    pub async fn read_with<R, E, F>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        f: F,
    ) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let span = tracing::debug_span!("ryw.read", scope = %scope);
        async move {
            let start = Instant::now();
            let floor = self.floor(scope).await;
            let (pick, waited_conn) = match &floor {
                None => (self.pick_unfenced(scope, policy), None),
                Some(floor) => self.pick_fenced(floor, policy).await,
            };
            let waited = start.elapsed();
            let fenced = floor.is_some();
            let (mut conn, served_by, stale, fallback) = match pick {
                Pick::Replica(i) | Pick::Stale(i) => {
                    let stale = matches!(pick, Pick::Stale(_));
                    let conn = match waited_conn {
                        Some(c) => Some(c),
                        None => self.replica_conn(i).await,
                    };
                    match conn {
                        Some(c) => (
                            c,
                            ServedBy::Replica(Arc::clone(&self.inner.trackers[i].name)),
                            stale,
                            None,
                        ),
                        None => (
                            self.leader_conn().await.map_err(E::from)?,
                            ServedBy::Leader,
                            false,
                            Some(FallbackReason::NoHealthyReplica),
                        ),
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
            let value = match &served_by {
                ServedBy::Leader => f(&mut conn).await?,
                ServedBy::Replica(name) => {
                    let deadline = self.inner.config.replica_read_timeout;
                    match tokio::time::timeout(deadline, f(&mut conn)).await {
                        Ok(v) => v?,
                        Err(_) => return Err(E::from(self.abandon_read(name, conn))),
                    }
                }
            };
            Ok(Routed {
                value,
                served_by,
                waited,
                position: floor,
                stale,
                fallback,
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

    /// The floor a read of `scope` must see: context and store merged. Floors of another
    /// cluster of the same family are ignored and counted (a failover does not make a new
    /// cluster: floors from before it stay fences).
    pub(super) async fn floor(&self, scope: &ScopeKey) -> Option<Position> {
        let inner = &self.inner;
        let ctx = RywContext::current();
        let mut floor = None;
        if let Some(ctx) = &ctx {
            match ctx.required(&inner.cluster, scope) {
                Ok(p) => floor = p,
                Err(e) => tracing::warn!(scope = %scope, error = %e, "context floor unusable"),
            }
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
        if let Some(store) = &inner.store {
            match store.get(&inner.cluster, scope).await {
                Ok(Some(p)) => {
                    floor = Some(match floor {
                        None => p,
                        Some(f) => f.merge(&p).unwrap_or(f),
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    inner.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                    metrics::store_error(store.name());
                    if let Some(folded) = inner.warnings.store.check() {
                        tracing::warn!(scope = %scope, error = %e, folded, "scope store unavailable; using the context floor only");
                    }
                }
            }
        }
        floor
    }
}

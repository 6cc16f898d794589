//! A read's floor: the request's own part (context, token), the scope store's part, and
//! how a scope written without a known position is fenced.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use ryw_core::{Floor, Position, ReadPolicy, RywContext, ScopeKey, StoredFloor, metrics};
use tokio::time::Instant;

use super::*;

/// The request's own part of a read's floor.
pub(super) struct Requested {
    /// The request's context, if any.
    pub(super) ctx: Option<RywContext>,
    /// The scope's floor in the context.
    pub(super) floor: Option<Position>,
    /// When the context marked the scope written without a known position.
    pub(super) marked: Option<SystemTime>,
}

/// Whether a scope marked at `marked` is still within the policy's unfenced window.
pub(super) fn in_window(marked: Option<SystemTime>, policy: &ReadPolicy) -> bool {
    marked.is_some_and(|at| {
        SystemTime::now()
            .duration_since(at)
            .map_or(true, |age| age < policy.unfenced_window)
    })
}

impl<B: ReplicationBackend> Router<B> {
    /// The request's own part of the floor (context and token), after reconciling the
    /// context's floors with the leader's epoch history; no store round trip.
    pub(super) async fn requested(&self, scope: &ScopeKey) -> Requested {
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
        Requested { ctx, floor, marked }
    }

    /// The store's part: `None` without a store or when it failed (counted and warned; the
    /// request's own floors still apply).
    pub(super) async fn stored(&self, scope: &ScopeKey) -> Option<StoredFloor> {
        let inner = &self.inner;
        let store = inner.store.as_ref()?;
        match store.lookup(&inner.cluster, scope).await {
            Ok(stored) => Some(stored),
            Err(e) => {
                self.store_failed(store.name(), scope, &e);
                None
            }
        }
    }

    /// The floor a read of `scope` must see: both parts merged. Floors of another cluster of
    /// the same family were ignored and counted. A scope written without a known position
    /// (marked in the context or the store within the policy's window) is fenced by the
    /// leader's position read now, which covers that write; `true` when that position could
    /// not be read (the read must go to the leader).
    pub(super) async fn resolve(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        requested: Requested,
        stored: Option<StoredFloor>,
    ) -> (Option<Position>, bool) {
        let Requested {
            ctx,
            mut floor,
            mut marked,
        } = requested;
        if let Some(stored) = stored {
            if let Some(p) = stored.position {
                floor = Some(match floor {
                    None => p,
                    Some(f) => f.merge(&p).unwrap_or(f),
                });
            }
            marked = marked.max(stored.unfenced_since);
        }
        if !in_window(marked, policy) {
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

//! Where floors come from and go: the request's own part (context, token), the scope
//! store's part, their one merge, the fence of a scope written without a known position, and
//! the raise after a write.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ryw_core::{
    ClusterId, EpochHistory, EpochStamp, Family, Floor, Position, RywContext, ScopeKey, ScopeStore,
    StoredFloor,
};

use super::leader::Leader;
use super::ledger::{Event, Ledger};
use crate::backend::{Captured, ReplicationBackend};

/// Deadline for reading the leader's position to fence a scope written without one.
const UNFENCED_FENCE_TIMEOUT: Duration = Duration::from_secs(1);

/// The request's own part of a read's floor.
pub(super) struct Requested {
    /// The request's context, if any.
    pub(super) ctx: Option<RywContext>,
    /// The scope's floor in the context.
    pub(super) floor: Option<Position>,
    /// When the context marked the scope written without a known position.
    pub(super) marked: Option<SystemTime>,
}

impl Requested {
    /// Both parts merged: the floor and the latest mark.
    pub(super) fn with(
        &self,
        stored: Option<&StoredFloor>,
    ) -> (Option<Position>, Option<SystemTime>) {
        let from_store = stored.and_then(|s| s.position.clone());
        let marked = self.marked.max(stored.and_then(|s| s.unfenced_since));
        (Position::max_of(self.floor.clone(), from_store), marked)
    }
}

/// A read's floor once the store answered: `unresolved` when a scope written without a known
/// position could not be fenced (the leader must serve the read).
pub(super) struct Resolved {
    pub(super) floor: Option<Position>,
    pub(super) unresolved: bool,
}

/// The floor part of a router: the cluster's floors in contexts and in the store.
pub(super) struct FloorSource {
    store: Option<Arc<dyn ScopeStore>>,
    cluster: ClusterId,
    /// This backend's family (floors of another cluster of it are recognised).
    family: Family,
    ttl: Duration,
    /// The router's unfenced window: marks are written only when it is not zero.
    window: Duration,
    ledger: Arc<Ledger>,
}

impl FloorSource {
    pub(super) fn new(
        store: Option<Arc<dyn ScopeStore>>,
        cluster: ClusterId,
        family: Family,
        (ttl, window): (Duration, Duration),
        ledger: Arc<Ledger>,
    ) -> Self {
        Self {
            store,
            cluster,
            family,
            ttl,
            window,
            ledger,
        }
    }

    /// The cluster the floors are of.
    pub(super) fn cluster(&self) -> &ClusterId {
        &self.cluster
    }

    pub(super) fn has_store(&self) -> bool {
        self.store.is_some()
    }

    /// Whether a scope marked at `marked` is still within the router's unfenced window.
    pub(super) fn in_window(&self, marked: Option<SystemTime>) -> bool {
        marked.is_some_and(|at| {
            SystemTime::now()
                .duration_since(at)
                .map_or(true, |age| age < self.window)
        })
    }

    /// The request's own part of the floor (context and token); no store round trip.
    pub(super) fn requested(&self, ctx: Option<RywContext>, scope: &ScopeKey) -> Requested {
        let mut floor = None;
        let mut marked = None;
        if let Some(ctx) = &ctx {
            match ctx.required(&self.cluster, scope) {
                Ok(p) => floor = p,
                Err(e) => tracing::warn!(scope = %scope, error = %e, "context floor unusable"),
            }
            marked = ctx.unfenced_since(&self.cluster, scope);
            self.count_foreign(ctx, scope);
        }
        Requested { ctx, floor, marked }
    }

    /// The store's part: `None` without a store. When the store fails (booked), the scope
    /// may have been written by a client whose floor only the store holds (another device
    /// without the token, another instance): it is taken as written without a known
    /// position just now, so the read is fenced by the leader's position (see
    /// [`resolve`](Self::resolve)) — the request's own floors still apply.
    ///
    /// With `nodes`, the feed entries of those replicas come back from the same round trip
    /// where the store can (else none).
    pub(super) async fn stored(
        &self,
        scope: &ScopeKey,
        nodes: &[&str],
    ) -> Option<(StoredFloor, Vec<Option<ryw_core::store::FeedEntry>>)> {
        let store = self.store.as_ref()?;
        let found = if nodes.is_empty() {
            store
                .lookup(&self.cluster, scope)
                .await
                .map(|s| (s, Vec::new()))
        } else {
            store.lookup_fed(&self.cluster, scope, nodes).await
        };
        match found {
            Ok(found) => Some(found),
            Err(error) => {
                self.store_failed(store.name(), scope, &error);
                let mut unknown = StoredFloor::default();
                unknown.unfenced_since = Some(SystemTime::now());
                Some((unknown, Vec::new()))
            }
        }
    }

    /// The floor a read of `scope` must see: both parts merged. A scope written without a
    /// known position (marked in the context or the store within the router's window) is
    /// fenced by the leader's position read now, which covers that write (the mark was made
    /// after its COMMIT returned); it is raised in the context, which drops the mark.
    pub(super) async fn resolve<B: ReplicationBackend>(
        &self,
        scope: &ScopeKey,
        requested: &Requested,
        stored: Option<&StoredFloor>,
        leader: &Leader<B>,
    ) -> Resolved {
        let (floor, marked) = requested.with(stored);
        if !self.in_window(marked) {
            return Resolved {
                floor,
                unresolved: false,
            };
        }
        let now = tokio::time::Instant::now();
        match leader.position_since(now, UNFENCED_FENCE_TIMEOUT).await {
            Ok(c) => {
                self.ledger.record(Event::UnfencedResolved);
                if let Some(ctx) = &requested.ctx {
                    self.raise_in(ctx, scope, &c);
                }
                Resolved {
                    floor: Position::max_of(floor, Some(c.position)),
                    unresolved: false,
                }
            }
            Err(error) => {
                let error = &error;
                self.ledger.record(Event::UnfencedOnLeader { scope, error });
                Resolved {
                    floor,
                    unresolved: true,
                }
            }
        }
    }

    /// Raises every scope's floor to `captured` in the current context and the store (one
    /// call for all of them). `history` (the leader's epochs) lets the store settle a floor
    /// of an earlier epoch it holds before merging.
    pub(super) async fn raise(
        &self,
        scopes: &[ScopeKey],
        captured: &Captured,
        history: Option<&EpochHistory>,
    ) {
        let Some(first) = scopes.first() else {
            return;
        };
        let ctx = RywContext::current();
        if ctx.is_none() && self.store.is_none() {
            self.ledger.record(Event::UnfencedBySetup { scope: first });
        }
        if let Some(ctx) = &ctx {
            for scope in scopes {
                self.raise_in(ctx, scope, captured);
            }
        }
        if let Some(store) = &self.store
            && let Err(e) = store
                .raise_stamped(
                    &self.cluster,
                    scopes,
                    &captured.position,
                    EpochStamp::new(captured.epoch, history),
                    self.ttl,
                )
                .await
        {
            self.store_failed(store.name(), first, &e);
        }
    }

    /// Replaces a store floor the failover lost part of by what survived of it (`kept`, on
    /// the current epoch of `history`), so the store stops fencing the lost write for every
    /// instance. A floor raised meanwhile is kept (the store merges).
    pub(super) async fn settle_in_store(
        &self,
        scope: &ScopeKey,
        kept: &Position,
        history: &EpochHistory,
    ) {
        let Some(store) = &self.store else {
            return;
        };
        let stamp = EpochStamp::new(Some(history.current()), Some(history));
        let scopes = std::slice::from_ref(scope);
        if let Err(e) = store
            .raise_stamped(&self.cluster, scopes, kept, stamp, self.ttl)
            .await
        {
            self.store_failed(store.name(), scope, &e);
        }
    }

    /// A write of `scopes` committed without a known position: mark them in the context (so
    /// the outgoing token) and the store, unless the router's window is zero.
    pub(super) async fn mark_unfenced(&self, scopes: &[ScopeKey]) {
        if self.window.is_zero() {
            return;
        }
        let ctx = RywContext::current();
        for scope in scopes {
            if let Some(ctx) = &ctx {
                ctx.mark_unfenced_write(&self.cluster, scope);
            }
            if let Some(store) = &self.store
                && let Err(e) = store.mark_unfenced(&self.cluster, scope, self.window).await
            {
                self.store_failed(store.name(), scope, &e);
            }
        }
    }

    /// Raises the session-wide floor of `ctx` (monotonic reads).
    pub(super) fn raise_session(&self, ctx: &RywContext, position: Position, epoch: Option<u32>) {
        let floor = Floor::new(position).with_epoch(epoch);
        if let Err(e) = ctx.raise_session_floor(&self.cluster, floor) {
            tracing::warn!(error = %e, "could not raise the session floor");
        }
    }

    fn raise_in(&self, ctx: &RywContext, scope: &ScopeKey, captured: &Captured) {
        let floor = Floor::new(captured.position.clone()).with_epoch(captured.epoch);
        if let Err(e) = ctx.raise_floor(&self.cluster, scope, floor) {
            tracing::warn!(scope = %scope, error = %e, "could not raise the context floor");
        }
    }

    fn store_failed(&self, store: &'static str, scope: &ScopeKey, error: &ryw_core::RywError) {
        self.ledger.record(Event::StoreError {
            store,
            scope,
            error,
        });
    }

    /// Books a floor of another cluster of the same family in the context (a token of
    /// another deployment): it is ignored.
    fn count_foreign(&self, ctx: &RywContext, scope: &ScopeKey) {
        let ours = &self.cluster;
        let floors = ctx.floors();
        let foreign = floors.clusters().find(|(c, f)| {
            *c != ours
                && c.family() == Some(self.family)
                && (f.session().is_some() || f.scopes().any(|(s, _)| s == scope))
        });
        if let Some((foreign, _)) = foreign {
            self.ledger.record(Event::ForeignFloor {
                scope,
                foreign,
                ours,
            });
        }
    }
}

//! Cluster identities, scope keys and the per-scope floors a session must read at or past.

mod epochs;
mod floor;
mod keys;

use std::collections::BTreeMap;
use std::time::SystemTime;

pub use epochs::{EpochHistory, LostFloor, Settled};
pub use floor::Floor;
pub(crate) use floor::{from_unix_ms, unix_ms};
pub use keys::{ClusterId, Family, ScopeKey, ScopeValue};

use crate::RywError;
use crate::position::Position;
use floor::raise_slot;

/// The floors of one cluster: per-scope floors, an optional session-wide floor that applies
/// to every scope (where scopes were folded when a token had to stay small), and the scopes
/// written without a known position ("unfenced" writes, see [`Floors::mark_unfenced`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFloors {
    session: Option<Floor>,
    scopes: BTreeMap<ScopeKey, Floor>,
    /// Unix ms of the latest unfenced write per scope.
    unfenced: BTreeMap<ScopeKey, u64>,
    /// Unix ms of the latest unfenced write of any folded scope.
    session_unfenced: Option<u64>,
}

impl ClusterFloors {
    /// The session-wide floor's position, if any.
    #[must_use]
    pub fn session(&self) -> Option<&Position> {
        self.session.as_ref().map(Floor::position)
    }

    /// The per-scope floors' positions.
    pub fn scopes(&self) -> impl Iterator<Item = (&ScopeKey, &Position)> {
        self.scopes.iter().map(|(s, f)| (s, f.position()))
    }

    /// The session-wide floor with its metadata.
    #[must_use]
    pub fn session_floor(&self) -> Option<&Floor> {
        self.session.as_ref()
    }

    /// The per-scope floors with their metadata.
    pub fn scope_floors(&self) -> impl Iterator<Item = (&ScopeKey, &Floor)> {
        self.scopes.iter()
    }

    /// Scopes written without a known position, and when.
    pub fn unfenced(&self) -> impl Iterator<Item = (&ScopeKey, SystemTime)> {
        self.unfenced.iter().map(|(s, at)| (s, from_unix_ms(*at)))
    }

    /// When a folded scope was last written without a known position (applies to every
    /// scope of the cluster).
    #[must_use]
    pub fn session_unfenced(&self) -> Option<SystemTime> {
        self.session_unfenced.map(from_unix_ms)
    }

    pub(crate) fn set_session_unfenced(&mut self, at_ms: Option<u64>) {
        self.session_unfenced = at_ms;
    }

    pub(crate) fn insert_unfenced(&mut self, scope: ScopeKey, at_ms: u64) {
        let slot = self.unfenced.entry(scope).or_insert(at_ms);
        *slot = (*slot).max(at_ms);
    }

    fn is_empty(&self) -> bool {
        self.session.is_none()
            && self.scopes.is_empty()
            && self.unfenced.is_empty()
            && self.session_unfenced.is_none()
    }

    /// Drops unfenced marks that a floor raised at or after them supersedes: a mark is made
    /// only after its write's COMMIT returned (and a capture retry failed), so a position
    /// captured from then on covers the write.
    fn prune_marks(&mut self) {
        let scopes = &self.scopes;
        self.unfenced
            .retain(|s, at| scopes.get(s).is_none_or(|f| f.raised_ms() < *at));
        if let (Some(at), Some(f)) = (self.session_unfenced, &self.session)
            && f.raised_ms() >= at
        {
            self.session_unfenced = None;
        }
    }
}

/// Floors for any number of clusters and scopes: "a read for scope `s` of cluster `c` must
/// see at least this position". The data model shared by the request context, the session
/// token and the scope store.
///
/// ```
/// use ryw_core::{ClusterId, Floors, ScopeKey, position::{Lsn, Position}};
/// let cluster = ClusterId::new("pg:7300000000000000001");
/// let mut floors = Floors::default();
/// floors.raise(&cluster, &ScopeKey::of("user_id", 1), Lsn::new(100).into())?;
/// floors.raise(&cluster, &ScopeKey::of("user_id", 1), Lsn::new(50).into())?; // never lowers
/// assert_eq!(
///     floors.required(&cluster, &ScopeKey::of("user_id", 1))?,
///     Some(Position::Lsn(Lsn::new(100)))
/// );
/// assert_eq!(floors.required(&cluster, &ScopeKey::of("user_id", 2))?, None);
/// # Ok::<(), ryw_core::RywError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floors {
    clusters: BTreeMap<ClusterId, ClusterFloors>,
}

impl Floors {
    /// Raises the floor of `scope` in `cluster` to cover `pos`, raised now on no known epoch
    /// (never lowers it). Returns whether the floor changed.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the scope already holds a floor of another kind;
    /// the held floor is kept.
    pub fn raise(
        &mut self,
        cluster: &ClusterId,
        scope: &ScopeKey,
        pos: Position,
    ) -> Result<bool, RywError> {
        self.raise_floor(cluster, scope, Floor::new(pos))
    }

    /// Raises the floor of `scope` in `cluster` with `floor` (position, raise time, epoch).
    /// An unfenced mark of the scope older than the floor is dropped: the floor covers that
    /// write. Returns whether the position or epoch changed.
    ///
    /// # Errors
    /// As [`raise`](Self::raise).
    pub fn raise_floor(
        &mut self,
        cluster: &ClusterId,
        scope: &ScopeKey,
        floor: Floor,
    ) -> Result<bool, RywError> {
        let floors = self.clusters.entry(cluster.clone()).or_default();
        let mut slot = floors.scopes.remove(scope);
        let result = raise_slot(&mut slot, floor, scope.as_str());
        if let Some(f) = slot {
            floors.scopes.insert(scope.clone(), f);
        }
        floors.prune_marks();
        result
    }

    /// Raises the session-wide floor of `cluster`, which applies to every scope.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the session floor is of another kind.
    pub fn raise_session(&mut self, cluster: &ClusterId, pos: Position) -> Result<bool, RywError> {
        self.raise_session_floor(cluster, Floor::new(pos))
    }

    /// Raises the session-wide floor of `cluster` with `floor`.
    ///
    /// # Errors
    /// As [`raise_session`](Self::raise_session).
    pub fn raise_session_floor(
        &mut self,
        cluster: &ClusterId,
        floor: Floor,
    ) -> Result<bool, RywError> {
        let floors = self.clusters.entry(cluster.clone()).or_default();
        let result = raise_slot(&mut floors.session, floor, "<session>");
        floors.prune_marks();
        result
    }

    /// Records that `scope` was written at `at` but no position could be captured for it
    /// (the leader went away between COMMIT and the capture). Until a later floor covers
    /// the scope, routers treat its reads as fenced by the leader's current position.
    pub fn mark_unfenced(&mut self, cluster: &ClusterId, scope: &ScopeKey, at: SystemTime) {
        let floors = self.clusters.entry(cluster.clone()).or_default();
        floors.insert_unfenced(scope.clone(), unix_ms(at));
        floors.prune_marks();
    }

    /// When `scope` of `cluster` was last written without a known position and no floor
    /// raised since covers it (its own mark or a folded, session-wide one).
    #[must_use]
    pub fn unfenced_since(&self, cluster: &ClusterId, scope: &ScopeKey) -> Option<SystemTime> {
        let floors = self.clusters.get(cluster)?;
        floors
            .unfenced
            .get(scope)
            .copied()
            .max(floors.session_unfenced)
            .map(from_unix_ms)
    }

    /// The position a read of `scope` in `cluster` must see: the scope's floor merged with
    /// the session-wide floor. `None` when there is neither.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the two are of different kinds.
    pub fn required(
        &self,
        cluster: &ClusterId,
        scope: &ScopeKey,
    ) -> Result<Option<Position>, RywError> {
        let Some(floors) = self.clusters.get(cluster) else {
            return Ok(None);
        };
        let mut out = floors.session.clone();
        if let Some(f) = floors.scopes.get(scope) {
            raise_slot(&mut out, f.clone(), scope.as_str())?;
        }
        Ok(out.map(|f| f.position().clone()))
    }

    /// Merges every floor and unfenced mark of `other` into `self`. Floors that conflict in
    /// kind are skipped (the held one is kept) and the first such error is returned after all
    /// others merged.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] for the first conflicting floor.
    pub fn merge_from(&mut self, other: &Self) -> Result<(), RywError> {
        let mut first_err = None;
        for (cluster, theirs) in &other.clusters {
            if let Some(s) = &theirs.session
                && let Err(e) = self.raise_session_floor(cluster, s.clone())
            {
                first_err.get_or_insert(e);
            }
            for (scope, f) in &theirs.scopes {
                if let Err(e) = self.raise_floor(cluster, scope, f.clone()) {
                    first_err.get_or_insert(e);
                }
            }
            let ours = self.clusters.entry(cluster.clone()).or_default();
            for (scope, at) in &theirs.unfenced {
                ours.insert_unfenced(scope.clone(), *at);
            }
            ours.session_unfenced = ours.session_unfenced.max(theirs.session_unfenced);
            ours.prune_marks();
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The clusters and their floors.
    pub fn clusters(&self) -> impl Iterator<Item = (&ClusterId, &ClusterFloors)> {
        self.clusters.iter()
    }

    pub(crate) fn cluster_mut(&mut self, cluster: &ClusterId) -> &mut ClusterFloors {
        self.clusters.entry(cluster.clone()).or_default()
    }

    /// Whether there is no floor and no unfenced mark at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.clusters.values().all(ClusterFloors::is_empty)
    }

    /// Number of per-scope floors over all clusters.
    #[must_use]
    pub fn scope_count(&self) -> usize {
        self.clusters.values().map(|c| c.scopes.len()).sum()
    }

    /// Drops every floor and unfenced mark raised before `cutoff`, and clusters left empty.
    /// Returns how many floors and marks were dropped. A floor older than the horizon has been
    /// replayed by every replica that still serves reads, so it no longer constrains any.
    pub fn shed_older_than(&mut self, cutoff: SystemTime) -> usize {
        let cutoff = unix_ms(cutoff);
        let mut shed = 0;
        for floors in self.clusters.values_mut() {
            if floors
                .session
                .as_ref()
                .is_some_and(|f| f.raised_ms() < cutoff)
            {
                floors.session = None;
                shed += 1;
            }
            if floors.session_unfenced.is_some_and(|at| at < cutoff) {
                floors.session_unfenced = None;
                shed += 1;
            }
            let before = floors.scopes.len() + floors.unfenced.len();
            floors.scopes.retain(|_, f| f.raised_ms() >= cutoff);
            floors.unfenced.retain(|_, at| *at >= cutoff);
            shed += before - floors.scopes.len() - floors.unfenced.len();
        }
        self.clusters.retain(|_, f| !f.is_empty());
        shed
    }

    /// Folds per-scope floors into their cluster's session-wide floor until at most
    /// `max_scopes` remain. Folding only over-approximates (a folded scope's reads may wait
    /// for a position they did not need), it never drops a floor. For LSNs the lowest floors
    /// are folded first, so the session floor stays below the scopes that remain.
    pub fn fold_to(&mut self, max_scopes: usize) {
        let excess = self.scope_count().saturating_sub(max_scopes);
        if excess == 0 {
            return;
        }
        let mut candidates: Vec<(bool, u64, ClusterId, ScopeKey)> = self
            .clusters
            .iter()
            .flat_map(|(c, f)| {
                f.scopes.iter().map(move |(s, p)| match p.position() {
                    Position::Lsn(l) => (false, l.as_u64(), c.clone(), s.clone()),
                    _ => (true, 0, c.clone(), s.clone()),
                })
            })
            .collect();
        candidates.sort();
        for (_, _, cluster, scope) in candidates.into_iter().take(excess) {
            let Some(floors) = self.clusters.get_mut(&cluster) else {
                continue;
            };
            let Some(pos) = floors.scopes.remove(&scope) else {
                continue;
            };
            if raise_slot(&mut floors.session, pos.clone(), scope.as_str()).is_err() {
                // Cannot fold a floor of another kind: keep it rather than lose it.
                floors.scopes.insert(scope, pos);
            }
        }
    }

    /// Folds unfenced marks into their cluster's session-wide mark once there are more
    /// than `max_marks` of them: every scope of that cluster is then treated as unfenced
    /// (over-approximating, never dropping a mark).
    pub fn fold_marks_to(&mut self, max_marks: usize) {
        let total: usize = self.clusters.values().map(|c| c.unfenced.len()).sum();
        if total <= max_marks {
            return;
        }
        for floors in self.clusters.values_mut() {
            let latest = std::mem::take(&mut floors.unfenced).into_values().max();
            floors.session_unfenced = floors.session_unfenced.max(latest);
        }
    }
}

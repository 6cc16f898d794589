//! Cluster identities, scope keys and the per-scope floors a session must read at or past.

mod keys;

use std::collections::BTreeMap;

pub use keys::{ClusterId, ScopeKey, ScopeValue};

use crate::RywError;
use crate::position::Position;

/// The floors of one cluster: per-scope positions and an optional session-wide floor that
/// applies to every scope (where scopes were folded when a token had to stay small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFloors {
    session: Option<Position>,
    scopes: BTreeMap<ScopeKey, Position>,
}

impl ClusterFloors {
    /// The session-wide floor, if any.
    #[must_use]
    pub fn session(&self) -> Option<&Position> {
        self.session.as_ref()
    }

    /// The per-scope floors.
    pub fn scopes(&self) -> impl Iterator<Item = (&ScopeKey, &Position)> {
        self.scopes.iter()
    }
}

/// Floors for any number of clusters and scopes: "a read for scope `s` of cluster `c` must
/// see at least this position". The data model shared by the request context, the session
/// token and the scope store.
///
/// ```
/// use ryw_core::{ClusterId, Floors, ScopeKey, position::{Lsn, Position}};
/// let cluster = ClusterId::new("pg:7300000000000000001:1");
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

fn raise_slot(slot: &mut Option<Position>, pos: Position, scope: &str) -> Result<bool, RywError> {
    match slot {
        None => {
            *slot = Some(pos);
            Ok(true)
        }
        Some(cur) => {
            let merged = cur.merge(&pos).map_err(|_| RywError::ScopeKindMismatch {
                scope: scope.to_owned(),
                held: cur.kind(),
                offered: pos.kind(),
            })?;
            let changed = merged != *cur;
            *cur = merged;
            Ok(changed)
        }
    }
}

impl Floors {
    /// Raises the floor of `scope` in `cluster` to cover `pos` (never lowers it).
    /// Returns whether the floor changed.
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
        let floors = self.clusters.entry(cluster.clone()).or_default();
        let mut slot = floors.scopes.remove(scope);
        let result = raise_slot(&mut slot, pos, scope.as_str());
        if let Some(p) = slot {
            floors.scopes.insert(scope.clone(), p);
        }
        result
    }

    /// Raises the session-wide floor of `cluster`, which applies to every scope.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the session floor is of another kind.
    pub fn raise_session(&mut self, cluster: &ClusterId, pos: Position) -> Result<bool, RywError> {
        let floors = self.clusters.entry(cluster.clone()).or_default();
        raise_slot(&mut floors.session, pos, "<session>")
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
        if let Some(p) = floors.scopes.get(scope) {
            raise_slot(&mut out, p.clone(), scope.as_str())?;
        }
        Ok(out)
    }

    /// Merges every floor of `other` into `self`. Floors that conflict in kind are skipped
    /// (the held one is kept) and the first such error is returned after all others merged.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] for the first conflicting floor.
    pub fn merge_from(&mut self, other: &Self) -> Result<(), RywError> {
        let mut first_err = None;
        for (cluster, theirs) in &other.clusters {
            if let Some(s) = &theirs.session
                && let Err(e) = self.raise_session(cluster, s.clone())
            {
                first_err.get_or_insert(e);
            }
            for (scope, p) in &theirs.scopes {
                if let Err(e) = self.raise(cluster, scope, p.clone()) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The clusters and their floors.
    pub fn clusters(&self) -> impl Iterator<Item = (&ClusterId, &ClusterFloors)> {
        self.clusters.iter()
    }

    /// Whether there is no floor at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.clusters
            .values()
            .all(|c| c.session.is_none() && c.scopes.is_empty())
    }

    /// Number of per-scope floors over all clusters.
    #[must_use]
    pub fn scope_count(&self) -> usize {
        self.clusters.values().map(|c| c.scopes.len()).sum()
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
                f.scopes.iter().map(move |(s, p)| match p {
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
}

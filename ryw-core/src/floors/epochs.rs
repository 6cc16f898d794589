//! Floors across a failover: which survive in the new leader's history, which were lost.

use std::collections::BTreeMap;

use super::{ClusterId, Floor, Floors, ScopeKey};
use crate::position::{LeaderHolds, Position};

/// A leader's epoch history: its current epoch and, for each earlier epoch it descends
/// from, the position where that epoch ended (Postgres: the timeline and its `.history`
/// file, whose lines are `parent-timeline  switch-point  reason`).
///
/// ```
/// use ryw_core::{EpochHistory, position::{Lsn, Position}};
/// let h = EpochHistory::new(3)
///     .with_end(1, Lsn::new(0x300_0000).into())
///     .with_end(2, Lsn::new(0x500_0000).into());
/// assert_eq!(h.end_of(2), Some(&Position::Lsn(Lsn::new(0x500_0000))));
/// assert_eq!(h.end_of(3), None); // the current epoch has not ended
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochHistory {
    current: u32,
    ends: BTreeMap<u32, Position>,
}

impl EpochHistory {
    /// The history of a leader on epoch `current` with no known ancestors.
    #[must_use]
    pub fn new(current: u32) -> Self {
        Self {
            current,
            ends: BTreeMap::new(),
        }
    }

    /// Adds an ancestor epoch and the position where it ended.
    #[must_use]
    pub fn with_end(mut self, epoch: u32, end: Position) -> Self {
        if epoch < self.current {
            self.ends.insert(epoch, end);
        }
        self
    }

    /// The leader's current epoch.
    #[must_use]
    pub fn current(&self) -> u32 {
        self.current
    }

    #[doc(hidden)]
    /// Every ancestor epoch the history holds and where it ended, oldest first.
    pub fn ends(&self) -> impl Iterator<Item = (u32, &Position)> {
        self.ends.iter().map(|(e, p)| (*e, p))
    }

    /// Where ancestor epoch `epoch` ended, if the history holds it.
    #[must_use]
    pub fn end_of(&self, epoch: u32) -> Option<&Position> {
        self.ends.get(&epoch)
    }
}

/// A floor that a failover lost: its position lies beyond the point where its epoch ended,
/// so the write it fences is not in the new leader's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostFloor {
    /// The scope, or `None` for the session-wide floor.
    pub scope: Option<ScopeKey>,
    /// The epoch the floor was captured on.
    pub epoch: u32,
    /// The position that was lost.
    pub lost: Position,
    /// What the floor was lowered to: the end of its epoch, which the new history holds.
    pub kept: Position,
}

/// What a floor of an earlier epoch still fences under a leader's history
/// ([`EpochHistory::settle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Nothing to do: the floor is on the current (or a later) epoch, carries no epoch, or its
    /// epoch's end is not in the history (a fence is never dropped on a guess).
    Unchanged,
    /// Inside the new history: the same fence, now an epoch-`current` floor.
    Survived,
    /// Beyond the end of its epoch: the write it fences was lost; `kept` (the end of its
    /// epoch) is what the new history holds of it.
    Lost {
        /// The end of the floor's epoch.
        kept: Position,
    },
}

impl EpochHistory {
    #[doc(hidden)]
    /// What `position`, captured on `epoch`, still fences in this history.
    ///
    /// ```
    /// use ryw_core::{EpochHistory, Settled, position::{Lsn, Position}};
    /// let h = EpochHistory::new(2).with_end(1, Lsn::new(0x500).into());
    /// let at = |n| Position::Lsn(Lsn::new(n));
    /// assert_eq!(h.settle(&at(0x400), Some(1)), Settled::Survived);
    /// assert_eq!(h.settle(&at(0x600), Some(1)), Settled::Lost { kept: at(0x500) });
    /// assert_eq!(h.settle(&at(0x600), Some(2)), Settled::Unchanged);
    /// assert_eq!(h.settle(&at(0x600), None), Settled::Unchanged);
    /// ```
    #[must_use]
    pub fn settle(&self, position: &Position, epoch: Option<u32>) -> Settled {
        let Some(epoch) = epoch.filter(|e| *e < self.current) else {
            return Settled::Unchanged;
        };
        let Some(end) = self.end_of(epoch) else {
            return Settled::Unchanged;
        };
        match end.covers(position) {
            Ok(true) => Settled::Survived,
            Ok(false) => Settled::Lost { kept: end.clone() },
            Err(_) => Settled::Unchanged,
        }
    }
}

/// What becomes of one floor under `history`: `None` to keep it as it is.
fn reconcile(floor: &Floor, history: &EpochHistory) -> Option<(Position, bool)> {
    match history.settle(floor.position(), floor.epoch()) {
        Settled::Unchanged => None,
        Settled::Survived => Some((floor.position().clone(), false)),
        Settled::Lost { kept } => Some((kept, true)),
    }
}

impl Floors {
    /// Reconciles `cluster`'s floors with the leader's epoch history after a failover.
    ///
    /// A floor captured on an earlier epoch that ended at or past it is still a fence (the
    /// position space continues across the switch): it is kept, relabelled to the current
    /// epoch. A floor beyond its epoch's end fences a write the failover lost: it is lowered
    /// to the end of its epoch (the session's earlier writes did survive and stay fenced) and
    /// returned, so the caller can count and report it. Floors on an epoch the history does
    /// not hold, or on a later one, are kept as they are (a fence is never dropped on a guess).
    pub fn reconcile_epochs(
        &mut self,
        cluster: &ClusterId,
        history: &EpochHistory,
    ) -> Vec<LostFloor> {
        let Some(floors) = self.clusters.get_mut(cluster) else {
            return Vec::new();
        };
        let mut lost = Vec::new();
        let mut apply = |scope: Option<&ScopeKey>, floor: &mut Floor| {
            let Some((kept, was_lost)) = reconcile(floor, history) else {
                return;
            };
            if was_lost {
                lost.push(LostFloor {
                    scope: scope.cloned(),
                    epoch: floor.epoch().unwrap_or_default(),
                    lost: floor.position().clone(),
                    kept: kept.clone(),
                });
            }
            floor.set_position(kept, Some(history.current()));
        };
        if let Some(f) = floors.session.as_mut() {
            apply(None, f);
        }
        for (scope, f) in &mut floors.scopes {
            apply(Some(scope), f);
        }
        lost
    }

    /// Whether any floor of `cluster` has a part `leader` can never have (see
    /// [`settle_unreachable`](Self::settle_unreachable)); changes nothing.
    #[must_use]
    pub fn any_unreachable(&self, cluster: &ClusterId, leader: &LeaderHolds) -> bool {
        self.clusters.get(cluster).is_some_and(|f| {
            f.session
                .iter()
                .chain(f.scopes.values())
                .any(|floor| leader.unreachable(floor.position()).is_some())
        })
    }

    /// Settles `cluster`'s floors with a leader that names its servers in its positions
    /// (MySQL, MariaDB): the part of a floor that `leader` can never have (see
    /// [`LeaderHolds::unreachable`]) was lost in a failover. The floor is lowered to the rest,
    /// and returned so the caller can count and report it.
    pub fn settle_unreachable(
        &mut self,
        cluster: &ClusterId,
        leader: &LeaderHolds,
    ) -> Vec<LostFloor> {
        let Some(floors) = self.clusters.get_mut(cluster) else {
            return Vec::new();
        };
        let mut lost = Vec::new();
        let mut apply = |scope: Option<&ScopeKey>, floor: &mut Floor| {
            let Some(kept) = leader.unreachable(floor.position()) else {
                return;
            };
            lost.push(LostFloor {
                scope: scope.cloned(),
                epoch: floor.epoch().unwrap_or_default(),
                lost: floor.position().clone(),
                kept: kept.clone(),
            });
            let epoch = floor.epoch();
            floor.set_position(kept, epoch);
        };
        if let Some(f) = floors.session.as_mut() {
            apply(None, f);
        }
        for (scope, f) in &mut floors.scopes {
            apply(Some(scope), f);
        }
        lost
    }

    /// The latest epoch any floor of `cluster` was captured on.
    #[must_use]
    pub fn latest_epoch(&self, cluster: &ClusterId) -> Option<u32> {
        let floors = self.clusters.get(cluster)?;
        floors
            .session
            .iter()
            .chain(floors.scopes.values())
            .filter_map(Floor::epoch)
            .max()
    }
}

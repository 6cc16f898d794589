//! One floor: a position a read must see, when it was raised, and on which leader epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::RywError;
use crate::position::Position;

/// Milliseconds since the Unix epoch (0 for times before it, saturating far in the future).
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The time `ms` milliseconds after the Unix epoch; saturates at the latest representable
/// time rather than panicking on a value a token or store could carry.
pub(crate) fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX)))
}

/// A position a read must see, with the metadata that decides how long it matters:
///
/// * **when it was raised** — a floor only matters until every replica has replayed it, so
///   tokens shed floors older than their horizon ([`TokenCodec::with_floor_horizon`](crate::TokenCodec::with_floor_horizon));
/// * **the leader epoch it was captured on** (Postgres: the timeline) — after a failover, a
///   floor from an earlier epoch is still a fence if the new leader's history contains it
///   (at or below the switch point), and is a write the failover *lost* otherwise
///   ([`Floors::reconcile_epochs`](crate::Floors::reconcile_epochs)). `None` where the backend
///   has no epochs (MySQL, MariaDB: GTIDs name their origin) or the floor came from an older
///   token.
///
/// Two floors are equal when they fence the same: same position, same epoch. The raise time
/// says how long a floor matters, not what it requires, so it is left out of the comparison.
#[derive(Debug, Clone)]
pub struct Floor {
    position: Position,
    raised_at: u64,
    epoch: Option<u32>,
}

impl PartialEq for Floor {
    fn eq(&self, other: &Self) -> bool {
        self.position == other.position && self.epoch == other.epoch
    }
}

impl Eq for Floor {}

impl Floor {
    /// A floor raised now, on no known epoch.
    #[must_use]
    pub fn new(position: Position) -> Self {
        Self::raised_at(position, SystemTime::now())
    }

    /// A floor raised at `at` (millisecond precision).
    #[must_use]
    pub fn raised_at(position: Position, at: SystemTime) -> Self {
        Self {
            position,
            raised_at: unix_ms(at),
            epoch: None,
        }
    }

    /// The same floor, captured on leader epoch `epoch`.
    #[must_use]
    pub fn with_epoch(mut self, epoch: Option<u32>) -> Self {
        self.epoch = epoch;
        self
    }

    pub(crate) fn from_parts(position: Position, raised_at_ms: u64, epoch: Option<u32>) -> Self {
        Self {
            position,
            raised_at: raised_at_ms,
            epoch,
        }
    }

    /// The position.
    #[must_use]
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// When the floor was (last) raised.
    #[must_use]
    pub fn raised(&self) -> SystemTime {
        from_unix_ms(self.raised_at)
    }

    pub(crate) fn raised_ms(&self) -> u64 {
        self.raised_at
    }

    /// The leader epoch the position was captured on, where the backend has epochs.
    #[must_use]
    pub fn epoch(&self) -> Option<u32> {
        self.epoch
    }

    pub(crate) fn set_position(&mut self, position: Position, epoch: Option<u32>) {
        self.position = position;
        self.epoch = epoch;
    }

    /// Merges `other` in: the position covering both, the later raise time, and the later of
    /// the two epochs. Returns whether the position or epoch changed.
    ///
    /// The later epoch even when the position kept is the older epoch's: a floor from epoch 1
    /// beyond that epoch's end (a write the failover lost) merged with a lower floor written
    /// on epoch 2 must not be reconciled down to epoch 1's end, below the epoch-2 write. As an
    /// epoch-2 floor it is never lowered: reads wait for the new leader to pass it (or read
    /// the leader) — slower, never stale. The router reconciles a context before raising it,
    /// so the lost part is lowered first and this stays the rare case.
    pub(crate) fn merge(&mut self, other: Self, scope: &str) -> Result<bool, RywError> {
        let merged =
            self.position
                .merge(&other.position)
                .map_err(|_| RywError::ScopeKindMismatch {
                    scope: scope.to_owned(),
                    held: self.position.kind(),
                    offered: other.position.kind(),
                })?;
        let epoch = self.epoch.max(other.epoch);
        let changed = merged != self.position || epoch != self.epoch;
        self.position = merged;
        self.epoch = epoch;
        self.raised_at = self.raised_at.max(other.raised_at);
        Ok(changed)
    }
}

/// Merges `floor` into `slot` (filling it when empty). Returns whether it changed.
pub(crate) fn raise_slot(
    slot: &mut Option<Floor>,
    floor: Floor,
    scope: &str,
) -> Result<bool, RywError> {
    match slot {
        None => {
            *slot = Some(floor);
            Ok(true)
        }
        Some(cur) => cur.merge(floor, scope),
    }
}

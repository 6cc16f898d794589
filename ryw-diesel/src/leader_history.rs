//! When the leader was seen at which position: captures after writes and the router's leader
//! polls, in a short bounded log. It turns positions into times, so a replica's lag can be
//! told in time whatever the position kind (WAL bytes, GTID sets) and a floor's catch-up can
//! be estimated.
//!
//! An entry `(t, p)` means "`p` had committed on the leader by `t`": captures run after
//! COMMIT and polls read the leader's current position. So for a floor `f`, the first entry
//! that covers it bounds `f`'s commit time from above, and a replica that has not applied
//! some entry's position is missing a commit made by that entry's time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use ryw_core::Position;
use tokio::time::Instant;

/// Entries kept; older ones are dropped first.
const CAPACITY: usize = 512;
/// Entries closer together than this are merged into one (the later time, the merged
/// position), so a burst of writes costs one entry.
const MERGE_WITHIN: Duration = Duration::from_millis(2);

/// The bounded log of leader positions over time.
#[derive(Debug, Default)]
pub(crate) struct LeaderHistory {
    entries: Mutex<VecDeque<(Instant, Position)>>,
}

impl LeaderHistory {
    /// Records that `position` had committed on the leader by `at`.
    pub(crate) fn record(&self, at: Instant, position: &Position) {
        let Ok(mut log) = self.entries.lock() else {
            return;
        };
        if let Some((t, last)) = log.back_mut() {
            if last.covers(position).unwrap_or(false) {
                return;
            }
            if at.saturating_duration_since(*t) < MERGE_WITHIN
                && let Ok(merged) = last.merge(position)
            {
                *t = (*t).max(at);
                *last = merged;
                return;
            }
        }
        if log.len() == CAPACITY {
            log.pop_front();
        }
        log.push_back((at, position.clone()));
    }

    /// The earliest time the leader is known to have had `floor`: an upper bound of its
    /// commit time. `None` when no entry covers it yet (it is newer than anything seen).
    pub(crate) fn time_of(&self, floor: &Position) -> Option<Instant> {
        let log = self.entries.lock().ok()?;
        log.iter()
            .find(|(_, p)| p.covers(floor).unwrap_or(false))
            .map(|(t, _)| *t)
    }

    /// The time of the oldest entry `applied` does not cover: the replica is missing a
    /// commit made by then. `None` when it covers every entry (caught up as far as known).
    pub(crate) fn oldest_missing(&self, applied: &Position) -> Option<Instant> {
        let log = self.entries.lock().ok()?;
        log.iter()
            .find(|(_, p)| !applied.covers(p).unwrap_or(false))
            .map(|(t, _)| *t)
    }

    /// The time of the newest entry `now_applied` covers and `before` did not: the most
    /// recent commit the replica was just seen to apply. `None` when the replica applied no
    /// known entry since `before`.
    pub(crate) fn newly_applied(
        &self,
        before: Option<&Position>,
        now_applied: &Position,
    ) -> Option<Instant> {
        let log = self.entries.lock().ok()?;
        log.iter()
            .rev()
            .find(|(_, p)| {
                now_applied.covers(p).unwrap_or(false)
                    && !before.is_some_and(|b| b.covers(p).unwrap_or(false))
            })
            .map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ryw_core::position::Lsn;

    use super::*;

    fn lsn(n: u64) -> Position {
        Position::Lsn(Lsn::new(n))
    }

    #[test]
    fn times_bound_commits_and_find_the_missing() {
        let h = LeaderHistory::default();
        let t0 = Instant::now();
        for (k, n) in [100u64, 200, 300].into_iter().enumerate() {
            h.record(t0 + Duration::from_millis(10 * k as u64), &lsn(n));
        }
        assert_eq!(h.time_of(&lsn(150)), Some(t0 + Duration::from_millis(10)));
        assert_eq!(h.time_of(&lsn(301)), None);
        assert_eq!(
            h.oldest_missing(&lsn(200)),
            Some(t0 + Duration::from_millis(20))
        );
        assert_eq!(h.oldest_missing(&lsn(300)), None);
        assert_eq!(
            h.newly_applied(Some(&lsn(100)), &lsn(250)),
            Some(t0 + Duration::from_millis(10))
        );
        assert_eq!(h.newly_applied(Some(&lsn(300)), &lsn(300)), None);
    }

    #[test]
    fn bursts_merge_and_the_log_stays_bounded() {
        let h = LeaderHistory::default();
        let t0 = Instant::now();
        h.record(t0, &lsn(1));
        h.record(t0, &lsn(2));
        h.record(t0, &lsn(1));
        assert_eq!(h.entries.lock().unwrap().len(), 1);
        for k in 0..(CAPACITY as u64 + 10) {
            h.record(t0 + Duration::from_millis(10 * (k + 1)), &lsn(10 + k));
        }
        assert_eq!(h.entries.lock().unwrap().len(), CAPACITY);
    }
}

//! Lost floors reported once: the same lost write reaches a router through every token that
//! carries it and through the scope store, and is one loss.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use ryw_core::LostFloor;

/// Losses remembered; the oldest are forgotten first (a loss seen again after that many
/// others is counted again, which only over-reports).
const REMEMBERED: usize = 4096;

/// The lost floors already booked, by scope and lost position.
#[derive(Default)]
pub(super) struct LostOnce {
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl LostOnce {
    /// The floors of `lost` not booked before, now remembered.
    pub(super) fn first_seen<'a>(&self, lost: &'a [LostFloor]) -> Vec<&'a LostFloor> {
        let Ok(mut guard) = self.seen.lock() else {
            return lost.iter().collect();
        };
        let (set, order) = &mut *guard;
        let mut fresh = Vec::new();
        for floor in lost {
            let scope = floor.scope.as_ref().map_or("", |s| s.as_str());
            let key = format!("{scope}\u{1f}{}\u{1f}{}", floor.epoch, floor.lost);
            if set.insert(key.clone()) {
                order.push_back(key);
                if order.len() > REMEMBERED
                    && let Some(old) = order.pop_front()
                {
                    set.remove(&old);
                }
                fresh.push(floor);
            }
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ryw_core::ScopeKey;
    use ryw_core::position::{Lsn, Position};

    use super::*;

    #[test]
    fn a_loss_is_booked_once_and_a_session_floor_apart_from_a_scope() {
        let at = |n| Position::Lsn(Lsn::new(n));
        let lost = |scope: Option<ScopeKey>, n| LostFloor {
            scope,
            epoch: 1,
            lost: at(n),
            kept: at(1),
        };
        let once = LostOnce::default();
        let s = ScopeKey::of("user_id", 1);
        let first = [lost(Some(s.clone()), 5), lost(None, 5)];
        assert_eq!(once.first_seen(&first).len(), 2);
        assert!(once.first_seen(&[lost(Some(s.clone()), 5)]).is_empty());
        assert_eq!(once.first_seen(&[lost(Some(s), 6)]).len(), 1);
    }
}

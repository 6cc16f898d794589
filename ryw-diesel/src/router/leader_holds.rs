//! Who leads and what it holds, for backends whose positions name the server that wrote
//! each transaction (MySQL, MariaDB): the view that tells a floor a failover lost (GTIDs of
//! the old leader the new one never got) from one the leader will reach. Read by the
//! leader poll; a floor is only ever judged lost on a view read after the read that met it
//! began (a floor may name a leader newer than the last poll), and a judgement is kept, so a
//! lost floor still in the store costs that read once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use ryw_core::Position;
use ryw_core::position::LeaderHolds;
use tokio::time::Instant;

/// Judgements kept; past it they are forgotten (and made again on a fresh view).
const JUDGED: usize = 4096;

/// The last view of the leader and the floors judged under one.
pub(super) struct HeldByLeader {
    last: RwLock<Option<(LeaderHolds, Instant)>>,
    /// Cleared once the backend shows it keeps no such view (Postgres).
    supported: AtomicBool,
    /// One fresh read at a time; the others use it.
    pub(super) reading: tokio::sync::Mutex<()>,
    /// Floors found unreachable on a fresh view, and what remains of each.
    judged: Mutex<HashMap<Position, Position>>,
}

impl Default for HeldByLeader {
    fn default() -> Self {
        Self {
            last: RwLock::new(None),
            supported: AtomicBool::new(true),
            reading: tokio::sync::Mutex::new(()),
            judged: Mutex::new(HashMap::new()),
        }
    }
}

impl HeldByLeader {
    pub(super) fn supported(&self) -> bool {
        self.supported.load(Ordering::Relaxed)
    }

    pub(super) fn unsupported(&self) {
        self.supported.store(false, Ordering::Relaxed);
    }

    /// The last view and when it was read.
    pub(super) fn last(&self) -> Option<(LeaderHolds, Instant)> {
        self.last.read().ok()?.clone()
    }

    /// Stores a view read now; returns the previous one's server.
    pub(super) fn set(&self, holds: LeaderHolds) -> Option<String> {
        let mut last = self.last.write().ok()?;
        let before = last.take().map(|(h, _)| h.server);
        *last = Some((holds, Instant::now()));
        before
    }

    /// What remains of `floor` if it was judged before.
    pub(super) fn judged(&self, floor: &Position) -> Option<Position> {
        self.judged.lock().ok()?.get(floor).cloned()
    }

    /// Keeps the judgement that `floor` is reduced to `kept`.
    pub(super) fn judge(&self, floor: Position, kept: Position) {
        if let Ok(mut j) = self.judged.lock() {
            if j.len() >= JUDGED {
                j.clear();
            }
            j.insert(floor, kept);
        }
    }
}

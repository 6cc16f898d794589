//! Who leads and what it holds, for backends whose positions name the server that wrote
//! each transaction (MySQL, MariaDB): the view that tells a floor a failover lost (GTIDs of
//! the old leader the new one never got) from one the leader will reach. Read by the
//! leader poll; a floor is only ever judged lost on a view read after the read that met it
//! began (a floor may name a leader newer than the last poll), and a judgement of a GTID set
//! is kept, so a lost floor still in the store costs that read once (a GTID list is judged
//! again each time: see `Leader::unreachable_part`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use ryw_core::Position;
use ryw_core::position::LeaderHolds;
use tokio::time::Instant;

use super::leader::{Leader, Pools, REFRESH_TIMEOUT};
use super::ledger::Event;
use crate::backend::ReplicationBackend;

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

impl<B: ReplicationBackend> Leader<B> {
    /// Re-reads who leads and what it holds (MySQL, MariaDB; once `None`, never again). A
    /// new server leading is a failover, booked as a new epoch.
    pub(super) async fn refresh_holds(&self) -> Option<LeaderHolds> {
        if !self.holds.supported() {
            return None;
        }
        let backend = &self.pool.backend;
        let read = async {
            let holds = async |c: &mut B::Connection| backend.leader_holds(c).await;
            self.run_on(Pools::Writes, holds).await.map(|(h, _)| h)
        };
        match tokio::time::timeout(REFRESH_TIMEOUT, read).await {
            Ok(Ok(Some(h))) => {
                let before = self.holds.set(h.clone());
                if before.is_some_and(|b| b != h.server) {
                    let (cluster, server) = (&self.cluster, h.server.as_str());
                    self.ledger.record(Event::LeaderChanged { cluster, server });
                }
                Some(h)
            }
            Ok(Ok(None)) => {
                self.holds.unsupported();
                None
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not read what the leader holds");
                None
            }
            Err(_) => None,
        }
    }

    /// The view to settle floors with when `suspect` finds an unreachable one on the last
    /// view: a view read after `since` (the read's start), reading one now if needed, and
    /// only if the floor is still unreachable on it.
    pub(super) async fn holds_to_settle(
        &self,
        since: Instant,
        suspect: impl Fn(&LeaderHolds) -> bool,
    ) -> Option<LeaderHolds> {
        let (cached, _) = self.holds.last()?;
        if !suspect(&cached) {
            return None;
        }
        let view = {
            let _one = self.holds.reading.lock().await;
            match self.holds.last() {
                Some((h, at)) if at > since => h,
                _ => self.refresh_holds().await?,
            }
        };
        suspect(&view).then_some(view)
    }

    /// What remains of a floor (from the store) the leader can never fully have, judged on a
    /// view read after `since` (see [`holds_to_settle`](Self::holds_to_settle)); `None` when
    /// nothing of it is lost.
    pub(super) async fn unreachable_part(
        &self,
        floor: &Position,
        since: Instant,
    ) -> Option<Position> {
        // A judgement holds as long as the floor does only where every later write changes the
        // floor: a MySQL GTID set grows by each write's GTID. A MariaDB GTID list keeps one
        // GTID per domain, the highest sequence number, so the lost GTID of the old leader
        // (a higher number than the new leader's next writes) stays the stored floor while
        // writes on the new leader merge into it unseen: a kept judgement would lower their
        // reads to what the leader held when it was made. Such a floor is judged on a fresh
        // view each time, which holds every write acknowledged before the read began.
        let cacheable = !matches!(floor, Position::GtidList(_));
        if cacheable && let Some(kept) = self.holds.judged(floor) {
            return Some(kept);
        }
        let view = self
            .holds_to_settle(since, |h| h.unreachable(floor).is_some())
            .await?;
        let kept = view.unreachable(floor)?;
        if cacheable {
            self.holds.judge(floor.clone(), kept.clone());
        }
        Some(kept)
    }
}

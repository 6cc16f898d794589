//! The leader's budget for fallback reads: how many it serves at once, and (optionally) how
//! many it starts in any one-second window.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The sliding window of the rate bound.
pub(super) const WINDOW: Duration = Duration::from_secs(1);

/// Slots for fallback reads on the leader, with the highest concurrency seen.
pub(super) struct LeaderSlots {
    sem: Arc<Semaphore>,
    limit: usize,
    rate: Option<Rate>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// At most `per_window` fallback reads start within any [`WINDOW`]: the start times of
/// those in the last window, oldest first (at most `per_window` of them).
struct Rate {
    per_window: usize,
    starts: Mutex<VecDeque<Instant>>,
}

impl Rate {
    /// Takes a place in the window at `now`, or says when the oldest start leaves it.
    fn take(&self, now: Instant) -> Result<(), Instant> {
        let mut starts = self.starts.lock().unwrap_or_else(PoisonError::into_inner);
        expire(&mut starts, now);
        if starts.len() < self.per_window {
            starts.push_back(now);
            return Ok(());
        }
        Err(starts.front().map_or(now, |&t| t + WINDOW))
    }

    /// Starts within the window ending `now`.
    fn used(&self, now: Instant) -> usize {
        let mut starts = self.starts.lock().unwrap_or_else(PoisonError::into_inner);
        expire(&mut starts, now);
        starts.len()
    }
}

fn expire(starts: &mut VecDeque<Instant>, now: Instant) {
    while starts.front().is_some_and(|&t| t + WINDOW <= now) {
        starts.pop_front();
    }
}

/// One fallback read running on the leader; frees its slot on drop.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let now = self.in_flight.fetch_sub(1, Ordering::AcqRel) - 1;
        ryw_core::metrics::leader_fallback_in_flight(now);
    }
}

impl LeaderSlots {
    /// `limit` slots (at least one); with `per_second`, at most that many fallback reads
    /// start in any [`WINDOW`] (at least one).
    pub(super) fn new(limit: usize, per_second: Option<u32>) -> Self {
        let limit = limit.max(1);
        Self {
            sem: Arc::new(Semaphore::new(limit)),
            limit,
            rate: per_second.map(|n| Rate {
                per_window: usize::try_from(n.max(1)).unwrap_or(usize::MAX),
                starts: Mutex::new(VecDeque::new()),
            }),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The bound on concurrent fallback reads.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// The bound on fallback reads per [`WINDOW`], if any.
    pub(super) fn rate_limit(&self) -> Option<usize> {
        self.rate.as_ref().map(|r| r.per_window)
    }

    /// Fallback reads started within the last [`WINDOW`] (counted under a rate bound).
    pub(super) fn rate_used(&self) -> Option<usize> {
        self.rate.as_ref().map(|r| r.used(Instant::now()))
    }

    /// Whether the budget is used up: every slot taken, or the window full.
    pub(super) fn busy(&self) -> bool {
        self.sem.available_permits() == 0
            || self
                .rate
                .as_ref()
                .is_some_and(|r| r.used(Instant::now()) >= r.per_window)
    }

    /// The most fallback reads the leader served at once.
    pub(super) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// A slot now, if the budget has room.
    pub(super) fn try_take(&self) -> Option<Slot> {
        let permit = Arc::clone(&self.sem).try_acquire_owned().ok()?;
        if let Some(rate) = &self.rate {
            rate.take(Instant::now()).ok()?;
        }
        Some(self.slot(permit))
    }

    /// A slot as soon as the budget has room, up to `deadline`: first a place in the slot
    /// queue (first come, first served), then, holding it, room in the window.
    pub(super) async fn take_until(&self, deadline: Instant) -> Option<Slot> {
        let wait = Arc::clone(&self.sem).acquire_owned();
        let permit = match tokio::time::timeout_at(deadline, wait).await {
            Ok(Ok(permit)) => permit,
            _ => return None,
        };
        if let Some(rate) = &self.rate {
            loop {
                match rate.take(Instant::now()) {
                    Ok(()) => break,
                    Err(room_at) if room_at < deadline => tokio::time::sleep_until(room_at).await,
                    Err(_) => return None,
                }
            }
        }
        Some(self.slot(permit))
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> Slot {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        ryw_core::metrics::leader_fallback_in_flight(now);
        Slot {
            _permit: permit,
            in_flight: Arc::clone(&self.in_flight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn leader_budget_rate_admits_per_window_then_waits_for_the_oldest_to_leave() {
        let slots = LeaderSlots::new(8, Some(3));
        let t0 = Instant::now();
        let held: Vec<Slot> = (0..3).filter_map(|_| slots.try_take()).collect();
        assert_eq!(held.len(), 3);
        drop(held);
        assert!(slots.busy(), "3 starts in the window: at budget");
        assert!(slots.try_take().is_none());
        assert_eq!(slots.rate_used(), Some(3));
        let slot = slots.take_until(t0 + WINDOW * 2).await;
        assert!(slot.is_some());
        assert_eq!(
            Instant::now(),
            t0 + WINDOW,
            "room when the first start left"
        );
        // The three first starts left together: two more fit, the next waits for the fourth.
        assert!(slots.try_take().is_some() && slots.try_take().is_some());
        assert!(slots.try_take().is_none());
        let early = t0 + WINDOW * 2 - Duration::from_millis(1);
        assert!(
            slots.take_until(early).await.is_none(),
            "no room before it leaves"
        );
        assert!(slots.take_until(t0 + WINDOW * 3).await.is_some());
        assert_eq!(Instant::now(), t0 + WINDOW * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn leader_budget_concurrency_bounds_slots_held_at_once() {
        let slots = LeaderSlots::new(2, None);
        let a = slots.try_take();
        let b = slots.try_take();
        assert!(a.is_some() && b.is_some());
        assert!(slots.busy() && slots.try_take().is_none());
        assert_eq!(slots.peak(), 2);
        drop(a);
        assert!(!slots.busy());
        assert!(slots.take_until(Instant::now()).await.is_some());
        assert_eq!(slots.rate_limit(), None);
        assert_eq!(slots.rate_used(), None);
    }
}

//! The bound on fallback reads the leader serves at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Slots for fallback reads on the leader, with the highest concurrency seen.
pub(super) struct LeaderSlots {
    sem: Arc<Semaphore>,
    limit: usize,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// One fallback read running on the leader; frees its slot on drop.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LeaderSlots {
    /// `limit` slots (at least one).
    pub(super) fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            sem: Arc::new(Semaphore::new(limit)),
            limit,
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The bound.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Whether every slot is taken.
    pub(super) fn busy(&self) -> bool {
        self.sem.available_permits() == 0
    }

    /// The most fallback reads the leader served at once.
    pub(super) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// A slot now, if one is free.
    pub(super) fn try_take(&self) -> Option<Slot> {
        let permit = Arc::clone(&self.sem).try_acquire_owned().ok()?;
        Some(self.slot(permit))
    }

    /// A slot as soon as one frees, up to `deadline`.
    pub(super) async fn take_until(&self, deadline: Instant) -> Option<Slot> {
        let wait = Arc::clone(&self.sem).acquire_owned();
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(Ok(permit)) => Some(self.slot(permit)),
            _ => None,
        }
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> Slot {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Slot {
            _permit: permit,
            in_flight: Arc::clone(&self.in_flight),
        }
    }
}

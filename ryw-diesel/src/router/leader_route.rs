//! The leader side of a read: a pick bound for the leader takes one of its fallback slots,
//! or acts on the read's [`LeaderBusy`] choice when they are all taken.

use std::sync::atomic::Ordering;

use ryw_core::{Fallback, LeaderBusy, Position, ReadPolicy};
use tokio::time::Instant;

use super::decide::freshest;
use super::leader_slots::Slot;
use super::pick::Waited;
use super::*;

impl<B: ReplicationBackend> Router<B> {
    /// Settles `pick` against the leader's fallback bound: the pick to act on, with the slot
    /// a fallback read on the leader holds while it runs.
    ///
    /// # Errors
    /// [`Error::LeaderBusy`] when the policy sheds the read (at once, or after queueing).
    pub(super) async fn bound_leader(
        &self,
        pick: Pick,
        floor: Option<&Position>,
        policy: &ReadPolicy,
    ) -> Result<(Pick, Option<Slot>), Error> {
        let reason = match pick {
            Pick::Leader(FallbackReason::Pinned) => return Ok((pick, None)),
            Pick::Leader(reason) => match self.inner.leader_slots.try_take() {
                Some(slot) => return Ok((pick, Some(slot))),
                // Taken since the decision: act as it would have.
                None => reason,
            },
            Pick::Queue | Pick::Shed => FallbackReason::BudgetExhausted,
            // Stale without a stale fallback: the decision found the leader busy.
            Pick::Stale(_) if policy.fallback != Fallback::Stale => {
                self.inner
                    .counters
                    .leader_busy
                    .fetch_add(1, Ordering::Relaxed);
                return Ok((pick, None));
            }
            other => return Ok((other, None)),
        };
        self.inner
            .counters
            .leader_busy
            .fetch_add(1, Ordering::Relaxed);
        let choice = match pick {
            Pick::Shed => LeaderBusy::Error,
            Pick::Queue => LeaderBusy::Queue,
            _ => policy.when_leader_busy,
        };
        match choice {
            LeaderBusy::Error => Err(self.shed(Duration::ZERO)),
            LeaderBusy::Stale => match freshest(&self.snapshot()) {
                Some(i) => Ok((Pick::Stale(i), None)),
                None => self.queue(reason, floor, policy).await,
            },
            _ => self.queue(reason, floor, policy).await,
        }
    }

    /// A leader slot for a read to re-run there (its replica overran), queueing like
    /// [`LeaderBusy::Queue`].
    ///
    /// # Errors
    /// [`Error::LeaderBusy`] when no slot frees within the queue timeout.
    pub(super) async fn rerun_slot(&self) -> Result<Slot, Error> {
        if let Some(slot) = self.inner.leader_slots.try_take() {
            return Ok(slot);
        }
        self.inner
            .counters
            .leader_busy
            .fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = started + self.inner.config.leader_queue_timeout;
        match self.inner.leader_slots.take_until(deadline).await {
            Some(slot) => Ok(slot),
            None => Err(self.shed(started.elapsed())),
        }
    }

    /// Waits for a leader slot or, with a floor, a replica that reaches it — whichever
    /// comes first — up to the queue timeout.
    async fn queue(
        &self,
        reason: FallbackReason,
        floor: Option<&Position>,
        policy: &ReadPolicy,
    ) -> Result<(Pick, Option<Slot>), Error> {
        let started = Instant::now();
        let deadline = started + self.inner.config.leader_queue_timeout;
        let replica = async {
            match floor {
                Some(f) => match self.tracker_wait(f, policy, deadline, deadline, true).await {
                    Waited::Replica(i) => Some(i),
                    _ => None,
                },
                None => {
                    tokio::time::sleep_until(deadline).await;
                    None
                }
            }
        };
        tokio::select! {
            slot = self.inner.leader_slots.take_until(deadline) => match slot {
                Some(slot) => Ok((Pick::Leader(reason), Some(slot))),
                None => Err(self.shed(started.elapsed())),
            },
            Some(i) = replica => Ok((Pick::Replica(i), None)),
        }
    }

    pub(super) fn shed(&self, waited: Duration) -> Error {
        self.inner
            .counters
            .leader_shed
            .fetch_add(1, Ordering::Relaxed);
        ryw_core::metrics::fallback("leader_busy");
        if let Some(folded) = self.inner.warnings.deadline.check() {
            tracing::warn!(
                limit = self.inner.leader_slots.limit(),
                ?waited,
                folded,
                "leader fallback slots all taken; read shed"
            );
        }
        Error::LeaderBusy {
            limit: self.inner.leader_slots.limit(),
            waited,
        }
    }
}

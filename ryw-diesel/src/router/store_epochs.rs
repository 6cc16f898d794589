//! Store floors across a failover. A floor the scope store holds from an earlier epoch is
//! settled against the leader's history as a token's floors are: kept when the new history
//! holds it, else lowered to the end of its epoch, counted lost and reported — and written
//! back lowered, so no instance fences the lost write again. Without this a token-less read
//! of a lost scope waits its whole budget for a position no replica will ever reach.

use ryw_core::{LostFloor, Position, ScopeKey, Settled, StoredFloor};
use tokio::time::Instant;

use super::Router;
use super::ledger::Event;
use crate::backend::ReplicationBackend;

impl<B: ReplicationBackend> Router<B> {
    /// The store's part of a read's floor, settled against the leader's epoch history;
    /// `None` without a store or when it failed.
    pub(super) async fn stored(&self, scope: &ScopeKey) -> Option<StoredFloor> {
        let replicas = &self.inner.replicas;
        let nodes = replicas.fed_names();
        let (mut stored, fed) = self.inner.floors.stored(scope, &nodes).await?;
        replicas.offer_fed(fed);
        self.settle_stored(scope, &mut stored).await;
        self.guard_store(&mut stored).await;
        Some(stored)
    }

    /// Settles the stored floor of `scope` against the leader's epoch history.
    async fn settle_stored(&self, scope: &ScopeKey, stored: &mut StoredFloor) {
        let inner = &*self.inner;
        let Some(position) = stored.position.clone() else {
            return;
        };
        if inner.leader.epoch().is_none() {
            // MySQL, MariaDB: GTIDs the leader can never have.
            if let Some(kept) = inner
                .leader
                .unreachable_part(&position, Instant::now())
                .await
            {
                self.book_lost(scope, stored.epoch.unwrap_or_default(), position, &kept);
                stored.position = Some(kept);
            }
            return;
        }
        if stored.epoch.is_none() {
            return;
        }
        // A floor of a later epoch than known: the leader failed over since the last look.
        inner.leader.observe_epoch(stored.epoch).await;
        let Some(history) = inner.leader.epoch_history() else {
            return;
        };
        match history.settle(&position, stored.epoch) {
            Settled::Unchanged => {}
            Settled::Survived => stored.epoch = Some(history.current()),
            Settled::Lost { kept } => {
                self.book_lost(scope, stored.epoch.unwrap_or_default(), position, &kept);
                inner.floors.settle_in_store(scope, &kept, &history).await;
                stored.position = Some(kept);
                stored.epoch = Some(history.current());
            }
        }
    }

    fn book_lost(&self, scope: &ScopeKey, epoch: u32, lost: Position, kept: &Position) {
        let inner = &*self.inner;
        let lost = LostFloor {
            scope: Some(scope.clone()),
            epoch,
            lost,
            kept: kept.clone(),
        };
        let cluster = inner.floors.cluster();
        let lost = std::slice::from_ref(&lost);
        inner.ledger.record(Event::FloorsLost { cluster, lost });
    }
}

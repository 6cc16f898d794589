//! The store loss guard. A shared store that lost its data (Redis restarted without
//! persistence, flushed, or failed over to a replica that lacked recent writes) forgets
//! floors: a user who wrote on one device and reads on another without a token would read a
//! replica that may not have the write. When a lookup shows the store began a new life, the
//! router reads the leader's position once and fences every read of a scope by it until each
//! replica has passed it — every write the store could have lost is at or below that
//! position — or until `max_replica_lag` (past it a replica is behind by more than the router
//! tolerates for any read). Costs one leader position read per loss, and reads wait for
//! replicas to pass one position for about one replication lag.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ryw_core::{Position, StoredFloor};
use tokio::time::Instant;

use super::Router;
use super::ledger::Event;
use crate::backend::ReplicationBackend;

/// Deadline for reading the leader's position when the store was lost.
const FENCE_TIMEOUT: Duration = Duration::from_secs(1);

/// The fence after a store loss.
struct Fence {
    floor: Position,
    /// The store life it answers (a later one needs a new fence).
    life: SystemTime,
    until: Instant,
}

/// The guard's state: at most one fence, raised by each new life.
#[derive(Default)]
pub(super) struct StoreGuard {
    fence: Mutex<Option<Fence>>,
    /// One leader read per new life, however many reads notice it at once.
    raising: tokio::sync::Mutex<()>,
}

impl StoreGuard {
    /// Whether a fence already answers the life that began at `life`.
    fn answers(&self, life: SystemTime) -> bool {
        self.fence
            .lock()
            .ok()
            .is_some_and(|f| f.as_ref().is_some_and(|f| f.life >= life))
    }

    fn set(&self, floor: Position, life: SystemTime, lasts: Duration) {
        if let Ok(mut f) = self.fence.lock() {
            let floor = match f.take() {
                Some(old) if Instant::now() < old.until => {
                    Position::max_of(Some(old.floor), Some(floor.clone())).unwrap_or(floor)
                }
                _ => floor,
            };
            *f = Some(Fence {
                floor,
                life,
                until: Instant::now() + lasts,
            });
        }
    }

    /// The fence in force, if any (dropped once expired).
    fn floor(&self) -> Option<Position> {
        let mut f = self.fence.lock().ok()?;
        if f.as_ref().is_some_and(|f| Instant::now() >= f.until) {
            *f = None;
        }
        f.as_ref().map(|f| f.floor.clone())
    }
}

impl<B: ReplicationBackend> Router<B> {
    /// Applies the guard to what the store answered: a new life (recent enough to matter)
    /// raises the fence; a fence in force joins the stored floor. When the leader's position
    /// cannot be read, the scope is treated as written without a known position (the read
    /// fences by the leader when it can, else reads it).
    pub(super) async fn guard_store(&self, stored: &mut StoredFloor) {
        let inner = &*self.inner;
        let lasts = inner.config.max_replica_lag;
        if let Some(life) = stored.life_began
            && SystemTime::now()
                .duration_since(life)
                .map_or(true, |age| age < lasts)
            && !inner.guard.answers(life)
        {
            let _one = inner.guard.raising.lock().await;
            if !inner.guard.answers(life) {
                match inner.leader.position(FENCE_TIMEOUT).await {
                    Ok(c) => {
                        inner.ledger.record(Event::StoreLost { fence: &c.position });
                        inner.guard.set(c.position, life, lasts);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the scope store lost its data and the leader's position could not be read");
                        stored.unfenced_since = Some(SystemTime::now());
                        return;
                    }
                }
            }
        }
        let Some(fence) = inner.guard.floor() else {
            return;
        };
        // Moot once every replica has passed it.
        let views = inner.replicas.views();
        let passed = views.iter().all(|v| {
            v.applied
                .as_ref()
                .is_some_and(|a| a.covers(&fence).unwrap_or(false))
        });
        if !passed {
            let merged = Position::max_of(stored.position.take(), Some(fence));
            stored.position = merged;
        }
    }
}

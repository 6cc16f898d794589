//! The leader's epoch (Postgres: timeline) and its history as the router last read it,
//! refreshed after a failover at most every [`MIN_REFRESH_INTERVAL`].

use std::future::Future;
use std::sync::RwLock;
use std::time::Duration;

use ryw_core::EpochHistory;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::Error;

/// Refreshes of the history closer together than this reuse the last one.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(200);

/// The leader's epoch history as the router last read it.
#[derive(Default)]
pub(super) struct Epochs {
    history: RwLock<Option<EpochHistory>>,
    /// When the last refresh was tried; serialises refreshes.
    refreshed: Mutex<Option<Instant>>,
}

impl Epochs {
    pub(super) fn new(history: Option<EpochHistory>) -> Self {
        Self {
            history: RwLock::new(history),
            refreshed: Mutex::new(None),
        }
    }

    /// The current history, if the backend has epochs.
    pub(super) fn history(&self) -> Option<EpochHistory> {
        self.history
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The current epoch, if the backend has epochs.
    pub(super) fn current(&self) -> Option<u32> {
        self.history
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(EpochHistory::current)
    }

    /// Whether `epoch` is later than the one the router knows.
    pub(super) fn is_newer(&self, epoch: Option<u32>) -> bool {
        matches!((epoch, self.current()), (Some(e), Some(c)) if e > c)
    }

    fn set(&self, history: EpochHistory) -> bool {
        let mut held = self
            .history
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let newer = held
            .as_ref()
            .is_none_or(|h| history.current() > h.current());
        if newer {
            *held = Some(history);
        }
        newer
    }

    /// Refreshes the history from `read` (not more often than [`MIN_REFRESH_INTERVAL`]:
    /// closer calls reuse the last one). `Some(epoch)` when the epoch moved on.
    pub(super) async fn refresh(
        &self,
        read: impl Future<Output = Result<Option<EpochHistory>, Error>>,
    ) -> Option<u32> {
        let mut last = self.refreshed.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
            return None;
        }
        *last = Some(Instant::now());
        let history = match read.await {
            Ok(Some(h)) => h,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(error = %e, "could not refresh the leader's epoch history");
                return None;
            }
        };
        let epoch = history.current();
        self.set(history).then_some(epoch)
    }
}

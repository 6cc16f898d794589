//! The leader's epoch (Postgres: timeline) and its history, refreshed after a failover, and
//! the reconciliation of a session's floors with it.

use std::sync::RwLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::{EpochHistory, RywContext, metrics};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::*;

/// Refreshes of the history closer together than this reuse the last one.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(200);
/// Deadline of one history refresh (a leader checkout and two short queries).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(1);

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
}

impl<B: ReplicationBackend> Router<B> {
    /// Re-reads the leader's epoch history (after a capture, a tracker or a floor showed a
    /// later epoch). Returns whether the epoch moved on.
    pub(super) async fn refresh_epochs(&self) -> bool {
        let inner = &self.inner;
        let mut last = inner.epochs.refreshed.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        let read = async {
            let mut conn = inner.pool.leader().await?;
            inner.pool.backend.epoch_history(&mut conn).await
        };
        let history = match tokio::time::timeout(REFRESH_TIMEOUT, read).await {
            Ok(Ok(Some(h))) => h,
            Ok(Ok(None)) => return false,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not refresh the leader's epoch history");
                return false;
            }
            Err(_) => return false,
        };
        let epoch = history.current();
        let moved = inner.epochs.set(history);
        if moved {
            inner.counters.epoch_changes.fetch_add(1, Ordering::Relaxed);
            metrics::epoch_change();
            tracing::warn!(cluster = %inner.cluster, epoch, "the leader is on a new epoch (failover): floors of earlier epochs are reconciled with its history");
        }
        moved
    }

    /// Refreshes the history when `epoch` (from a capture or a floor) is later than known.
    pub(super) async fn observe_epoch(&self, epoch: Option<u32>) {
        if self.inner.epochs.is_newer(epoch) {
            self.refresh_epochs().await;
        }
    }

    /// Reconciles the context's floors of this cluster with the leader's history: floors of
    /// earlier epochs inside the new history stay fences, floors beyond the end of their
    /// epoch were lost in the failover and are counted and reported.
    pub(super) async fn reconcile(&self, ctx: &RywContext) {
        let inner = &self.inner;
        if inner.epochs.current().is_none() {
            return;
        }
        let latest = ctx.latest_epoch(&inner.cluster);
        self.observe_epoch(latest).await;
        let Some(history) = inner.epochs.history() else {
            return;
        };
        let lost = ctx.reconcile_epochs(&inner.cluster, &history);
        if lost.is_empty() {
            return;
        }
        let n = lost.len() as u64;
        inner.counters.lost_floors.fetch_add(n, Ordering::Relaxed);
        metrics::floors_lost(n);
        if let Some(folded) = inner.warnings.lost.check() {
            let first = &lost[0];
            tracing::warn!(
                cluster = %inner.cluster,
                scope = first.scope.as_ref().map_or("<session>", |s| s.as_str()),
                epoch = first.epoch,
                lost = %first.lost,
                kept = %first.kept,
                floors = lost.len(),
                folded,
                "writes acknowledged before a failover are not in the new leader's history"
            );
        }
    }
}

//! Waiting on the replica trackers: one registration as a waiter per watched replica (its
//! tracker polls at the busy cadence meanwhile), one subscription to their change signal.
//! However many callers wait, each replica costs one poll stream.

use tokio::sync::watch;
use tokio::time::Instant;

use super::decide::ReplicaView;
use crate::tracker::WaiterGuard;

/// A wait on some replicas' trackers; unregisters when dropped.
pub(super) struct Watch<'a> {
    _guards: Vec<WaiterGuard<'a>>,
    changed: watch::Receiver<u64>,
    views: Box<dyn Fn() -> Vec<ReplicaView> + Send + Sync + 'a>,
}

impl<'a> Watch<'a> {
    pub(super) fn new(
        guards: Vec<WaiterGuard<'a>>,
        changed: watch::Receiver<u64>,
        views: impl Fn() -> Vec<ReplicaView> + Send + Sync + 'a,
    ) -> Self {
        Self {
            _guards: guards,
            changed,
            views: Box::new(views),
        }
    }

    /// Waits for the next change of any replica, up to `until`; `false` when `until` passed
    /// first.
    pub(super) async fn changed(&mut self, until: Instant) -> bool {
        match tokio::time::timeout_at(until, self.changed.changed()).await {
            Ok(Ok(())) => true,
            // The trackers are gone (the router is shutting down): nothing will change.
            Ok(Err(_)) => {
                tokio::time::sleep_until(until).await;
                false
            }
            Err(_) => false,
        }
    }

    /// Waits until `found` finds what it looks for in the replicas' views (asked now and at
    /// every change), up to `until`.
    pub(super) async fn until<T>(
        &mut self,
        until: Instant,
        mut found: impl FnMut(&[ReplicaView]) -> Option<T>,
    ) -> Option<T> {
        loop {
            if let Some(t) = found(&(self.views)()) {
                return Some(t);
            }
            if !self.changed(until).await && Instant::now() >= until {
                return None;
            }
        }
    }
}

//! Hiding the scope store's round trip. When the request's own floor (context, token) already
//! lets a replica serve at once, the read runs there while the store answers. The result is
//! kept only if that replica had applied the store's floor as well — then it is exactly the
//! read the sequential path would have made — else it is discarded and the read is routed
//! again with the merged floor.
//!
//! Why a kept result is as fresh as a sequential one: the store lookup is sent when the read
//! starts, so it sees every write whose commit (and store raise) returned before; the replica
//! was chosen because the position it had *already* applied (the tracker's, read before the
//! decision) covers the request's floor, and the result is kept only if that same position
//! covers the store's floor. So the replica had applied every such write before it ran the
//! read.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::{Position, ReadPolicy, ScopeKey, StoredFloor};

use super::decide::{Decision, decide};
use super::floor::{Requested, in_window};
use super::replica_run::{After, Ran};
use super::*;

/// How an overlapped read ended.
pub(super) enum Overlap<R, E> {
    /// Kept: the routed result.
    Done(Result<Routed<R>, E>),
    /// Discarded (or not run): route again with what the store said.
    Redo(Option<StoredFloor>),
}

impl<B: ReplicationBackend> Router<B> {
    /// The replica (and the position it had applied) that can serve a read at once with only
    /// the request's floor, when there is a store whose round trip is worth hiding; `None`
    /// when the read must wait for the store (a mark in the window, a pin to the leader, no
    /// replica ready).
    pub(super) fn immediate(
        &self,
        requested: &Requested,
        policy: &ReadPolicy,
    ) -> Option<(usize, Option<Position>)> {
        if self.inner.store.is_none() || in_window(requested.marked, policy) {
            return None;
        }
        let pinned = requested.ctx.as_ref().is_some_and(|c| c.leader_pinned());
        let replicas = self.snapshot();
        let ask = self.ask(requested.floor.as_ref(), policy, Duration::ZERO, pinned);
        match decide(&ask, &replicas) {
            Decision::Replica(i) => Some((i, replicas[i].applied.clone())),
            _ => None,
        }
    }

    /// Runs the read on replica `i` while the store answers; see the module docs.
    pub(super) async fn overlapped<R, E, F>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        requested: &Requested,
        (i, applied): (usize, Option<Position>),
        f: &F,
        after: After<'_>,
    ) -> Overlap<R, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let tracker = &self.inner.trackers[i];
        let run = async {
            let _running = tracker.read_guard();
            let conn = self.replica_conn(i).await?;
            Some(self.on_replica(i, conn, f.clone(), after).await)
        };
        let (stored, ran) = tokio::join!(self.stored(scope), run);
        let from_store = stored.as_ref().and_then(|s| s.position.clone());
        let floor = match (requested.floor.clone(), from_store) {
            (Some(a), Some(b)) => Some(a.merge(&b).unwrap_or(a)),
            (a, b) => a.or(b),
        };
        let marked = requested
            .marked
            .max(stored.as_ref().and_then(|s| s.unfenced_since));
        let covered = floor.as_ref().is_none_or(|fl| {
            applied
                .as_ref()
                .is_some_and(|a| a.covers(fl).unwrap_or(false))
        });
        let c = &self.inner.counters;
        match ran {
            Some(Ran::Done(result)) if covered && !in_window(marked, policy) => {
                c.store_overlapped_reads.fetch_add(1, Ordering::Relaxed);
                let served_by = ServedBy::Replica(Arc::clone(&tracker.name));
                self.count_read(&served_by, floor.is_some(), false, None);
                Overlap::Done(result.map(|value| Routed {
                    value,
                    served_by,
                    waited: Duration::ZERO,
                    position: floor,
                    stale: false,
                    fallback: None,
                }))
            }
            // A frozen replica is handled as on the sequential path: the leader reruns the
            // read (it has every write), or the caller gets the deadline error.
            Some(Ran::Overran(abandoned)) if !in_window(marked, policy) => Overlap::Done(
                self.after_replica_deadline(abandoned, policy, f.clone(), Duration::ZERO, floor)
                    .await,
            ),
            Some(Ran::Done(_) | Ran::Overran(_)) => {
                c.store_overlap_redone.fetch_add(1, Ordering::Relaxed);
                Overlap::Redo(stored)
            }
            // No connection to the replica in time.
            None => Overlap::Redo(stored),
        }
    }
}

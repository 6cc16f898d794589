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

use std::sync::Arc;
use std::time::Duration;

use ryw_core::{Position, ReadPolicy, ScopeKey, StoredFloor};

use super::Router;
use super::floor::Requested;
use super::ledger::Event;
use super::outcome::{Routed, ServedBy};
use super::replicas::Ran;
use super::serve::After;
use crate::backend::ReplicationBackend;
use crate::conn_fn::{CallError, ReadFn};

/// How an overlapped read ended.
pub(super) enum Overlap<R, E> {
    /// Kept: the routed result.
    Done(Result<Routed<R>, E>),
    /// Discarded (or not run): route again with what the store said.
    Redo(Option<StoredFloor>),
}

impl<B: ReplicationBackend> Router<B> {
    /// Runs the read on replica `i` (which had applied `applied` when chosen) while the store
    /// answers; see the module docs.
    pub(super) async fn overlapped<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        requested: &Requested,
        (i, applied): (usize, Option<Position>),
        f: &F,
        after: After<'_>,
    ) -> Overlap<R, E> {
        let inner = &*self.inner;
        let run = async {
            let _running = inner.replicas.running(i);
            let conn = inner.replicas.conn(i).await?;
            Some(self.run_on(i, conn, f.clone(), after).await)
        };
        let (stored, ran) = tokio::join!(self.stored(scope), run);
        let (floor, marked) = requested.with(stored.as_ref());
        let covered = floor.as_ref().is_none_or(|fl| {
            applied
                .as_ref()
                .is_some_and(|a| a.covers(fl).unwrap_or(false))
        });
        match ran {
            Some(Ran::Done(result)) if covered && !inner.floors.in_window(marked) => {
                inner.ledger.record(Event::StoreOverlapped);
                self.book_read(false, floor.is_some(), false, None);
                Overlap::Done(result.map(|value| Routed {
                    value,
                    served_by: ServedBy::Replica(Arc::clone(inner.replicas.name(i))),
                    waited: Duration::ZERO,
                    position: floor,
                    stale: false,
                    fallback: None,
                }))
            }
            // A frozen or vanished replica is handled as on the sequential path: the leader
            // reruns the read (it has every write), or the caller gets the error.
            Some(Ran::Abandoned { why, error }) if !inner.floors.in_window(marked) => {
                let rerun = (Duration::ZERO, floor);
                let (again, fallback) = (f.clone(), policy.fallback());
                let rerun = self.rerun(error, why, fallback, again, rerun, policy.monotonic());
                Overlap::Done(Box::pin(rerun).await)
            }
            Some(Ran::Done(_) | Ran::Abandoned { .. }) => {
                inner.ledger.record(Event::StoreOverlapRedone);
                Overlap::Redo(stored)
            }
            // No connection to the replica in time.
            None => Overlap::Redo(stored),
        }
    }
}

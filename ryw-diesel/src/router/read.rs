//! The read path: the floor, the pick, the closure on the chosen connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ryw_core::{Fallback, Position, ReadPolicy, ScopeKey, metrics};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::monotonic::Served;
use super::overlap::Overlap;
use super::replica_run::{After, Fell, Ran};
use super::*;

impl<B: ReplicationBackend> Router<B> {
    /// Reads with the router's default policy. See [`read_with`](Self::read_with).
    ///
    /// # Errors
    /// As [`read_with`](Self::read_with).
    pub async fn read<R, E, F>(&self, scope: &ScopeKey, f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let policy = self.inner.config.policy;
        self.read_with(scope, &policy, f).await
    }

    /// Reads `scope` under `policy`: to a replica that has applied the scope's floor, waiting
    /// up to the budget, else the policy's fallback.
    ///
    /// A read that overruns [`RouterConfig::replica_read_timeout`] on a replica (frozen,
    /// overloaded) is abandoned there and, under [`Fallback::Leader`], run again on the
    /// leader — reads are idempotent, and the closure is `Clone` so it can be called twice
    /// (any closure capturing references or `Clone` values is).
    ///
    /// # Errors
    /// The closure's error; [`Error::FenceTimeout`] under [`Fallback::Error`]; pool errors.
    pub async fn read_with<R, E, F>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        f: F,
    ) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        self.read_sampled(scope, policy, f, self.sample()).await
    }

    /// [`read_with`](Self::read_with), with the position check of self-verification when
    /// `sampled` (see `verify.rs`).
    pub(super) async fn read_sampled<R, E, F>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        f: F,
        sampled: bool,
    ) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let span = tracing::debug_span!("ryw.read", scope = %scope);
        async move {
            let start = Instant::now();
            let requested = self.requested(scope).await;
            // With a replica ready for the request's own floor, the store's round trip runs
            // alongside the read instead of before it.
            let stored = match self.immediate(&requested, policy) {
                Some(target) => {
                    let after = After::new(policy, scope, requested.floor.as_ref(), sampled);
                    match self
                        .overlapped(scope, policy, &requested, target, &f, after)
                        .await
                    {
                        Overlap::Done(out) => return out,
                        Overlap::Redo(stored) => stored,
                    }
                }
                None => self.stored(scope).await,
            };
            let (floor, unresolved) = self.resolve(scope, policy, requested, stored).await;
            let (pick, waited_conn) = match &floor {
                _ if unresolved => (Pick::Leader(FallbackReason::Unfenced), None),
                None => (self.pick_unfenced(policy), None),
                Some(floor) => self.pick_fenced(floor, policy).await,
            };
            let (pick, slot) = self
                .bound_leader(pick, floor.as_ref(), policy)
                .await
                .map_err(E::from)?;
            let waited = start.elapsed();
            let fenced = floor.is_some();
            let (i, stale) = match pick {
                Pick::Replica(i) => (i, false),
                Pick::Stale(i) => (i, true),
                Pick::Leader(reason) => {
                    let fell = Fell {
                        reason,
                        slot,
                        waited,
                    };
                    return self.on_leader(fell, floor, f, policy.monotonic).await;
                }
                Pick::Fail => {
                    self.inner
                        .counters
                        .fallbacks
                        .fetch_add(1, Ordering::Relaxed);
                    metrics::fallback("error");
                    return Err(E::from(Error::FenceTimeout {
                        scope: scope.to_string(),
                        position: floor.unwrap_or(Position::Lsn(ryw_core::position::Lsn::new(0))),
                        waited,
                    }));
                }
                Pick::Queue | Pick::Shed => return Err(E::from(self.shed(waited))),
            };
            // Counts the read on its replica while it runs: `choose` prefers idle replicas.
            let tracker = &self.inner.trackers[i];
            let running = tracker.read_guard();
            let conn = match waited_conn {
                Some(c) => Some(c),
                None => self.replica_conn(i).await,
            };
            let Some(conn) = conn else {
                drop(running);
                let slot = self.rerun_slot().await.map_err(E::from)?;
                let reason = FallbackReason::NoHealthyReplica;
                let fell = Fell {
                    reason,
                    slot: Some(slot),
                    waited,
                };
                return self.on_leader(fell, floor, f, policy.monotonic).await;
            };
            let served_by = ServedBy::Replica(Arc::clone(&tracker.name));
            self.count_read(&served_by, fenced, stale, None);
            let check = floor.as_ref().filter(|_| !stale);
            let after = After::new(policy, scope, check, sampled);
            let ran = self.on_replica(i, conn, f.clone(), after).await;
            drop(running);
            let value = match ran {
                Ran::Done(v) => v?,
                Ran::Overran(abandoned) => {
                    return self
                        .after_replica_deadline(abandoned, policy, f, waited, floor)
                        .await;
                }
            };
            Ok(Routed {
                value,
                served_by,
                waited,
                position: floor,
                stale,
                fallback: None,
            })
        }
        .instrument(span)
        .await
    }

    /// A replica read overran its deadline (already abandoned): under [`Fallback::Leader`]
    /// the leader runs it again, else the caller gets the retryable deadline error.
    pub(super) async fn after_replica_deadline<R, E, F>(
        &self,
        abandoned: Error,
        policy: &ReadPolicy,
        again: F,
        waited: Duration,
        floor: Option<Position>,
    ) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        if policy.fallback != Fallback::Leader {
            return Err(E::from(abandoned));
        }
        // Reads are re-runnable (the closure is `Clone`): the leader serves this one.
        self.inner
            .counters
            .reads_rerun_on_leader
            .fetch_add(1, Ordering::Relaxed);
        metrics::read_rerun();
        let _slot = self.rerun_slot().await.map_err(E::from)?;
        let mut conn = self.leader_conn().await.map_err(E::from)?;
        self.count_read(
            &ServedBy::Leader,
            floor.is_some(),
            false,
            Some(FallbackReason::ReplicaDeadline),
        );
        let value = again(&mut conn).await?;
        if policy.monotonic {
            self.observe_read(&mut conn, Served::Leader).await;
        }
        Ok(Routed {
            value,
            served_by: ServedBy::Leader,
            waited,
            position: floor,
            stale: false,
            fallback: Some(FallbackReason::ReplicaDeadline),
        })
    }

    pub(super) fn count_read(
        &self,
        served_by: &ServedBy,
        fenced: bool,
        stale: bool,
        fallback: Option<FallbackReason>,
    ) {
        let c = &self.inner.counters;
        match served_by {
            ServedBy::Leader => {
                c.leader_reads.fetch_add(1, Ordering::Relaxed);
                metrics::read("leader", fenced);
            }
            ServedBy::Replica(_) => {
                c.replica_reads.fetch_add(1, Ordering::Relaxed);
                metrics::read("replica", fenced);
            }
        }
        if stale {
            metrics::stale_read();
        }
        if let Some(reason) = fallback {
            c.fallbacks.fetch_add(1, Ordering::Relaxed);
            metrics::fallback(reason.label());
        }
    }
}

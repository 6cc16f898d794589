//! Running a read's closure where the decision sent it: on a replica within the read deadline
//! (a dead pooled connection retried once on a fresh one), or on the leader.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ryw_core::{Position, ReadPolicy, ScopeKey};

use super::leader_slots::Slot;
use super::monotonic::Served;
use super::*;

/// A read bound for the leader: why, the fallback slot it holds while it runs, and how long
/// it waited first.
pub(super) struct Fell {
    pub(super) reason: FallbackReason,
    pub(super) slot: Option<Slot>,
    pub(super) waited: Duration,
}

/// What runs on a replica connection after a successful read: the monotonic session floor,
/// and a sampled read's position check.
#[derive(Clone, Copy)]
pub(super) struct After<'a> {
    monotonic: bool,
    verify: Option<(&'a ScopeKey, &'a Position)>,
}

impl<'a> After<'a> {
    pub(super) fn new(
        policy: &ReadPolicy,
        scope: &'a ScopeKey,
        floor: Option<&'a Position>,
        sampled: bool,
    ) -> Self {
        Self {
            monotonic: policy.monotonic,
            verify: floor.filter(|_| sampled).map(|f| (scope, f)),
        }
    }
}

/// How a read on a replica ended.
pub(super) enum Ran<T> {
    /// The closure returned (its value or its own error).
    Done(T),
    /// It overran the read deadline and was abandoned.
    Overran(Error),
}

impl<B: ReplicationBackend> Router<B> {
    /// Runs `f` on the leader for a read that fell back there.
    pub(super) async fn on_leader<R, E, F>(
        &self,
        fell: Fell,
        floor: Option<Position>,
        f: F,
        monotonic: bool,
    ) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let _slot = fell.slot;
        let mut conn = self.leader_conn().await.map_err(E::from)?;
        self.count_read(&ServedBy::Leader, floor.is_some(), false, Some(fell.reason));
        let value = f(&mut conn).await?;
        if monotonic {
            self.observe_read(&mut conn, Served::Leader).await;
        }
        Ok(Routed {
            value,
            served_by: ServedBy::Leader,
            waited: fell.waited,
            position: floor,
            stale: false,
            fallback: Some(fell.reason),
        })
    }

    /// Runs `f` on replica `i` within [`RouterConfig::replica_read_timeout`]. The replica
    /// pools skip the liveness query at checkout, so a pooled connection may turn out dead
    /// (the replica restarted, a network cut): when the closure fails and the connection does
    /// not answer a trivial statement either, it is dropped with the pool's idle ones and the
    /// read runs once more on a fresh connection. Reads are re-runnable (the closure is
    /// `Clone`). A closure that fails on a live connection returns its error as is. Under a
    /// `monotonic` policy the session floor rises to the replica's position after the read.
    pub(super) async fn on_replica<R, E, F>(
        &self,
        i: usize,
        conn: Conn<B>,
        f: F,
        after: After<'_>,
    ) -> Ran<Result<R, E>>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let name = Arc::clone(&self.inner.trackers[i].name);
        let deadline = self.inner.config.replica_read_timeout;
        let mut conn = conn;
        let first = match tokio::time::timeout(deadline, f.clone()(&mut conn)).await {
            Ok(Ok(v)) => {
                self.after_read(&mut conn, &name, after).await;
                return Ran::Done(Ok(v));
            }
            Ok(Err(e)) => e,
            Err(_) => return Ran::Overran(self.abandon_read(&name, conn)),
        };
        if self.answers(&mut conn).await {
            return Ran::Done(Err(first));
        }
        let _ = deadpool::managed::Object::take(conn);
        crate::pool::evict_idle(&self.inner.pool.replicas[i].pool);
        self.inner
            .counters
            .dead_connections_retried
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(replica = %name, "a pooled replica connection was dead; read retried on a fresh one");
        let Some(mut fresh) = self.replica_conn(i).await else {
            return Ran::Done(Err(first));
        };
        match tokio::time::timeout(deadline, f(&mut fresh)).await {
            Ok(Ok(v)) => {
                self.after_read(&mut fresh, &name, after).await;
                Ran::Done(Ok(v))
            }
            Ok(Err(e)) => Ran::Done(Err(e)),
            Err(_) => Ran::Overran(self.abandon_read(&name, fresh)),
        }
    }

    async fn after_read(&self, conn: &mut B::Connection, name: &str, after: After<'_>) {
        if let Some((scope, floor)) = after.verify {
            self.verify_position(conn, name, scope, floor).await;
        }
        if after.monotonic {
            self.observe_read(conn, Served::Replica(name)).await;
        }
    }

    /// Whether a connection answers a trivial statement within the checkout deadline.
    async fn answers(&self, conn: &mut Conn<B>) -> bool {
        let within = self.inner.config.replica_checkout_timeout;
        let check = self.inner.pool.backend.is_alive(conn);
        matches!(tokio::time::timeout(within, check).await, Ok(true))
    }
}

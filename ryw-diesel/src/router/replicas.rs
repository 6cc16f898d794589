//! The replicas as the router sees them: their pools and trackers, the change signal the
//! trackers raise, and every way the router uses a replica — a connection within its
//! deadline, a read on it (a dead pooled connection retried once), a server-side wait on it,
//! and a [`Watch`] on the trackers for whoever waits for a position (reads, the leader queue,
//! the write fence).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ryw_core::Position;
use tokio::sync::watch;
use tokio::time::Instant;

use super::decide::ReplicaView;
use super::ledger::{Event, Ledger, Overran};
use super::outcome::FallbackReason;
use super::watch::Watch;
use crate::backend::{ReplicationBackend, WaitOutcome};
use crate::conn_fn::{CallError, ReadFn};
use crate::leader_history::LeaderHistory;
use crate::pool::{Conn, ReplicatedPool};
use crate::tracker::{self, ReadGuard, ReplicaStatus, Tracker};
use crate::{Error, RouterConfig};

/// How a read on a replica ended.
pub(super) enum Ran<T> {
    /// The closure returned: its value (with the connection that served it) or its error.
    Done(T),
    /// It was given up on there, `why` (the leader may run it again): it overran the read
    /// deadline (`ReplicaDeadline`), or its replica went away under it — the connection
    /// died, and a fresh one could not be had or died too (`ReplicaLost`).
    Abandoned { why: FallbackReason, error: Error },
}

/// The replica part of a router.
pub(super) struct Replicas<B: ReplicationBackend> {
    pool: ReplicatedPool<B>,
    trackers: Vec<Arc<Tracker>>,
    /// Bumped whenever a replica moves, for whoever waits.
    changed: Arc<watch::Sender<u64>>,
    history: Arc<LeaderHistory>,
    /// Spreads full ties between replicas.
    rotation: AtomicUsize,
    checkout_timeout: Duration,
    read_timeout: Duration,
    ledger: Arc<Ledger>,
    /// The shared position feed, and how old an entry may be.
    feed: Option<(tracker::FeedLink, Duration)>,
}

impl<B: ReplicationBackend> Replicas<B> {
    /// The replicas of `pool`, with one tracker task each (on the current runtime, until
    /// `shutdown`).
    pub(super) fn start(
        pool: ReplicatedPool<B>,
        config: &RouterConfig,
        leader: (&Arc<LeaderHistory>, &watch::Receiver<Option<Position>>),
        ledger: Arc<Ledger>,
        feed: Option<&tracker::FeedLink>,
        shutdown: &watch::Receiver<bool>,
    ) -> Self {
        let (history, hint) = leader;
        let changed = Arc::new(watch::Sender::new(0u64));
        let trackers: Vec<Arc<Tracker>> = pool
            .replicas
            .iter()
            .map(|r| Arc::new(Tracker::new(Arc::clone(&r.name))))
            .collect();
        for (t, r) in trackers.iter().zip(&pool.replicas) {
            let ctx = tracker::Ctx {
                leader_hint: hint.clone(),
                history: Arc::clone(history),
                changed: Arc::clone(&changed),
                feed: feed.cloned(),
            };
            tokio::spawn(tracker::run(
                Arc::clone(t),
                pool.backend.clone(),
                r.pool.clone(),
                config.tracker,
                ctx,
                shutdown.clone(),
            ));
        }
        Self {
            pool,
            trackers,
            changed,
            history: Arc::clone(history),
            rotation: AtomicUsize::new(0),
            checkout_timeout: config.replica_checkout_timeout,
            read_timeout: config.replica_read_timeout,
            ledger,
            feed: feed.map(|f| (f.clone(), config.tracker.feed_lease)),
        }
    }

    /// The replicas' names when they are on a position feed (a store lookup then brings
    /// their entries back with it), else none.
    pub(super) fn fed_names(&self) -> Vec<&str> {
        match self.feed {
            Some(_) => self.trackers.iter().map(|t| &*t.name).collect(),
            None => Vec::new(),
        }
    }

    /// Entries a store lookup brought back (in replica order): trusted ones move their
    /// trackers forward, and waiting reads are told.
    pub(super) fn offer_fed(&self, entries: Vec<Option<ryw_core::store::FeedEntry>>) {
        let Some((link, max_age)) = &self.feed else {
            return;
        };
        let mut moved = false;
        for (t, e) in self.trackers.iter().zip(entries) {
            if let Some(e) = e.filter(|e| link.trusts(e, *max_age)) {
                moved |= tracker::offer(t, e);
            }
        }
        if moved {
            self.changed.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    /// How many replicas.
    pub(super) fn len(&self) -> usize {
        self.trackers.len()
    }

    /// Replica `i`'s name.
    pub(super) fn name(&self, i: usize) -> &Arc<str> {
        &self.trackers[i].name
    }

    /// The replica called `name`.
    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.trackers.iter().position(|t| &*t.name == name)
    }

    /// What the trackers last saw of each replica, in configuration order.
    pub(super) fn statuses(&self) -> Vec<(Arc<str>, ReplicaStatus)> {
        self.trackers
            .iter()
            .map(|t| (Arc::clone(&t.name), t.snapshot()))
            .collect()
    }

    /// Position queries each tracker sent.
    pub(super) fn queries(&self) -> Vec<u64> {
        self.trackers
            .iter()
            .map(|t| t.queries.load(Ordering::Relaxed))
            .collect()
    }

    /// Whether every tracker polled at least once.
    pub(super) fn all_checked(&self) -> bool {
        self.trackers
            .iter()
            .all(|t| t.status.borrow().checked_at.is_some())
    }

    /// The next value of the tie-breaking rotation.
    pub(super) fn rotate(&self) -> usize {
        self.rotation.fetch_add(1, Ordering::Relaxed)
    }

    /// Every replica as its tracker last saw it, with this router's reads in flight.
    pub(super) fn views(&self) -> Vec<ReplicaView> {
        let now = Instant::now();
        self.trackers
            .iter()
            .map(|t| {
                let s = t.status.borrow();
                let missing = s
                    .applied
                    .as_ref()
                    .and_then(|a| self.history.oldest_missing(a));
                ReplicaView {
                    online: s.online,
                    applied: s.applied.clone(),
                    in_flight: t.reads_in_flight(),
                    staleness: missing.map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
                    lag_bytes: s.lag_bytes,
                    replay_lag: s.replay_lag,
                }
            })
            .collect()
    }

    /// Counts a read running on replica `i` until the guard drops (decisions prefer idle
    /// replicas).
    pub(super) fn running(&self, i: usize) -> ReadGuard<'_> {
        self.trackers[i].read_guard()
    }

    /// Waits on `targets`' trackers (they poll at the busy cadence while watched).
    pub(super) fn watch(&self, targets: impl IntoIterator<Item = usize>) -> Watch<'_> {
        let guards = targets
            .into_iter()
            .map(|i| self.trackers[i].wait_guard())
            .collect();
        Watch::new(guards, self.changed.subscribe(), || self.views())
    }

    /// A connection to replica `i` within the checkout deadline; `None` (and a poll of its
    /// tracker) when it cannot be had that fast.
    pub(super) async fn conn(&self, i: usize) -> Option<Conn<B>> {
        let deadline = self.checkout_timeout;
        let replica: &str = self.name(i);
        let error = match tokio::time::timeout(deadline, self.pool.replica(i)).await {
            Ok(Ok(c)) => return Some(c),
            Ok(Err(e)) => e,
            Err(_) => {
                self.ledger.record(Event::Deadline {
                    replica,
                    what: Overran::Checkout,
                    after: deadline,
                });
                Error::Deadline {
                    node: replica.to_owned(),
                    what: "replica connection checkout",
                    after: deadline,
                }
            }
        };
        let error = &error;
        self.ledger
            .record(Event::ReplicaUnreachable { replica, error });
        self.trackers[i].poke();
        None
    }

    /// The server-side wait for `position` on replica `i`, on the connection that then serves
    /// the read: that connection once reached, `None` otherwise. The server times the wait
    /// out itself; one that cannot answer at all (frozen) is abandoned a checkout deadline
    /// after `budget`.
    pub(super) async fn server_wait(
        &self,
        i: usize,
        position: &Position,
        budget: Duration,
    ) -> Option<Conn<B>> {
        let mut conn = self.conn(i).await?;
        let name = self.name(i);
        let overall = budget + self.checkout_timeout;
        let wait = self
            .pool
            .backend
            .server_wait(&mut conn, name, position, budget);
        match tokio::time::timeout(overall, wait).await {
            Ok(Ok(WaitOutcome::Reached)) => Some(conn),
            Ok(Ok(WaitOutcome::TimedOut)) => None,
            Ok(Err(e)) => {
                tracing::warn!(replica = %name, error = %e, "server-side wait failed");
                None
            }
            Err(_) => {
                self.abandon(i, conn, Overran::ServerWait, overall);
                None
            }
        }
    }

    /// Runs `f` on replica `i` within the read deadline. The replica pools skip the liveness
    /// query at checkout, so a pooled connection may turn out dead (the replica restarted, a
    /// network cut): when the closure fails and the connection does not answer a trivial
    /// statement either, it is dropped with the pool's idle ones and the read runs once more
    /// on a fresh connection. Reads are re-runnable (the closure is `Clone`). A closure that
    /// fails on a live connection returns its error as is.
    pub(super) async fn run<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        i: usize,
        mut conn: Conn<B>,
        floor: Option<&Position>,
        f: F,
    ) -> Ran<Result<(R, Conn<B>), E>> {
        let first = match self.attempt(i, &mut conn, floor, f.clone()).await {
            Ok(Ok(v)) => return Ran::Done(Ok((v, conn))),
            Ok(Err(e)) => e,
            Err(()) => return self.overran(i, conn),
        };
        if self.answers(&mut conn).await {
            return Ran::Done(Err(first));
        }
        let _ = deadpool::managed::Object::take(conn);
        crate::pool::evict_idle(&self.pool.replicas[i].pool);
        self.ledger.record(Event::DeadConnectionRetried);
        tracing::debug!(replica = %self.name(i), "a pooled replica connection was dead; read retried on a fresh one");
        let Some(mut fresh) = self.conn(i).await else {
            return self.lost(i, "no fresh connection after the pooled one died");
        };
        match self.attempt(i, &mut fresh, floor, f).await {
            Ok(Ok(v)) => Ran::Done(Ok((v, fresh))),
            Ok(Err(e)) => {
                if self.answers(&mut fresh).await {
                    return Ran::Done(Err(e));
                }
                let _ = deadpool::managed::Object::take(fresh);
                self.lost(i, "the fresh connection died too")
            }
            Err(()) => self.overran(i, fresh),
        }
    }

    /// The backend's preparation, then `f`, within the read deadline (`Err(())`: overran).
    async fn attempt<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        i: usize,
        conn: &mut Conn<B>,
        floor: Option<&Position>,
        f: F,
    ) -> Result<Result<R, E>, ()> {
        let read = async {
            let backend = &self.pool.backend;
            backend
                .prepare_read(conn, self.name(i), floor)
                .await
                .map_err(E::from)?;
            f(&mut *conn).await
        };
        tokio::time::timeout(self.read_timeout, read)
            .await
            .map_err(|_| ())
    }

    /// The replica went away under a read: its tracker polls at once (it may mark it offline
    /// for the next reads), and the read is given up on it.
    fn lost<T>(&self, i: usize, reason: &str) -> Ran<T> {
        self.trackers[i].poke();
        Ran::Abandoned {
            why: FallbackReason::ReplicaLost,
            error: Error::Pool {
                node: self.name(i).to_string(),
                reason: format!("replica connection lost during a read: {reason}"),
            },
        }
    }

    fn overran<T>(&self, i: usize, conn: Conn<B>) -> Ran<T> {
        let after = self.read_timeout;
        self.abandon(i, conn, Overran::Read, after);
        Ran::Abandoned {
            why: FallbackReason::ReplicaDeadline,
            error: Error::Deadline {
                node: self.name(i).to_string(),
                what: "replica read",
                after,
            },
        }
    }

    /// Something on `conn` overran its deadline: the connection is dropped (not returned to
    /// the pool, the server may still answer), the replica's tracker polls at once, and the
    /// deadline is booked.
    fn abandon(&self, i: usize, conn: Conn<B>, what: Overran, after: Duration) {
        let _ = deadpool::managed::Object::take(conn);
        self.trackers[i].poke();
        let replica = self.name(i);
        self.ledger.record(Event::Deadline {
            replica,
            what,
            after,
        });
    }

    /// Whether a connection answers a trivial statement within the checkout deadline.
    async fn answers(&self, conn: &mut Conn<B>) -> bool {
        let check = self.pool.backend.is_alive(conn);
        matches!(
            tokio::time::timeout(self.checkout_timeout, check).await,
            Ok(true)
        )
    }

    /// The position replica `i` has applied, read on `conn` within the checkout deadline.
    pub(super) async fn position_on(&self, i: usize, conn: &mut B::Connection) -> Option<Position> {
        let at = self.pool.backend.replica_position(conn, self.name(i));
        match tokio::time::timeout(self.checkout_timeout, at).await {
            Ok(Ok(p)) => Some(p.applied),
            _ => None,
        }
    }
}

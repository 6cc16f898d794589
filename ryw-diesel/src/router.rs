//! The read router and the write path.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::{AsyncConnection, TransactionManager};
use ryw_core::{
    ClusterId, Fallback, Position, ReadPolicy, RywContext, ScopeKey, ScopeStore, metrics,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::Error;
use crate::backend::Backend;
use crate::pool::{Conn, ReplicatedPool};
use crate::tracker::{self, ReplicaStatus, Tracker, TrackerConfig};

/// How long a fenced read on a backend with a server-side wait first waits on the trackers.
const SERVER_WAIT_GRACE: Duration = Duration::from_millis(30);

/// An async closure taking a connection: `async |conn| { … }`.
///
/// A named form of `for<'r> AsyncFnOnce(&'r mut C) -> R` whose future is `Send`, so routed
/// calls can run inside spawned tasks. Every `async |conn: &mut C| …` closure implements it.
pub trait ConnFn<C, R>: AsyncFnOnce(C) -> R + FnOnce(C) -> <Self as ConnFn<C, R>>::Fut {
    /// The closure's future.
    type Fut: Future<Output = R>;
}

impl<F, C, Fut, R> ConnFn<C, R> for F
where
    F: AsyncFnOnce(C) -> R + FnOnce(C) -> Fut,
    Fut: Future<Output = R>,
{
    type Fut = Fut;
}

/// Where a routed call ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServedBy {
    /// The leader.
    Leader,
    /// The replica of this name.
    Replica(Arc<str>),
}

impl ServedBy {
    /// Whether the leader served it.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        matches!(self, Self::Leader)
    }
}

/// Why a fenced read went to the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FallbackReason {
    /// No replica reached the floor within the wait budget.
    BudgetExhausted,
    /// No replica is online.
    NoHealthyReplica,
    /// A recent write of the scope has no known position (sticky window).
    StickyWindow,
    /// The context asked for its next read on the leader (an untrusted token).
    Pinned,
}

impl FallbackReason {
    fn label(self) -> &'static str {
        match self {
            Self::BudgetExhausted => "budget_exhausted",
            Self::NoHealthyReplica => "no_healthy_replica",
            Self::StickyWindow => "sticky_window",
            Self::Pinned => "pinned",
        }
    }
}

/// The result of a routed call, with where and how it ran.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Routed<T> {
    /// What the closure returned.
    pub value: T,
    /// Where it ran.
    pub served_by: ServedBy,
    /// How long the read waited for a replica to reach its floor.
    pub waited: Duration,
    /// For reads: the floor it required. For writes: the captured position (`None` when the
    /// capture failed; the write itself committed).
    pub position: Option<Position>,
    /// Set when [`Fallback::Stale`] served the read from a replica behind its floor.
    pub stale: bool,
    /// Set when a fenced read fell back to the leader, and why.
    pub fallback: Option<FallbackReason>,
}

/// Configuration of a [`Router`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RouterConfig {
    /// The default read policy.
    pub policy: ReadPolicy,
    /// How long a scope's floor stays in the scope store after a write. Set it above the
    /// worst replication lag you expect to ride out.
    pub store_ttl: Duration,
    /// Tracker cadences.
    pub tracker: TrackerConfig,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            policy: ReadPolicy::default(),
            store_ttl: Duration::from_secs(60),
            tracker: TrackerConfig::default(),
        }
    }
}

impl RouterConfig {
    /// Sets the default read policy.
    #[must_use]
    pub fn with_policy(mut self, policy: ReadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the scope store TTL.
    #[must_use]
    pub fn with_store_ttl(mut self, ttl: Duration) -> Self {
        self.store_ttl = ttl;
        self
    }

    /// Sets the tracker cadences.
    #[must_use]
    pub fn with_tracker(mut self, tracker: TrackerConfig) -> Self {
        self.tracker = tracker;
        self
    }
}

/// Counters a router keeps (always on, independent of the `metrics` feature), for tests and
/// health pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// Reads served by a replica.
    pub replica_reads: u64,
    /// Reads served by the leader.
    pub leader_reads: u64,
    /// Fenced reads that fell back to the leader or failed.
    pub fallbacks: u64,
    /// Position queries sent by the trackers, per replica (configuration order).
    pub position_queries: Vec<u64>,
    /// Floors ignored because they belong to another cluster or timeline.
    pub foreign_floors: u64,
    /// Scope store failures (the request went on without the store).
    pub store_errors: u64,
    /// Writes whose position could not be captured.
    pub uncaptured_writes: u64,
    /// Server-side wait statements sent (backends with a server-side wait).
    pub server_waits: u64,
}

#[derive(Default)]
struct Counters {
    replica_reads: AtomicU64,
    leader_reads: AtomicU64,
    fallbacks: AtomicU64,
    foreign_floors: AtomicU64,
    store_errors: AtomicU64,
    uncaptured_writes: AtomicU64,
    server_waits: AtomicU64,
}

struct Inner<B: Backend> {
    pool: ReplicatedPool<B>,
    cluster: ClusterId,
    trackers: Vec<Arc<Tracker>>,
    store: Option<Arc<dyn ScopeStore>>,
    config: RouterConfig,
    counters: Counters,
    next: AtomicUsize,
    changed: Arc<watch::Sender<u64>>,
    leader_hint: watch::Sender<Option<Position>>,
    shutdown: watch::Sender<bool>,
}

impl<B: Backend> Drop for Inner<B> {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Routes reads and writes for read-your-writes consistency. Cheap to clone.
///
/// * [`write`](Self::write) runs a closure in a leader transaction, captures the commit
///   position after COMMIT and raises the scope's floor in the current [`RywContext`] and the
///   scope store.
/// * [`read`](Self::read) finds the scope's floor (context and store), sends the read to a
///   replica whose tracked position covers it (no extra round trip), else waits up to the
///   policy's budget, else falls back. Reads with no floor go to any healthy replica.
///
/// ```no_run
/// use diesel::sql_types::BigInt;
/// use diesel_async::RunQueryDsl;
/// use ryw_core::{RywContext, ScopeKey};
/// use ryw_diesel::{Postgres, ReplicatedPool, Router, RouterConfig};
///
/// # async fn demo() -> Result<(), ryw_diesel::Error> {
/// let pool = ReplicatedPool::builder(Postgres::new(), "postgres://app@10.0.0.1/app")
///     .replica("r1", "postgres://app@10.0.0.2/app")
///     .build()?;
/// let router = Router::new(pool, RouterConfig::default()).await?;
/// let user = ScopeKey::of("user_id", 42);
/// RywContext::new().run(async {
///     router.write(&user, async |conn| {
///         diesel::sql_query("UPDATE accounts SET balance = balance - 100 WHERE id = 42")
///             .execute(conn).await.map_err(ryw_diesel::Error::from_diesel)
///     }).await?;
///     let read = router.read(&user, async |conn| {
///         diesel::select(diesel::dsl::sql::<BigInt>("(SELECT balance FROM accounts WHERE id = 42)"))
///             .get_result::<i64>(conn).await.map_err(ryw_diesel::Error::from_diesel)
///     }).await?;
///     println!("balance {} served by {:?}", read.value, read.served_by);
///     Ok(())
/// }).await
/// # }
/// ```
pub struct Router<B: Backend> {
    inner: Arc<Inner<B>>,
}

impl<B: Backend> Clone for Router<B> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

enum Pick {
    Replica(usize),
    Leader(FallbackReason),
    Stale(usize),
    Fail,
}

impl<B: Backend> Router<B> {
    /// Creates a router: reads the cluster identity from the leader and starts one tracker task
    /// per replica (on the current tokio runtime; they stop when the last clone is dropped).
    ///
    /// # Errors
    /// [`Error::Pool`] / [`Error::Query`] when the leader cannot be reached.
    pub async fn new(pool: ReplicatedPool<B>, config: RouterConfig) -> Result<Self, Error> {
        Self::with_store_opt(pool, config, None).await
    }

    /// As [`new`](Self::new), with a scope store shared with other requests and instances.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub async fn with_store(
        pool: ReplicatedPool<B>,
        config: RouterConfig,
        store: Arc<dyn ScopeStore>,
    ) -> Result<Self, Error> {
        Self::with_store_opt(pool, config, Some(store)).await
    }

    async fn with_store_opt(
        pool: ReplicatedPool<B>,
        config: RouterConfig,
        store: Option<Arc<dyn ScopeStore>>,
    ) -> Result<Self, Error> {
        let (cluster, leader_pos) = {
            let mut conn = pool.leader().await?;
            let cluster = pool.backend.cluster_id(&mut conn).await?;
            let pos = pool.backend.leader_position(&mut conn).await?;
            (cluster, pos)
        };
        tracing::info!(%cluster, replicas = pool.replicas.len(), "ryw router started");
        let trackers: Vec<Arc<Tracker>> = pool
            .replicas
            .iter()
            .map(|r| Arc::new(Tracker::new(Arc::clone(&r.name))))
            .collect();
        let (shutdown, _) = watch::channel(false);
        let (leader_hint, _) = watch::channel(Some(leader_pos));
        let changed = Arc::new(watch::Sender::new(0u64));
        for (t, r) in trackers.iter().zip(&pool.replicas) {
            tokio::spawn(tracker::run(
                Arc::clone(t),
                pool.backend.clone(),
                r.pool.clone(),
                config.tracker,
                leader_hint.subscribe(),
                Arc::clone(&changed),
                shutdown.subscribe(),
            ));
        }
        tokio::spawn(poll_leader(
            pool.clone(),
            leader_hint.clone(),
            config.tracker.idle_interval,
            shutdown.subscribe(),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                cluster,
                trackers,
                store,
                config,
                counters: Counters::default(),
                next: AtomicUsize::new(0),
                changed,
                leader_hint,
                shutdown,
            }),
        })
    }

    /// The identity of the cluster this router serves.
    #[must_use]
    pub fn cluster(&self) -> &ClusterId {
        &self.inner.cluster
    }

    /// The default read policy (start of a per-call override:
    /// `router.policy().with_wait_budget(..)`).
    #[must_use]
    pub fn policy(&self) -> ReadPolicy {
        self.inner.config.policy
    }

    /// The pools.
    #[must_use]
    pub fn pool(&self) -> &ReplicatedPool<B> {
        &self.inner.pool
    }

    /// What the trackers last saw of each replica, in configuration order.
    #[must_use]
    pub fn replica_status(&self) -> Vec<(Arc<str>, ReplicaStatus)> {
        self.inner
            .trackers
            .iter()
            .map(|t| (Arc::clone(&t.name), t.snapshot()))
            .collect()
    }

    /// Waits until the trackers have polled every replica at least once (online or not),
    /// at most `timeout`. Useful right after start-up.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .inner
                .trackers
                .iter()
                .all(|t| t.snapshot().checked_at.is_some())
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A snapshot of the router's counters.
    #[must_use]
    pub fn stats(&self) -> RouterStats {
        let c = &self.inner.counters;
        RouterStats {
            replica_reads: c.replica_reads.load(Ordering::Relaxed),
            leader_reads: c.leader_reads.load(Ordering::Relaxed),
            fallbacks: c.fallbacks.load(Ordering::Relaxed),
            position_queries: self
                .inner
                .trackers
                .iter()
                .map(|t| t.queries.load(Ordering::Relaxed))
                .collect(),
            foreign_floors: c.foreign_floors.load(Ordering::Relaxed),
            store_errors: c.store_errors.load(Ordering::Relaxed),
            uncaptured_writes: c.uncaptured_writes.load(Ordering::Relaxed),
            server_waits: c.server_waits.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` in a transaction on the leader, then captures the commit position and raises
    /// `scope`'s floor in the current [`RywContext`] (if any) and in the scope store.
    ///
    /// If the transaction fails it is rolled back and the error returned. If the capture fails
    /// after COMMIT, the write still succeeded: it is returned with `position: None`, the scope
    /// is marked as written without a position (see [`ReadPolicy::sticky_window`]) and the
    /// failure is logged and counted.
    ///
    /// # Errors
    /// The closure's error, or a pool / BEGIN / COMMIT error converted into `E` (from
    /// [`Error`]).
    pub async fn write<R, E, F>(&self, scope: &ScopeKey, f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let span = tracing::debug_span!("ryw.write", scope = %scope);
        async move {
            let inner = &self.inner;
            let mut conn = inner.pool.leader().await.map_err(E::from)?;
            let value = run_in_transaction::<B, R, E, F>(&mut conn, f).await?;
            let position = match inner.pool.backend.capture(&mut conn).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(scope = %scope, error = %e, "write committed but its position could not be captured");
                    inner
                        .counters
                        .uncaptured_writes
                        .fetch_add(1, Ordering::Relaxed);
                    None
                }
            };
            drop(conn);
            metrics::write(position.is_some());
            self.record_write(scope, position.as_ref()).await;
            Ok(Routed {
                value,
                served_by: ServedBy::Leader,
                waited: Duration::ZERO,
                position,
                stale: false,
                fallback: None,
            })
        }
        .instrument(span)
        .await
    }

    /// Raises `scope`'s floor to `position` in the current context and the store, as
    /// [`write`](Self::write) does after its own capture (for writes made outside the router).
    pub async fn record_write(&self, scope: &ScopeKey, position: Option<&Position>) {
        let inner = &self.inner;
        let ctx = RywContext::current();
        let Some(position) = position else {
            if let Some(ctx) = ctx {
                ctx.mark_unfenced_write(scope);
            }
            return;
        };
        if let Some(ctx) = ctx
            && let Err(e) = ctx.raise(&inner.cluster, scope, position.clone())
        {
            tracing::warn!(scope = %scope, error = %e, "could not raise the context floor");
        }
        // Refresh the trackers now, so the next fenced read finds a current cache.
        for t in &inner.trackers {
            t.poke();
        }
        inner.leader_hint.send_if_modified(|hint| match hint {
            Some(h) if h.covers(position).unwrap_or(true) => false,
            _ => {
                *hint = Some(position.clone());
                true
            }
        });
        if let Some(store) = &inner.store
            && let Err(e) = store
                .raise(&inner.cluster, scope, position, inner.config.store_ttl)
                .await
        {
            inner.counters.store_errors.fetch_add(1, Ordering::Relaxed);
            metrics::store_error(store.name());
            tracing::warn!(scope = %scope, error = %e, "scope store raise failed; the context and token still carry the floor");
        }
    }

    /// Reads with the router's default policy. See [`read_with`](Self::read_with).
    ///
    /// # Errors
    /// As [`read_with`](Self::read_with).
    pub async fn read<R, E, F>(&self, scope: &ScopeKey, f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let policy = self.inner.config.policy;
        self.read_with(scope, &policy, f).await
    }

    /// Reads `scope` under `policy`: to a replica that has applied the scope's floor, waiting
    /// up to the budget, else the policy's fallback.
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
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let span = tracing::debug_span!("ryw.read", scope = %scope);
        async move {
            let start = Instant::now();
            let floor = self.floor(scope).await;
            let (pick, waited_conn) = match &floor {
                None => (self.pick_unfenced(scope, policy), None),
                Some(floor) => self.pick_fenced(floor, policy).await,
            };
            let waited = start.elapsed();
            let fenced = floor.is_some();
            let (mut conn, served_by, stale, fallback) = match pick {
                Pick::Replica(i) | Pick::Stale(i) => {
                    let stale = matches!(pick, Pick::Stale(_));
                    let conn = match waited_conn {
                        Some(c) => Some(c),
                        None => self.replica_conn(i).await,
                    };
                    match conn {
                        Some(c) => (
                            c,
                            ServedBy::Replica(Arc::clone(&self.inner.trackers[i].name)),
                            stale,
                            None,
                        ),
                        None => (
                            self.leader_conn().await.map_err(E::from)?,
                            ServedBy::Leader,
                            false,
                            Some(FallbackReason::NoHealthyReplica),
                        ),
                    }
                }
                Pick::Leader(reason) => (
                    self.leader_conn().await.map_err(E::from)?,
                    ServedBy::Leader,
                    false,
                    Some(reason),
                ),
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
            };
            self.count_read(&served_by, fenced, stale, fallback);
            let value = f(&mut conn).await?;
            Ok(Routed {
                value,
                served_by,
                waited,
                position: floor,
                stale,
                fallback,
            })
        }
        .instrument(span)
        .await
    }

    fn count_read(
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

    /// The floor a read of `scope` must see: context and store merged. Floors of another
    /// cluster of the same family (another cluster, or this one before a failover) are
    /// ignored and counted.
    async fn floor(&self, scope: &ScopeKey) -> Option<Position> {
        let inner = &self.inner;
        let ctx = RywContext::current();
        let mut floor = None;
        if let Some(ctx) = &ctx {
            match ctx.required(&inner.cluster, scope) {
                Ok(p) => floor = p,
                Err(e) => tracing::warn!(scope = %scope, error = %e, "context floor unusable"),
            }
            let family = inner.pool.backend.family();
            let foreign = ctx.floors().clusters().any(|(c, f)| {
                c != &inner.cluster
                    && c.as_str().starts_with(family)
                    && (f.session().is_some() || f.scopes().any(|(s, _)| s == scope))
            });
            if foreign {
                inner
                    .counters
                    .foreign_floors
                    .fetch_add(1, Ordering::Relaxed);
                metrics::foreign_floor();
                tracing::debug!(scope = %scope, "ignoring a floor from another cluster or timeline");
            }
        }
        if let Some(store) = &inner.store {
            match store.get(&inner.cluster, scope).await {
                Ok(Some(p)) => {
                    floor = Some(match floor {
                        None => p,
                        Some(f) => f.merge(&p).unwrap_or(f),
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    inner.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                    metrics::store_error(store.name());
                    tracing::warn!(scope = %scope, error = %e, "scope store unavailable; using the context floor only");
                }
            }
        }
        floor
    }

    fn online(&self) -> Vec<(usize, Option<Position>)> {
        self.inner
            .trackers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let s = t.status.borrow();
                s.online.then(|| (i, s.applied.clone()))
            })
            .collect()
    }

    fn rotate(&self, n: usize) -> usize {
        self.inner.next.fetch_add(1, Ordering::Relaxed) % n.max(1)
    }

    fn pick_unfenced(&self, scope: &ScopeKey, policy: &ReadPolicy) -> Pick {
        if let Some(ctx) = RywContext::current() {
            if ctx.take_leader_pin() {
                return Pick::Leader(FallbackReason::Pinned);
            }
            if let (Some(window), Some(at)) = (policy.sticky_window, ctx.unfenced_write_at(scope))
                && at.elapsed() < window
            {
                return Pick::Leader(FallbackReason::StickyWindow);
            }
        }
        let online = self.online();
        if online.is_empty() {
            return Pick::Leader(FallbackReason::NoHealthyReplica);
        }
        Pick::Replica(online[self.rotate(online.len())].0)
    }

    fn covering(&self, floor: &Position) -> Vec<usize> {
        self.online()
            .into_iter()
            .filter(|(_, at)| {
                at.as_ref()
                    .is_some_and(|a| a.covers(floor).unwrap_or(false))
            })
            .map(|(i, _)| i)
            .collect()
    }

    async fn pick_fenced(&self, floor: &Position, policy: &ReadPolicy) -> (Pick, Option<Conn<B>>) {
        let covering = self.covering(floor);
        if !covering.is_empty() {
            return (Pick::Replica(covering[self.rotate(covering.len())]), None);
        }
        let deadline = Instant::now() + policy.wait_budget;
        if !policy.wait_budget.is_zero() && !self.online().is_empty() {
            let backend = &self.inner.pool.backend;
            if backend.has_server_wait() {
                // First let the (just poked) trackers refresh the cache: a replica that has
                // already caught up is then used without a wait statement, and a paused or
                // stuck replica is not chosen for the server-side wait.
                let slice = deadline.min(Instant::now() + SERVER_WAIT_GRACE);
                if let Some(i) = self.tracker_wait(floor, slice).await {
                    return (Pick::Replica(i), None);
                }
                let remaining = deadline.saturating_duration_since(Instant::now());
                if !remaining.is_zero()
                    && let Some((i, conn)) = self.server_wait(floor, remaining).await
                {
                    metrics::read_wait(
                        policy.wait_budget.saturating_sub(deadline - Instant::now()),
                        true,
                    );
                    return (Pick::Replica(i), Some(conn));
                }
            } else if let Some(i) = self.tracker_wait(floor, deadline).await {
                return (Pick::Replica(i), None);
            }
            metrics::read_wait(policy.wait_budget, false);
        }
        let online = self.online();
        let pick = match policy.fallback {
            Fallback::Leader => Pick::Leader(if online.is_empty() {
                FallbackReason::NoHealthyReplica
            } else {
                FallbackReason::BudgetExhausted
            }),
            Fallback::Error => Pick::Fail,
            // The freshest online replica; the leader when none is online.
            _ => online
                .iter()
                .max_by(|a, b| freshness(&a.1, &b.1))
                .map_or(Pick::Leader(FallbackReason::NoHealthyReplica), |(i, _)| {
                    Pick::Stale(*i)
                }),
        };
        (pick, None)
    }

    /// Waits on the trackers' change signal until an online replica covers `floor`.
    async fn tracker_wait(&self, floor: &Position, deadline: Instant) -> Option<usize> {
        let started = Instant::now();
        let _guards: Vec<_> = self.inner.trackers.iter().map(|t| t.wait_guard()).collect();
        let mut changed = self.inner.changed.subscribe();
        loop {
            let covering = self.covering(floor);
            if !covering.is_empty() {
                metrics::read_wait(started.elapsed(), true);
                return Some(covering[self.rotate(covering.len())]);
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Server-side wait on the most advanced online replica, on the connection that will
    /// serve the read.
    async fn server_wait(&self, floor: &Position, budget: Duration) -> Option<(usize, Conn<B>)> {
        let online = self.online();
        let (i, _) = online.iter().max_by(|a, b| freshness(&a.1, &b.1))?;
        let mut conn = self.replica_conn(*i).await?;
        let name = &self.inner.trackers[*i].name;
        self.inner
            .counters
            .server_waits
            .fetch_add(1, Ordering::Relaxed);
        match self
            .inner
            .pool
            .backend
            .server_wait(&mut conn, name, floor, budget)
            .await
        {
            Ok(true) => Some((*i, conn)),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(replica = %name, error = %e, "server-side wait failed");
                None
            }
        }
    }

    async fn replica_conn(&self, i: usize) -> Option<Conn<B>> {
        match self.inner.pool.replica(i).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(replica = %self.inner.trackers[i].name, error = %e, "replica connection failed");
                self.inner.trackers[i].poke();
                None
            }
        }
    }

    async fn leader_conn(&self) -> Result<Conn<B>, Error> {
        self.inner.pool.leader().await
    }
}

/// Orders optional positions by freshness where they are comparable.
fn freshness(a: &Option<Position>, b: &Option<Position>) -> std::cmp::Ordering {
    use std::cmp::Ordering as O;
    match (a, b) {
        (Some(a), Some(b)) => match (a.covers(b), b.covers(a)) {
            (Ok(true), Ok(false)) => O::Greater,
            (Ok(false), Ok(true)) => O::Less,
            _ => O::Equal,
        },
        (Some(_), None) => O::Greater,
        (None, Some(_)) => O::Less,
        (None, None) => O::Equal,
    }
}

async fn run_in_transaction<B, R, E, F>(conn: &mut B::Connection, f: F) -> Result<R, E>
where
    B: Backend,
    F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
    E: From<Error> + Send,
    R: Send,
{
    type Tm<C> = <C as AsyncConnection>::TransactionManager;
    let tx_err = |what: &'static str| {
        move |source| {
            E::from(Error::Query {
                what,
                node: "leader".into(),
                source,
            })
        }
    };
    Tm::<B::Connection>::begin_transaction(conn)
        .await
        .map_err(tx_err("BEGIN"))?;
    match f(&mut *conn).await {
        Ok(v) => {
            Tm::<B::Connection>::commit_transaction(conn)
                .await
                .map_err(tx_err("COMMIT"))?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = Tm::<B::Connection>::rollback_transaction(conn).await {
                tracing::warn!(error = %rb, "rollback after a failed write failed");
            }
            Err(e)
        }
    }
}

/// Keeps the leader's current position fresh for lag-in-bytes figures.
async fn poll_leader<B: Backend>(
    pool: ReplicatedPool<B>,
    hint: watch::Sender<Option<Position>>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Ok(mut conn) = pool.leader().await
            && let Ok(p) = pool.backend.leader_position(&mut conn).await
        {
            hint.send_if_modified(|h| match h {
                Some(cur) if cur.covers(&p).unwrap_or(true) => false,
                _ => {
                    *h = Some(p);
                    true
                }
            });
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

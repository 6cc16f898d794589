//! The read router and the write path.

mod background;
mod config;
mod conn_fn;
mod connections;
mod decide;
mod epochs;
mod floor;
mod leader_route;
mod leader_slots;
mod monotonic;
mod outcome;
mod overlap;
mod pick;
mod policies;
mod read;
mod replica_run;
mod stats;
mod verify;
mod write;
mod write_fence;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use ryw_core::{ClusterId, Position, ReadPolicy, ScopeStore};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Error;
use crate::backend::{Captured, ReplicationBackend};
use crate::leader_history::LeaderHistory;
use crate::pool::{Conn, ReplicatedPool};
use crate::tracker::{self, ReplicaStatus, Tracker};
use crate::transaction::{begin, run_in_transaction};

use background::poll_leader;
pub use config::RouterConfig;
pub use conn_fn::ConnFn;
use epochs::Epochs;
pub use outcome::{FallbackReason, Routed, ServedBy};
pub use stats::RouterStats;
use stats::{Counters, Warnings};
pub use write_fence::{ApplyOn, Replicated, WriteFence};

/// How long a fenced read on a backend with a server-side wait first waits on the trackers.
const SERVER_WAIT_GRACE: Duration = Duration::from_millis(30);

struct Inner<B: ReplicationBackend> {
    pool: ReplicatedPool<B>,
    cluster: ClusterId,
    trackers: Vec<Arc<Tracker>>,
    store: Option<Arc<dyn ScopeStore>>,
    config: RouterConfig,
    counters: Counters,
    warnings: Warnings,
    next: AtomicUsize,
    changed: Arc<watch::Sender<u64>>,
    leader_hint: watch::Sender<Option<Position>>,
    /// The leader's positions over time: lag in time, catch-up estimates, pending floors.
    history: Arc<LeaderHistory>,
    /// The bound on fallback reads the leader serves at once.
    leader_slots: leader_slots::LeaderSlots,
    epochs: Epochs,
    /// Set once the write-outside-any-context warning was logged.
    warned_no_context: std::sync::atomic::AtomicBool,
    /// Read policies by name, for `#[read(policy = "…")]` and `read_named`.
    policies: policies::Named,
    shutdown: watch::Sender<bool>,
}

impl<B: ReplicationBackend> Drop for Inner<B> {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Routes reads and writes for read-your-writes consistency. Cheap to clone.
///
/// * [`write`](Self::write) runs a closure in a leader transaction, captures the commit
///   position after COMMIT and raises the scope's floor in the current [`RywContext`](ryw_core::RywContext) and the
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
pub struct Router<B: ReplicationBackend> {
    inner: Arc<Inner<B>>,
}

impl<B: ReplicationBackend> Clone for Router<B> {
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
    /// Bound for the leader, whose fallback slots are taken: queue for one.
    Queue,
    /// Bound for the leader, whose fallback slots are taken: fail.
    Shed,
}

/// Capacity (scopes) of the in-process store a router made by [`Router::new`] keeps.
pub const DEFAULT_STORE_CAPACITY: u64 = 100_000;

impl<B: ReplicationBackend> Router<B> {
    /// Creates a router: reads the cluster identity from the leader and starts one tracker task
    /// per replica (on the current tokio runtime; they stop when the last clone is dropped).
    ///
    /// Floors are also kept in an in-process [`MemoryStore`](ryw_core::MemoryStore) (up to
    /// [`DEFAULT_STORE_CAPACITY`] scopes, for [`RouterConfig::store_ttl`]), so a single-instance
    /// app is fenced across requests and outside any [`RywContext`](ryw_core::RywContext)
    /// (a CLI, a job, a test without the layer). Several instances need a shared store
    /// ([`with_store`](Self::with_store)); [`without_store`](Self::without_store) opts out.
    ///
    /// # Errors
    /// [`Error::Pool`] / [`Error::Query`] when the leader cannot be reached.
    pub async fn new(pool: ReplicatedPool<B>, config: RouterConfig) -> Result<Self, Error> {
        let store: Arc<dyn ScopeStore> =
            Arc::new(ryw_core::MemoryStore::new(DEFAULT_STORE_CAPACITY));
        Self::with_store_opt(pool, config, Some(store)).await
    }

    /// As [`new`](Self::new) but with no scope store at all: floors live only in request
    /// contexts and the tokens they export. A write outside any context then fences nothing;
    /// the router says so once at `warn` and counts it (`RouterStats::unfenced_by_setup`).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub async fn without_store(
        pool: ReplicatedPool<B>,
        config: RouterConfig,
    ) -> Result<Self, Error> {
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
        let (cluster, leader_pos, history) = {
            let mut conn = pool.leader().await?;
            let cluster = pool.backend.cluster_id(&mut conn).await?;
            let pos = pool.backend.leader_position(&mut conn).await?.position;
            let history = pool.backend.epoch_history(&mut conn).await?;
            (cluster, pos, history)
        };
        let epoch = history.as_ref().map(ryw_core::EpochHistory::current);
        tracing::info!(%cluster, ?epoch, replicas = pool.replicas.len(), "ryw router started");
        let trackers: Vec<Arc<Tracker>> = pool
            .replicas
            .iter()
            .map(|r| Arc::new(Tracker::new(Arc::clone(&r.name))))
            .collect();
        let (shutdown, _) = watch::channel(false);
        let leader_log = Arc::new(LeaderHistory::default());
        leader_log.record(Instant::now(), &leader_pos);
        let (leader_hint, _) = watch::channel(Some(leader_pos));
        let changed = Arc::new(watch::Sender::new(0u64));
        for (t, r) in trackers.iter().zip(&pool.replicas) {
            let ctx = tracker::Ctx {
                leader_hint: leader_hint.subscribe(),
                history: Arc::clone(&leader_log),
                changed: Arc::clone(&changed),
            };
            tokio::spawn(tracker::run(
                Arc::clone(t),
                pool.backend.clone(),
                r.pool.clone(),
                config.tracker,
                ctx,
                shutdown.subscribe(),
            ));
        }
        let slots = config
            .leader_fallback_limit
            .unwrap_or_else(|| pool.leader.status().max_size / 2);
        let poll_interval = config.tracker.idle_interval;
        let poll_shutdown = shutdown.subscribe();
        let router = Self {
            inner: Arc::new(Inner {
                pool,
                cluster,
                trackers,
                store,
                config,
                counters: Counters::default(),
                warnings: Warnings::default(),
                next: AtomicUsize::new(0),
                changed,
                leader_hint,
                history: leader_log,
                leader_slots: leader_slots::LeaderSlots::new(slots),
                epochs: Epochs::new(history),
                warned_no_context: std::sync::atomic::AtomicBool::new(false),
                policies: policies::Named::default(),
                shutdown,
            }),
        };
        tokio::spawn(poll_leader(
            Arc::downgrade(&router.inner),
            poll_interval,
            poll_shutdown,
        ));
        Ok(router)
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
}

//! The read router and the write path.

mod asking;
mod config;
mod decide;
mod epochs;
mod event;
mod feed_link;
mod floor;
mod fresh;
mod leader;
mod leader_feed;
mod leader_holds;
mod leader_slots;
mod ledger;
mod lost_once;
mod monotonic;
mod outcome;
mod overlap;
mod policies;
mod read;
mod replicas;
mod serve;
mod stats;
mod store_epochs;
mod store_guard;
mod verify;
mod watch;
mod write;
mod write_fence;

use std::sync::Arc;

use ryw_core::{ClusterId, ReadPolicy, ScopeStore};
use tokio::sync::watch as channel;

use crate::Error;
use crate::backend::ReplicationBackend;
use crate::pool::ReplicatedPool;

pub use crate::conn_fn::ConnFn;
pub use config::RouterConfig;
use feed_link::feed_link;
use floor::FloorSource;
use leader::Leader;
use leader_slots::LeaderSlots;
use ledger::Ledger;
pub use outcome::{FallbackReason, Routed, ServedBy};
use replicas::Replicas;
pub use stats::RouterStats;
use verify::Sampler;
pub use write_fence::{ApplyOn, Replicated, WriteFence};

/// The parts of a router, each owning its state.
struct Inner<B: ReplicationBackend> {
    pool: ReplicatedPool<B>,
    config: RouterConfig,
    /// The leader: connections, positions over time, epochs, fallback slots.
    leader: Arc<Leader<B>>,
    /// The replicas: pools, trackers, waits, reads on them.
    replicas: Replicas<B>,
    /// Floors in contexts and the store.
    floors: FloorSource,
    /// The fence after the store lost its data.
    guard: store_guard::StoreGuard,
    /// Counters, metrics and warnings, booked once per event.
    ledger: Arc<Ledger>,
    /// Read policies by name, for `#[read(policy = "…")]` and `read_named`.
    policies: policies::Named,
    sampler: Sampler,
    shutdown: channel::Sender<bool>,
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

/// Capacity (scopes) of the in-process store a router made by [`Router::new`] keeps.
pub const DEFAULT_STORE_CAPACITY: u64 = 100_000;

impl<B: ReplicationBackend> Router<B> {
    /// Creates a router: reads the cluster identity from the leader and starts one tracker task
    /// per replica (on the current tokio runtime; they stop when the last clone is dropped).
    ///
    /// Floors are also kept in an in-process [`MemoryStore`](ryw_core::MemoryStore) (up to
    /// [`DEFAULT_STORE_CAPACITY`] scopes, for [`RouterConfig::with_store_ttl`]), so a single-instance
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
        let start = Leader::introduce(&pool).await?;
        let epoch = start.epochs.as_ref().map(ryw_core::EpochHistory::current);
        let cluster = start.cluster.clone();
        tracing::info!(%cluster, ?epoch, replicas = pool.replicas.len(), "ryw router started");
        let ledger = Arc::new(Ledger::default());
        let (shutdown, _) = channel::channel(false);
        let limit = config
            .leader_fallback_limit
            .unwrap_or_else(|| pool.leader.status().max_size / 2);
        let slots = LeaderSlots::new(limit, config.leader_fallback_rate);
        ryw_core::metrics::leader_fallback_budget(slots.limit(), slots.rate_limit());
        let leader = Arc::new(Leader::new(pool.clone(), start, slots, Arc::clone(&ledger)));
        let hint = leader.hint();
        let feed = store
            .as_ref()
            .filter(|s| config.tracker.position_feed && s.feed().is_some())
            .map(|s| feed_link(s, &cluster, &leader));
        let replicas = Replicas::start(
            pool.clone(),
            &config,
            (leader.history(), &hint),
            Arc::clone(&ledger),
            feed.as_ref(),
            &shutdown.subscribe(),
        );
        let windows = (config.store_ttl, config.unfenced_window);
        let family = pool.backend.family();
        let floors = FloorSource::new(store, cluster, family, windows, Arc::clone(&ledger));
        let leader_feed = feed
            .clone()
            .map(|f| leader_feed::LeaderFeed::new(f, config.tracker.feed_lease));
        let interval = config.tracker.idle_interval;
        tokio::spawn(Arc::clone(&leader).poll(interval, leader_feed, shutdown.subscribe()));
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                sampler: Sampler::new(config.verify_one_in),
                config,
                leader,
                replicas,
                floors,
                guard: store_guard::StoreGuard::default(),
                ledger,
                policies: policies::Named::default(),
                shutdown,
            }),
        })
    }

    /// The identity of the cluster this router serves.
    #[must_use]
    pub fn cluster(&self) -> &ClusterId {
        self.inner.leader.cluster()
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

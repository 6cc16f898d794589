//! Leader and replica connection pools.

use std::sync::Arc;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{Object, Pool, Timeouts};

use crate::Error;
use crate::backend::ReplicationBackend;
use crate::circuit::Circuit;

/// Sizes and timeouts of every pool in a [`ReplicatedPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Connections per node.
    pub(crate) max_size: usize,
    /// How long to wait for a free connection.
    pub(crate) wait_timeout: Duration,
    /// How long to wait for a new connection to be established.
    pub(crate) create_timeout: Duration,
    /// How long recycling a reused connection may take (its local checks; no query).
    pub(crate) recycle_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 16,
            wait_timeout: Duration::from_secs(5),
            create_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(2),
        }
    }
}

impl PoolConfig {
    /// Sets the connections per node.
    #[must_use]
    pub fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// Sets all three timeouts at once.
    #[must_use]
    pub fn with_timeouts(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self.create_timeout = timeout;
        self.recycle_timeout = timeout;
        self
    }
}

/// A pooled connection of backend `B`.
pub type Conn<B> = Object<<B as ReplicationBackend>::Manager>;

/// One named replica's pool.
pub struct ReplicaPool<B: ReplicationBackend> {
    pub(crate) name: Arc<str>,
    pub(crate) pool: Pool<B::Manager>,
}

impl<B: ReplicationBackend> ReplicaPool<B> {
    /// The replica's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One leader pool and any number of named replica pools of diesel-async connections, on
/// deadpool with the tokio runtime set (so every timeout works).
///
/// ```no_run
/// use ryw_diesel::{PoolConfig, Postgres, ReplicatedPool};
/// # fn main() -> Result<(), ryw_diesel::Error> {
/// let pool = ReplicatedPool::builder(Postgres::new(), "postgres://app@10.0.0.1/app")
///     .replica("replica-a", "postgres://app@10.0.0.2/app")
///     .replica("replica-b", "postgres://app@10.0.0.3/app")
///     .config(PoolConfig::default().with_max_size(32))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct ReplicatedPool<B: ReplicationBackend> {
    pub(crate) backend: B,
    pub(crate) leader: Pool<B::Manager>,
    /// The circuit on connecting to the leader, shared by its two pools.
    pub(crate) leader_circuit: Arc<Circuit>,
    /// The leader's connections for reads (fallbacks, pinned and verification reads): apart
    /// from the writes' pool, so a read the router sends to the leader never queues behind
    /// writes for a connection. As every pool, without a per-checkout liveness query (a dead
    /// connection is found by the read, and the read run again on a fresh one).
    pub(crate) leader_reads: Pool<B::Manager>,
    pub(crate) replicas: Vec<ReplicaPool<B>>,
}

impl<B: ReplicationBackend> Clone for ReplicaPool<B> {
    fn clone(&self) -> Self {
        Self {
            name: Arc::clone(&self.name),
            pool: self.pool.clone(),
        }
    }
}

impl<B: ReplicationBackend> Clone for ReplicatedPool<B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            leader: self.leader.clone(),
            leader_circuit: Arc::clone(&self.leader_circuit),
            leader_reads: self.leader_reads.clone(),
            replicas: self.replicas.clone(),
        }
    }
}

/// Builds a [`ReplicatedPool`].
pub struct ReplicatedPoolBuilder<B: ReplicationBackend> {
    backend: B,
    leader: String,
    replicas: Vec<(String, String)>,
    config: PoolConfig,
}

impl<B: ReplicationBackend> ReplicatedPoolBuilder<B> {
    /// Adds a replica.
    #[must_use]
    pub fn replica(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.replicas.push((name.into(), url.into()));
        self
    }

    /// Sets sizes and timeouts.
    #[must_use]
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Builds the pools (no connection is opened yet).
    ///
    /// # Errors
    /// [`Error::Config`] for duplicate replica names, a zero pool size, or a pool that
    /// cannot be built.
    pub fn build(self) -> Result<ReplicatedPool<B>, Error> {
        if self.config.max_size == 0 {
            return Err(Error::Config("pool max_size must be at least 1".into()));
        }
        // No pool sends a `SELECT 1` per checkout (see `ReplicationBackend::manager`): a
        // read is one round trip, a write no more than without ryw.
        let make = |url: &str| -> Result<Pool<B::Manager>, Error> {
            Pool::builder(self.backend.manager(url))
                .max_size(self.config.max_size)
                .timeouts(Timeouts {
                    wait: Some(self.config.wait_timeout),
                    create: Some(self.config.create_timeout),
                    recycle: Some(self.config.recycle_timeout),
                })
                .runtime(Runtime::Tokio1)
                .build()
                .map_err(|e| Error::Config(format!("building the pool: {e}")))
        };
        let mut replicas: Vec<ReplicaPool<B>> = Vec::with_capacity(self.replicas.len());
        for (name, url) in &self.replicas {
            if name == "leader" || replicas.iter().any(|r| *r.name == **name) {
                return Err(Error::Config(format!(
                    "replica name {name:?} is used twice or reserved"
                )));
            }
            replicas.push(ReplicaPool {
                name: name.as_str().into(),
                pool: make(url)?,
            });
        }
        Ok(ReplicatedPool {
            leader: make(&self.leader)?,
            leader_circuit: Arc::default(),
            leader_reads: make(&self.leader)?,
            backend: self.backend,
            replicas,
        })
    }
}

impl<B: ReplicationBackend> ReplicatedPool<B> {
    /// Starts building pools for a leader at `leader_url`.
    pub fn builder(backend: B, leader_url: impl Into<String>) -> ReplicatedPoolBuilder<B> {
        ReplicatedPoolBuilder {
            backend,
            leader: leader_url.into(),
            replicas: Vec::new(),
            config: PoolConfig::default(),
        }
    }

    /// A connection to the leader.
    ///
    /// # Errors
    /// [`Error::Pool`] when none can be had within the timeouts.
    pub async fn leader(&self) -> Result<Conn<B>, Error> {
        self.leader_circuit.checkout(&self.leader, "leader").await
    }

    /// A connection to replica number `index`.
    ///
    /// # Errors
    /// [`Error::Pool`] when none can be had, [`Error::Config`] for an index out of range.
    pub async fn replica(&self, index: usize) -> Result<Conn<B>, Error> {
        let r = self
            .replicas
            .get(index)
            .ok_or_else(|| Error::Config(format!("no replica number {index}")))?;
        checkout(&r.pool, &r.name).await
    }

    /// The replicas, in configuration order.
    #[must_use]
    pub fn replicas(&self) -> &[ReplicaPool<B>] {
        &self.replicas
    }

    #[doc(hidden)]
    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &B {
        &self.backend
    }
}

/// A connection of `pool`, whose node is called `node` in the error.
pub(crate) async fn checkout<M: deadpool::managed::Manager>(
    pool: &Pool<M>,
    node: &str,
) -> Result<Object<M>, Error>
where
    M::Error: std::fmt::Display,
{
    pool.get().await.map_err(|e| Error::Pool {
        node: node.into(),
        reason: e.to_string(),
    })
}

/// Drops every idle connection of `pool`: one of them was found dead, and connections opened
/// to the same server before it most likely died with it (a restart, a network cut): no pool
/// checks its connections with a query at checkout.
pub(crate) fn evict_idle<M: deadpool::managed::Manager>(pool: &Pool<M>) {
    pool.retain(|_, _| false);
}

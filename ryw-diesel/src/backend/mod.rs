//! The seam between the router and a database: how to capture a write's position, read a
//! replica's applied position, identify the cluster, and (where the server can) wait
//! server-side for a position.
//!
//! Backends know nothing of HTTP, scopes or policies; the router knows nothing of SQL.

#[cfg(feature = "mysql")]
mod my_sql;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod pg_sql;
#[cfg(feature = "postgres")]
mod pg_timeline;
#[cfg(feature = "postgres")]
mod postgres;

use std::future::Future;
use std::time::Duration;

use diesel_async::AsyncConnection;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use ryw_core::{ClusterId, EpochHistory, Position, PositionKind};

#[cfg(feature = "mysql")]
pub use mysql::{Dialect, Mysql, wait_statement};
#[cfg(feature = "postgres")]
pub use postgres::Postgres;

use crate::Error;

/// What a replica reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaPosition {
    /// The position the replica has applied (its reads show every write it covers).
    pub applied: Position,
    /// Seconds since the last replayed transaction's commit on the leader, where the server
    /// tells (approximate; grows while the leader is idle).
    pub lag_seconds: Option<f64>,
}

/// A leader position and the leader epoch it was read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The position.
    pub position: Position,
    /// The leader's epoch (Postgres: its timeline); `None` for backends without epochs.
    pub epoch: Option<u32>,
}

impl Captured {
    /// A position on no known epoch.
    #[must_use]
    pub fn without_epoch(position: Position) -> Self {
        Self {
            position,
            epoch: None,
        }
    }
}

/// A database family ryw can fence reads on.
///
/// Implemented by [`Postgres`] (and, with the `mysql` feature, the MySQL-family backend). The
/// methods take the connection the router holds, so a capture runs on the connection that
/// committed, and a server-side wait runs on the connection that then serves the read.
pub trait ReplicationBackend: Clone + Send + Sync + 'static {
    /// The diesel-async connection type.
    type Connection: AsyncConnection + Send + 'static;
    /// The deadpool manager creating those connections.
    type Manager: deadpool::managed::Manager<Type = Self::Connection, Error = PoolError>
        + Send
        + Sync
        + 'static;

    /// A pool manager for `url`. With `verify`, a reused connection is checked with a query
    /// at each checkout (one round trip more per checkout); without, only its local state is
    /// (the router's replica pools: their trackers already know the server is alive, and a
    /// read that meets a dead connection is retried once on a fresh one).
    fn manager(&self, url: &str, verify: bool) -> Self::Manager;

    /// The kind of position this backend produces.
    fn kind(&self) -> PositionKind;

    /// Prefix shared by the cluster ids of this family (`"pg:"`), used to recognise floors
    /// that belong to another cluster of the same family.
    fn family(&self) -> &'static str;

    /// Whether `conn` still reaches its server: one trivial statement. The router asks only
    /// after a read failed on a replica connection, to tell a dead connection (retried once
    /// on a fresh one) from the query's own error (returned as is).
    fn is_alive(&self, conn: &mut Self::Connection) -> impl Future<Output = bool> + Send;

    /// The identity of the cluster `conn` (a leader) belongs to.
    fn cluster_id(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<ClusterId, Error>> + Send;

    /// The position of everything committed on `conn`'s session so far, and the leader's
    /// epoch, in one round trip. Called on the leader connection **after** COMMIT has
    /// returned, never inside the transaction.
    fn capture(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Captured, Error>> + Send;

    /// The leader's current position and epoch (for lag in bytes, for recapturing a lost
    /// commit position, for fencing a scope written without one).
    fn leader_position(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Captured, Error>> + Send;

    /// The leader's epoch history, for backends whose position space has epochs that a
    /// failover starts (Postgres timelines): the current epoch and where each ancestor
    /// ended. `Ok(None)` for backends without epochs (MySQL and MariaDB GTIDs name the
    /// server that wrote them). Where the server allows the epoch but not the history to be
    /// read, the history holds no ancestors (floors of earlier epochs are then kept as
    /// fences, never judged lost).
    fn epoch_history(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<EpochHistory>, Error>> + Send;

    /// The applied position of the replica `conn` is connected to.
    ///
    /// # Errors
    /// [`Error::NotAReplica`] when the node is not replicating.
    fn replica_position(
        &self,
        conn: &mut Self::Connection,
        node: &str,
    ) -> impl Future<Output = Result<ReplicaPosition, Error>> + Send;

    /// Whether [`server_wait`](Self::server_wait) is a server-side wait (MariaDB
    /// `MASTER_GTID_WAIT`, MySQL `WAIT_FOR_EXECUTED_GTID_SET`, PostgreSQL 19 `WAIT FOR LSN`).
    /// When `false` the router waits on its replica trackers instead.
    fn has_server_wait(&self) -> bool {
        false
    }

    /// Waits on `conn` until its node has applied `position` or `timeout` passed; `Ok(true)`
    /// when reached. The default polls [`replica_position`](Self::replica_position) on the
    /// connection; backends with a server-side wait override it.
    fn server_wait(
        &self,
        conn: &mut Self::Connection,
        node: &str,
        position: &Position,
        timeout: Duration,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let at = self.replica_position(conn, node).await?;
                if at.applied.covers(position)? {
                    return Ok(true);
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(false);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
}

/// A diesel-async pool manager for `url`, checking reused connections with a query at
/// checkout only when `verify` is set.
fn manager<C>(url: &str, verify: bool) -> AsyncDieselConnectionManager<C>
where
    C: AsyncConnection + 'static,
{
    let mut config = ManagerConfig::<C>::default();
    config.recycling_method = if verify {
        RecyclingMethod::Verified
    } else {
        RecyclingMethod::Fast
    };
    AsyncDieselConnectionManager::new_with_config(url, config)
}

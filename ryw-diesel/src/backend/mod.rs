//! The seam between the router and a database: how to capture a write's position, read a
//! replica's applied position, identify the cluster, and (where the server can) wait
//! server-side for a position.
//!
//! Backends know nothing of HTTP, scopes or policies; the router knows nothing of SQL.
//!
//! # Adding a backend
//! 1. Its positions: a type in `ryw-core/src/position/` with `covers`, `merge`, `Display`
//!    and `parse` (round-trip fuzzed in `fuzz/`), a [`PositionKind`] and a `Position`
//!    variant; `Position::bytes_since` if its positions are byte offsets.
//! 2. Its [`Family`] (the prefix of its cluster ids) in `ryw-core/src/floors/keys.rs`.
//! 3. A file here implementing [`ReplicationBackend`]: the required methods capture a
//!    commit's position after COMMIT on the committing connection, read the leader's and a
//!    replica's positions, and name the cluster (what stays the same across a failover).
//!    Override [`WAIT`](ReplicationBackend::WAIT) and
//!    [`server_wait`](ReplicationBackend::server_wait) when the server can wait for a
//!    position itself, [`epoch_history`](ReplicationBackend::epoch_history) when a failover
//!    starts a new position space, [`prepare_read`](ReplicationBackend::prepare_read) to
//!    prefix reads. Bind positions as parameters, never format them into SQL.
//! 4. A feature in `ryw-diesel/Cargo.toml` and the re-export in `lib.rs`.
//! 5. A testkit topology (`ryw-testkit`: one per-database part beside the shared plumbing)
//!    and its backend in the router suite (`tests/tests/router/`), the proof suites
//!    (`ryw-proof/tests/`) and the statement-count tests — they are written once and run
//!    per backend.
//!
//! A backend that changes part of another's behaviour implements [`Decorator`] instead.

mod decorator;
#[cfg(feature = "mysql")]
mod my_dialect;
#[cfg(feature = "mysql")]
mod my_sql;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod pg_commit;
#[cfg(feature = "postgres")]
mod pg_sql;
#[cfg(feature = "postgres")]
mod pg_timeline;
#[cfg(feature = "postgres")]
mod postgres;

use std::future::Future;
use std::time::Duration;

use diesel::result::Error as DieselError;
use diesel_async::pooled_connection::PoolError;
use diesel_async::{AsyncConnection, TransactionManager};
use ryw_core::position::LeaderHolds;
use ryw_core::{ClusterId, EpochHistory, Family, Position, PositionKind};

#[cfg(feature = "mysql")]
pub use my_dialect::{Dialect, wait_statement};
#[cfg(feature = "mysql")]
pub use mysql::Mysql;
#[cfg(feature = "postgres")]
pub use postgres::Postgres;

pub use decorator::Decorator;

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

/// How a backend waits for a replica to reach a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitMethod {
    /// The router waits on its replica trackers (they poll fast while somebody waits).
    Trackers,
    /// The server waits itself ([`ReplicationBackend::server_wait`]): MariaDB
    /// `MASTER_GTID_WAIT`, MySQL `WAIT_FOR_EXECUTED_GTID_SET`, PostgreSQL 19 `WAIT FOR LSN`.
    ServerSide,
}

/// How a wait for a position ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOutcome {
    /// The node has applied the position.
    Reached,
    /// The timeout passed first.
    TimedOut,
}

/// A database family ryw can fence reads on: [`Postgres`], and with the `mysql` feature
/// [`Mysql`] (MySQL 8/9 and MariaDB). Name it in code generic over the backend
/// (`B: ReplicationBackend`, `B::Connection`).
///
/// Its methods are the router's plumbing and hidden from the API: a new backend is added in
/// this crate (the module documentation lists the steps). They take the connection the router
/// holds, so a capture runs on the connection that committed, and a server-side wait runs on
/// the connection that then serves the read.
pub trait ReplicationBackend: Clone + Send + Sync + 'static {
    /// The diesel-async connection type.
    type Connection: AsyncConnection + Send + 'static;
    #[doc(hidden)]
    /// The deadpool manager creating those connections.
    type Manager: deadpool::managed::Manager<Type = Self::Connection, Error = PoolError>
        + Send
        + Sync
        + 'static;

    #[doc(hidden)]
    /// A pool manager for `url`. A reused connection is checked for its local state only
    /// (a broken transaction, a socket the driver saw close), never with a query: that would
    /// be one round trip more per checkout. A dead connection is found by its first
    /// statement instead — BEGIN, retried on the next connection; a read or a position read,
    /// run once more on a fresh one — and the pool's idle connections are dropped with it.
    fn manager(&self, url: &str) -> Self::Manager;

    #[doc(hidden)]
    /// The kind of position this backend produces.
    fn kind(&self) -> PositionKind;

    #[doc(hidden)]
    /// The family of its cluster ids ([`Family::prefix`]), used to recognise floors that
    /// belong to another cluster of the same family.
    fn family(&self) -> Family;

    #[doc(hidden)]
    /// Whether `conn` still reaches its server: one trivial statement. The router asks only
    /// after a read failed on a replica connection, to tell a dead connection (retried once
    /// on a fresh one) from the query's own error (returned as is).
    fn is_alive(&self, conn: &mut Self::Connection) -> impl Future<Output = bool> + Send;

    #[doc(hidden)]
    /// The identity of the cluster `conn` (a leader) belongs to.
    fn cluster_id(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<ClusterId, Error>> + Send;

    #[doc(hidden)]
    /// The position of everything committed on `conn`'s session so far, and the leader's
    /// epoch, in one round trip. Called on the leader connection **after** COMMIT has
    /// returned, never inside the transaction.
    fn capture(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Captured, Error>> + Send;

    #[doc(hidden)]
    /// COMMITs the transaction open on `conn` and captures the position that covers it.
    /// `Err` is COMMIT's own error (the write path tells a refused COMMIT from one whose
    /// outcome is unknown); `Ok` carries the capture's result (a capture that failed after
    /// a successful COMMIT is retried on a fresh connection). The default sends COMMIT, then
    /// [`capture`](Self::capture): two round trips. A backend whose driver can send both at
    /// once overrides it (Postgres pipelines them: one round trip); the capture must still
    /// run after the COMMIT on the server.
    fn commit_and_capture(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Result<Captured, Error>, DieselError>> + Send {
        async move {
            <Self::Connection as AsyncConnection>::TransactionManager::commit_transaction(conn)
                .await?;
            Ok(self.capture(conn).await)
        }
    }

    #[doc(hidden)]
    /// The leader's current position and epoch (for lag in bytes, for recapturing a lost
    /// commit position, for fencing a scope written without one).
    fn leader_position(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Captured, Error>> + Send;

    #[doc(hidden)]
    /// The leader's epoch history, for backends whose position space has epochs that a
    /// failover starts (Postgres timelines): the current epoch and where each ancestor
    /// ended. The default, `Ok(None)`, is for backends without epochs (MySQL and MariaDB
    /// GTIDs name the server that wrote them and stay comparable across a failover). Where
    /// the server allows the epoch but not the history to be read, the history holds no
    /// ancestors (floors of earlier epochs are then kept as fences, never judged lost).
    fn epoch_history(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<EpochHistory>, Error>> + Send {
        let _ = conn;
        async { Ok(None) }
    }

    #[doc(hidden)]
    /// The leader's server identity and everything it holds, for backends whose positions
    /// name the server that wrote each transaction (MySQL, MariaDB GTIDs): after a failover,
    /// the part of a floor naming another server that the new leader does not hold can never
    /// be reached ([`LeaderHolds::unreachable`]). The default, `Ok(None)`, is for backends
    /// whose failovers are told by epochs instead ([`epoch_history`](Self::epoch_history)).
    fn leader_holds(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<LeaderHolds>, Error>> + Send {
        let _ = conn;
        async { Ok(None) }
    }

    #[doc(hidden)]
    /// The applied position of the replica `conn` is connected to.
    ///
    /// # Errors
    /// [`Error::NotAReplica`] when the node is not replicating.
    fn replica_position(
        &self,
        conn: &mut Self::Connection,
        node: &str,
    ) -> impl Future<Output = Result<ReplicaPosition, Error>> + Send;

    #[doc(hidden)]
    /// How the router waits for a replica to reach a position: on its trackers (the
    /// default), or with [`server_wait`](Self::server_wait).
    const WAIT: WaitMethod = WaitMethod::Trackers;

    #[doc(hidden)]
    /// Waits on `conn` until its node has applied `position` or `timeout` passed. The
    /// default polls [`replica_position`](Self::replica_position) on the connection; backends
    /// whose [`WAIT`](Self::WAIT) is [`WaitMethod::ServerSide`] override it with the server's
    /// own wait.
    fn server_wait(
        &self,
        conn: &mut Self::Connection,
        node: &str,
        position: &Position,
        timeout: Duration,
    ) -> impl Future<Output = Result<WaitOutcome, Error>> + Send {
        async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let at = self.replica_position(conn, node).await?;
                if at.applied.covers(position)? {
                    return Ok(WaitOutcome::Reached);
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(WaitOutcome::TimedOut);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }

    #[doc(hidden)]
    /// Runs on a replica connection right before a read's closure, within the read's
    /// deadline, with the floor the read must see (`None` for a read without one, or one
    /// served stale). The default does nothing (no round trip); a backend may prefix the
    /// read here (a session setting, a PostgreSQL 19 `WAIT FOR LSN`).
    fn prepare_read(
        &self,
        conn: &mut Self::Connection,
        node: &str,
        floor: Option<&Position>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = (conn, node, floor);
        async { Ok(()) }
    }
}

/// A diesel-async pool manager for `url` whose reused connections are checked only for
/// their local state, never with a query (see [`ReplicationBackend::manager`]).
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn manager<C>(url: &str) -> diesel_async::pooled_connection::AsyncDieselConnectionManager<C>
where
    C: AsyncConnection + 'static,
{
    use diesel_async::pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
    };
    let mut config = ManagerConfig::<C>::default();
    config.recycling_method = RecyclingMethod::Fast;
    AsyncDieselConnectionManager::new_with_config(url, config)
}

//! Fault controls a fault schedule needs beyond [`Topology`]'s: freezing a replica (SIGSTOP,
//! frozen rather than dead), crashing the primary, and killing its client connections.

use std::future::Future;

use mysql_async::prelude::Queryable;

use crate::mariadb::{self, MariaDbTopology};
use crate::mysql::MysqlTopology;
use crate::pg::{self, PgTopology};
use crate::slot::ProcSlot;
use crate::{TestkitError, Topology, sys};

/// Harsher faults, implemented by [`PgTopology`] and [`MariaDbTopology`].
pub trait Faults: Topology {
    /// Freezes `replica`: SIGSTOP to its server and every child process. TCP connects still
    /// complete (the kernel answers) but nothing is served until [`thaw_replica`](Self::thaw_replica).
    fn freeze_replica(
        &self,
        replica: usize,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// SIGCONT to the same processes. Thawing a running replica is harmless.
    fn thaw_replica(&self, replica: usize)
    -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Crash-like restart of the primary (Postgres immediate shutdown, MariaDB SIGKILL), then
    /// waits as [`Topology::restart_primary`] does.
    fn restart_primary_immediate(&self) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Terminates every client connection of the primary except replication and the
    /// testkit's own; returns how many.
    fn kill_primary_connections(&self) -> impl Future<Output = Result<usize, TestkitError>> + Send;
}

/// SIGSTOP to a replica's process tree.
///
/// Returns once every thread of the server is stopped (SIGSTOP is delivered asynchronously: a
/// query already on a CPU could otherwise still be answered), or after 2 s.
async fn freeze(proc: &ProcSlot, replica: usize) -> Result<(), TestkitError> {
    let pid = proc.pid();
    if !proc.signal_tree(sys::SIGSTOP) {
        return Err(TestkitError::InvalidState(format!(
            "freeze replica {replica}: its server is not running"
        )));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while let Some(pid) = pid
        && !crate::procfs::proc_stopped(pid)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    Ok(())
}

impl Faults for PgTopology {
    async fn freeze_replica(&self, replica: usize) -> Result<(), TestkitError> {
        if self.is_promoted(replica) {
            return Err(TestkitError::InvalidState(format!(
                "replica {replica} was promoted; freeze the primary's replicas only"
            )));
        }
        freeze(&self.replica(replica)?.proc, replica).await
    }

    async fn thaw_replica(&self, replica: usize) -> Result<(), TestkitError> {
        self.replica(replica)?.proc.signal_tree(sys::SIGCONT);
        Ok(())
    }

    async fn restart_primary_immediate(&self) -> Result<(), TestkitError> {
        self.restart_primary_with(sys::SIGQUIT).await
    }

    async fn kill_primary_connections(&self) -> Result<usize, TestkitError> {
        let port = self.leader_node().port;
        let n: i64 = pg::connect(port)
            .await?
            .query_one(
                // With a timeout, pg_terminate_backend waits until the backend has exited, so
                // a connection used right after this returns is dead for sure.
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) \
                 FROM pg_stat_activity \
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
                 AND application_name <> 'ryw-testkit') t",
                &[],
            )
            .await
            .map_err(pg::pg_err(port, "pg_terminate_backend()"))?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

impl Faults for MariaDbTopology {
    async fn freeze_replica(&self, replica: usize) -> Result<(), TestkitError> {
        freeze(&self.replica(replica)?.proc, replica).await
    }

    async fn thaw_replica(&self, replica: usize) -> Result<(), TestkitError> {
        self.replica(replica)?.proc.signal_tree(sys::SIGCONT);
        Ok(())
    }

    async fn restart_primary_immediate(&self) -> Result<(), TestkitError> {
        self.restart_primary_with(sys::SIGKILL).await
    }

    async fn kill_primary_connections(&self) -> Result<usize, TestkitError> {
        kill_client_connections(self.primary.port).await
    }
}

impl Faults for MysqlTopology {
    async fn freeze_replica(&self, replica: usize) -> Result<(), TestkitError> {
        if self.is_promoted(replica) {
            return Err(TestkitError::InvalidState(format!(
                "replica {replica} was promoted; freeze the leader's replicas only"
            )));
        }
        freeze(&self.replica(replica)?.proc, replica).await
    }

    async fn thaw_replica(&self, replica: usize) -> Result<(), TestkitError> {
        self.replica(replica)?.proc.signal_tree(sys::SIGCONT);
        Ok(())
    }

    async fn restart_primary_immediate(&self) -> Result<(), TestkitError> {
        self.restart_primary_with(sys::SIGKILL).await
    }

    async fn kill_primary_connections(&self) -> Result<usize, TestkitError> {
        kill_client_connections(self.leader_node().port).await
    }
}

/// Kills every client connection of the MySQL-protocol server at `port` except replication,
/// system threads and its own; waits (bounded) until they are gone. Returns how many.
pub(crate) async fn kill_client_connections(port: u16) -> Result<usize, TestkitError> {
    let mut c = mariadb::connect(port).await?;
    let ids: Vec<u64> = c
        .query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
                 AND USER NOT IN ('system user', 'event_scheduler', 'repl') \
                 AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon')",
        )
        .await
        .map_err(mariadb::my_err(port, "listing connections"))?;
    let mut killed = Vec::new();
    for id in ids {
        // A connection that ended meanwhile is "unknown thread": not an error here.
        if c.query_drop(format!("KILL CONNECTION {id}")).await.is_ok() {
            killed.push(id);
        }
    }
    // KILL only marks the thread: wait (bounded) until the killed ones are gone, so a
    // connection used right after this returns is dead for sure.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !killed.is_empty() && std::time::Instant::now() < deadline {
        let alive: Vec<u64> = c
            .query("SELECT ID FROM information_schema.PROCESSLIST")
            .await
            .map_err(mariadb::my_err(port, "listing connections"))?;
        if !killed.iter().any(|id| alive.contains(id)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let killed = killed.len();
    let _ = c.disconnect().await;
    Ok(killed)
}

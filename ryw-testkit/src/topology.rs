//! The controls every replicated topology offers.

use std::future::Future;
use std::time::Duration;

use crate::error::TestkitError;

/// Controls shared by every replicated topology ([`PgTopology`](crate::PgTopology),
/// [`MariaDbTopology`](crate::MariaDbTopology), [`MysqlTopology`](crate::MysqlTopology)), so one
/// test suite can run against every database. Replicas are numbered `0..replica_count()`.
pub trait Topology: Send + Sync {
    /// URL of the primary (`postgres://postgres@127.0.0.1:PORT/postgres` or
    /// `mysql://root@127.0.0.1:PORT/ryw`).
    fn primary_url(&self) -> String;
    /// URLs of the replicas, in replica order.
    fn replica_urls(&self) -> Vec<String>;
    /// Number of replicas.
    fn replica_count(&self) -> usize;
    /// Sets the replication lag of `replica`: bytes from the primary reach it `lag` after they
    /// were sent. `Duration::ZERO` means pass-through. Takes effect for data sent from now on.
    fn set_lag(
        &self,
        replica: usize,
        lag: Duration,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Pauses WAL/binlog replay on `replica` (data is still received, not applied).
    fn pause_replay(&self, replica: usize)
    -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Resumes replay paused by [`Topology::pause_replay`].
    fn resume_replay(
        &self,
        replica: usize,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Kills `replica` with SIGKILL and reaps it; connections to it fail afterwards.
    fn kill_replica(&self, replica: usize)
    -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Starts `replica` again on the same port and data directory (killing it first if it
    /// runs) and waits until it replicates again.
    fn restart_replica(
        &self,
        replica: usize,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Shuts the primary down cleanly, starts it again on the same port and waits until it
    /// accepts connections and the running replicas replicate again.
    fn restart_primary(&self) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Waits until `replica` has applied everything the primary had written when this was
    /// called; fails with [`TestkitError::Timeout`] after `timeout`.
    fn wait_caught_up(
        &self,
        replica: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// Runs `sql` (one or more statements) on the primary over a fresh connection.
    fn execute_on_primary(
        &self,
        sql: &str,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;
}

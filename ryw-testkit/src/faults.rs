//! Fault controls a fault schedule needs beyond [`Topology`]'s: freezing a replica (SIGSTOP,
//! frozen rather than dead), crashing the primary, and killing its client connections.

use std::future::Future;

use crate::error::TestkitError;
use crate::procfs::proc_stopped;
use crate::replicated::{Engine, Replicated, Wire};
use crate::slot::ProcSlot;
use crate::sys;
use crate::topology::Topology;

/// Harsher faults, implemented by every replicated topology ([`PgTopology`](crate::PgTopology),
/// [`MariaDbTopology`](crate::MariaDbTopology), [`MysqlTopology`](crate::MysqlTopology)).
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
        && !proc_stopped(pid)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    Ok(())
}

impl<E: Engine> Faults for Replicated<E> {
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
        self.restart_primary_with(E::CRASH_STOP).await
    }

    async fn kill_primary_connections(&self) -> Result<usize, TestkitError> {
        E::Wire::kill_clients(self.leader_node().port()).await
    }
}

//! What one database supplies to a [`Replicated`] topology: the few things that truly differ
//! (binaries, data dirs, configuration, start command, replication setup and state, the SQL of
//! the replay and fault controls). Everything else is the topology's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Node, Replicated};
use crate::error::TestkitError;

/// How the testkit talks to one database's servers, as a client on loopback.
pub trait Wire {
    /// Connects to the server at `port` and runs a trivial query.
    fn probe(port: u16) -> impl Future<Output = Result<(), String>> + Send;

    /// Runs administrative `sql` on the server at `port`; `context` names it in errors.
    fn admin(
        port: u16,
        sql: &str,
        context: &str,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;

    /// Runs application `sql` (in the testkit's database) on the server at `port`.
    fn execute(port: u16, sql: &str) -> impl Future<Output = Result<(), TestkitError>> + Send;

    /// The URL applications use for the server at `port`.
    fn url(port: u16) -> String;

    /// Terminates every client connection of the server at `port` except replication and the
    /// testkit's own; returns how many.
    fn kill_clients(port: u16) -> impl Future<Output = Result<usize, TestkitError>> + Send;
}

/// How a replica is brought back to replicating after a restart: wait up to `patience`; if it
/// does not replicate by then and the database has a `restart` statement, run it on the
/// replica and wait up to `retry_patience` again, `retries` times at most.
#[derive(Debug, Clone, Copy)]
pub struct Recovery {
    /// The first wait.
    pub patience: Duration,
    /// What restarts replication on the replica (`None`: only wait).
    pub restart: Option<&'static str>,
    /// How many restarts.
    pub retries: u32,
    /// The wait after each restart.
    pub retry_patience: Duration,
}

/// One database's part of a [`Replicated`] topology. Sealed: implemented by this crate only.
pub trait Engine: std::fmt::Debug + Send + Sync + Sized + 'static {
    /// How clients talk to this database's servers.
    type Wire: Wire;

    /// Names servers in logs and errors (`postgres`, `mariadb`, `mysql`).
    const NAME: &'static str;

    /// The primary's folder (or data dir) under the topology's directory.
    const PRIMARY_DIR: &'static str;

    /// Finds the binaries and checks what the database needs on this machine.
    fn locate() -> Result<Self, TestkitError>;

    /// Where this database's topology directories live.
    fn base_dir(&self) -> PathBuf {
        crate::dirs::base_dir()
    }

    /// Makes the topology's directory usable by the servers (e.g. hands it to their user).
    fn adopt_dir(&self, _dir: &Path) -> Result<(), TestkitError> {
        Ok(())
    }

    /// A node's data folder, server log and output log, for the node folder `short`.
    fn paths(&self, dir: &Path, short: &str) -> Result<[PathBuf; 3], TestkitError>;

    /// Whether a replica's data is cloned from the running primary; otherwise every node is
    /// initialised on its own before any server starts.
    const CLONES_FROM_PRIMARY: bool;

    /// Initialises the data of `nodes` (all nodes, or only the primary when replicas are
    /// cloned from it), before their servers first start.
    fn init(
        &self,
        topo: &Replicated<Self>,
        nodes: &[&Node],
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;

    /// What a server logs when its port was taken since it was picked (it then moves).
    const PORT_TAKEN: &'static str;

    /// Writes `node`'s port where its server reads it, before each first start.
    fn set_port(&self, node: &Node) -> Result<(), TestkitError>;

    /// The command that runs `node`'s server.
    fn server(&self, node: &Node) -> Command;

    /// Signal that shuts the primary down cleanly.
    const CLEAN_STOP: i32;

    /// Signal that stops the primary like a crash.
    const CRASH_STOP: i32;

    /// How a replica recovers after its own restart.
    const AFTER_REPLICA_RESTART: Recovery;

    /// How a running replica recovers after the primary's restart.
    const AFTER_PRIMARY_RESTART: Recovery;

    /// Runs just before the leader at `port` is stopped.
    fn before_stop(_port: u16) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Prepares the running primary for its replicas (accounts, the database).
    fn setup_primary(&self, port: u16) -> impl Future<Output = Result<(), TestkitError>> + Send;

    /// Clones every replica's data from the running primary, each replicating through its
    /// proxy; only called when [`CLONES_FROM_PRIMARY`](Self::CLONES_FROM_PRIMARY).
    fn clone_replicas(
        &self,
        _topo: &Replicated<Self>,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send {
        async { Ok(()) }
    }

    /// Points the running replica `node` at its primary through the proxy at `upstream`.
    fn follow(
        &self,
        node: &Node,
        upstream: u16,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;

    /// Whether the topology keeps a pass-through proxy to whichever node leads.
    const LEADER_PROXY: bool;

    /// What the timeout error says a replica was awaited for ("to replicate").
    const REPLICATING: &'static str;

    /// `None` when `replica` replicates, else what it does instead.
    fn replication_state(
        topo: &Replicated<Self>,
        replica: usize,
    ) -> impl Future<Output = Result<Option<String>, TestkitError>> + Send;

    /// Waits until `replica` applied what the leader had written when this was called.
    fn wait_applied(
        topo: &Replicated<Self>,
        replica: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;

    /// Statement that pauses replay on a replica.
    const PAUSE_REPLAY: &'static str;

    /// Statement that resumes it.
    const RESUME_REPLAY: &'static str;
}

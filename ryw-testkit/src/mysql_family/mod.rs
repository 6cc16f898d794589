//! MariaDB and MySQL: one protocol, GTID replication and the same topology steps, in two
//! dialects. A [`Dialect`] says what differs between them; every dialect is an [`Engine`].

mod failover;
mod gtid;
mod wire;

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) use gtid::GtidWait;
pub(crate) use wire::{
    MysqlWire, PATH, REPL_PASSWORD, connect, exec, kill_client_connections, my_err, query_first,
};

use crate::error::TestkitError;
use crate::replicated::{Engine, Node, Recovery, Replicated};
use crate::sys;

/// What MariaDB and MySQL differ in as engines of a [`Replicated`] topology. SQL templates
/// may hold `{upstream}` (the port a replica reaches its primary on), `{db}` (the database
/// the testkit creates) and `{repl_password}` (the replication account's password).
pub trait Dialect: std::fmt::Debug + Send + Sync + Sized + 'static {
    /// Names servers in logs and errors.
    const NAME: &'static str;

    /// Finds the server and checks what it needs on this machine.
    fn locate() -> Result<Self, TestkitError>;

    /// Where this dialect's topology directories live.
    fn base_dir(&self) -> PathBuf {
        crate::dirs::base_dir()
    }

    /// Initialises the data dirs of `nodes` (the primary first), before any server starts.
    fn init(
        &self,
        topo: &Replicated<Self>,
        nodes: &[&Node],
    ) -> impl Future<Output = Result<(), TestkitError>> + Send;

    /// Writes `node`'s port where its server reads it.
    fn set_port(&self, node: &Node) -> Result<(), TestkitError>;

    /// The command that runs `node`'s server.
    fn server(&self, node: &Node) -> Command;

    /// Runs on the primary once it is up: the database, and accounts it lacks.
    const SETUP_PRIMARY: &'static str;

    /// Points a replica at its primary and starts replication.
    const FOLLOW: &'static str;

    /// Whether the topology keeps a pass-through proxy to whichever node leads.
    const LEADER_PROXY: bool;

    /// Makes a replica a writable leader: replication stopped and forgotten.
    const PROMOTE: &'static str;

    /// Restarts a replica's replication (after its upstream changed).
    const RESTART_REPLICATION: &'static str;

    /// Stops a replica's receiver (its applier keeps going).
    const STOP_RECEIVER: &'static str;

    /// What the replica at `port` received from its primary (applied or not), as GTIDs its
    /// wait function takes.
    fn received(port: u16) -> impl Future<Output = Result<String, TestkitError>> + Send;

    /// Runs once `node` was promoted (what a restart of it must no longer do).
    fn promoted(&self, node: &Node) -> Result<(), TestkitError> {
        let _ = node;
        Ok(())
    }

    /// `None` when the replica at `port` replicates, else what it does instead.
    fn replication_state(
        port: u16,
    ) -> impl Future<Output = Result<Option<String>, TestkitError>> + Send;

    /// Runs just before the leader at `port` is stopped.
    fn before_stop(_port: u16) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The leader's executed GTIDs and the wait for them on a replica.
    const GTID: GtidWait;

    /// Pauses replay on a replica.
    const PAUSE_REPLAY: &'static str;

    /// Resumes it.
    const RESUME_REPLAY: &'static str;

    /// How a replica recovers after its own restart.
    const AFTER_REPLICA_RESTART: Recovery;

    /// How a running replica recovers after the primary's restart.
    const AFTER_PRIMARY_RESTART: Recovery;
}

/// `sql` with its placeholders filled in.
fn fill(sql: &str, upstream: u16) -> String {
    sql.replace("{upstream}", &upstream.to_string())
        .replace("{db}", wire::DB)
        .replace("{repl_password}", REPL_PASSWORD)
}

impl<D: Dialect> Engine for D {
    type Wire = MysqlWire;
    const NAME: &'static str = D::NAME;
    const PRIMARY_DIR: &'static str = "m";
    const PORT_TAKEN: &'static str = "Bind on TCP/IP port";
    const CLEAN_STOP: i32 = sys::SIGTERM;
    const CRASH_STOP: i32 = sys::SIGKILL;
    const CLONES_FROM_PRIMARY: bool = false;
    const LEADER_PROXY: bool = D::LEADER_PROXY;
    const PAUSE_REPLAY: &'static str = D::PAUSE_REPLAY;
    const RESUME_REPLAY: &'static str = D::RESUME_REPLAY;
    const REPLICATING: &'static str = "to replicate";
    const AFTER_REPLICA_RESTART: Recovery = D::AFTER_REPLICA_RESTART;
    const AFTER_PRIMARY_RESTART: Recovery = D::AFTER_PRIMARY_RESTART;

    fn locate() -> Result<Self, TestkitError> {
        D::locate()
    }

    fn base_dir(&self) -> PathBuf {
        D::base_dir(self)
    }

    /// The node's own folder `<dir>/<short>`: its data dir, error log and process output.
    fn paths(&self, dir: &Path, short: &str) -> Result<[PathBuf; 3], TestkitError> {
        let home = dir.join(short);
        fs::create_dir(&home)
            .map_err(|e| TestkitError::io(format!("create {}", home.display()), e))?;
        Ok([
            home.clone(),
            home.join("error.log"),
            home.join("stdout.log"),
        ])
    }

    async fn init(&self, topo: &Replicated<D>, nodes: &[&Node]) -> Result<(), TestkitError> {
        D::init(self, topo, nodes).await
    }

    fn set_port(&self, node: &Node) -> Result<(), TestkitError> {
        D::set_port(self, node)
    }

    fn server(&self, node: &Node) -> Command {
        D::server(self, node)
    }

    async fn setup_primary(&self, port: u16) -> Result<(), TestkitError> {
        exec(port, &fill(D::SETUP_PRIMARY, 0), "set the primary up").await
    }

    async fn follow(&self, node: &Node, upstream: u16) -> Result<(), TestkitError> {
        let sql = fill(D::FOLLOW, upstream);
        exec(node.port(), &sql, "follow the primary").await
    }

    async fn replication_state(
        topo: &Replicated<D>,
        replica: usize,
    ) -> Result<Option<String>, TestkitError> {
        D::replication_state(topo.replica(replica)?.port()).await
    }

    async fn wait_applied(
        topo: &Replicated<D>,
        replica: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        D::GTID.wait(topo, replica, timeout).await
    }

    async fn before_stop(port: u16) {
        D::before_stop(port).await;
    }
}

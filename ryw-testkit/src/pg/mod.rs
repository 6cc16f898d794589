//! PostgreSQL primary + physical streaming replicas: the Postgres [`Engine`].

mod conn;
mod data;
mod env;
mod failover;
mod promote;
mod replay;
mod switchover;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) use conn::PgWire;
pub(crate) use env::Postgres;

use crate::error::TestkitError;
use crate::replicated::{Engine, Node, READY_TIMEOUT, Recovery, Replicated};
use crate::sys;
use data::append;

/// A PostgreSQL 15 primary with N physical streaming replicas, each behind a delaying proxy.
///
/// URLs: `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication). Dropping it
/// kills every server and removes its directory.
pub type PgTopology = Replicated<Postgres>;

/// A restarted replica streams again on its own (`wal_retrieve_retry_interval` is 100 ms).
const STREAM_AGAIN: Recovery = Recovery {
    patience: READY_TIMEOUT,
    restart: None,
    retries: 0,
    retry_patience: Duration::ZERO,
};

impl Engine for Postgres {
    type Wire = PgWire;
    const NAME: &'static str = "postgres";
    const PRIMARY_DIR: &'static str = "p";

    fn locate() -> Result<Self, TestkitError> {
        Postgres::find()
    }

    fn adopt_dir(&self, dir: &Path) -> Result<(), TestkitError> {
        self.chown(dir)
    }

    /// The data dir is the node's folder (initdb and pg_basebackup make it); the log beside.
    fn paths(&self, dir: &Path, short: &str) -> Result<[PathBuf; 3], TestkitError> {
        let log = dir.join(format!("{short}.log"));
        Ok([dir.join(short), log.clone(), log])
    }

    const CLONES_FROM_PRIMARY: bool = true;

    async fn init(&self, topo: &PgTopology, nodes: &[&Node]) -> Result<(), TestkitError> {
        for node in nodes {
            self.init_primary(topo, node).await?;
        }
        Ok(())
    }

    const PORT_TAKEN: &'static str = "could not bind";

    fn set_port(&self, node: &Node) -> Result<(), TestkitError> {
        append(
            &node.home.join("postgresql.conf"),
            &format!("port={}\n", node.port()),
        )
    }

    fn server(&self, node: &Node) -> Command {
        let mut cmd = self.command("postgres");
        cmd.arg("-D").arg(&node.home);
        cmd
    }

    const CLEAN_STOP: i32 = sys::SIGINT; // fast shutdown
    const CRASH_STOP: i32 = sys::SIGQUIT; // immediate shutdown
    const AFTER_REPLICA_RESTART: Recovery = STREAM_AGAIN;
    const AFTER_PRIMARY_RESTART: Recovery = STREAM_AGAIN;

    async fn setup_primary(&self, _port: u16) -> Result<(), TestkitError> {
        Ok(())
    }

    async fn clone_replicas(&self, topo: &PgTopology) -> Result<(), TestkitError> {
        self.base_backups(topo).await
    }

    /// Base backups already stream through their proxies.
    async fn follow(&self, _node: &Node, _upstream: u16) -> Result<(), TestkitError> {
        Ok(())
    }

    const LEADER_PROXY: bool = false;
    const REPLICATING: &'static str = "to stream from the primary";

    async fn replication_state(
        topo: &PgTopology,
        replica: usize,
    ) -> Result<Option<String>, TestkitError> {
        replay::streaming_state(topo, replica).await
    }

    async fn wait_applied(
        topo: &PgTopology,
        replica: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        replay::wait_replayed(topo, replica, timeout).await
    }

    const PAUSE_REPLAY: &'static str = "SELECT pg_wal_replay_pause()";
    const RESUME_REPLAY: &'static str = "SELECT pg_wal_replay_resume()";
}

//! MariaDB primary + GTID replicas: the MariaDB [`Engine`].

mod data;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::TestkitError;
use crate::host::find_binary;
use crate::mysql_wire::{DB, GtidWait, MysqlWire, PATH, REPL_PASSWORD, exec};
use crate::replicated::{Engine, Node, READY_TIMEOUT, Recovery, Replicated};
use crate::sys;

/// A MariaDB primary with N GTID replicas (`MASTER_USE_GTID=slave_pos`), each replicating
/// through a delaying proxy. The database `ryw` exists on the primary and the replicas.
///
/// URLs: `mysql://root@127.0.0.1:PORT/ryw` (no password). Never write on a replica: with
/// `gtid-strict-mode` replication then stops. Dropping it kills every server and removes its
/// directory.
pub type MariaDbTopology = Replicated<MariaDb>;

/// The MariaDB engine of a [`Replicated`] topology: where its binaries are.
#[derive(Debug)]
pub struct MariaDb {
    mariadbd: PathBuf,
    install_db: PathBuf,
}

impl Engine for MariaDb {
    type Wire = MysqlWire;
    const NAME: &'static str = "mariadb";
    const PRIMARY_DIR: &'static str = "m";

    fn locate() -> Result<Self, TestkitError> {
        let mariadbd = match find_binary("mariadbd", &[], "mariadb-server") {
            Ok(p) => p,
            Err(e) => find_binary("mysqld", &[], "mariadb-server").map_err(|_| e)?,
        };
        let install_db = find_binary("mariadb-install-db", &[], "mariadb-server")?;
        Ok(MariaDb {
            mariadbd,
            install_db,
        })
    }

    fn paths(&self, dir: &Path, short: &str) -> Result<[PathBuf; 3], TestkitError> {
        data::node_folder(dir, short)
    }

    const CLONES_FROM_PRIMARY: bool = false;

    async fn init(&self, topo: &MariaDbTopology, nodes: &[&Node]) -> Result<(), TestkitError> {
        self.install(topo, nodes).await
    }

    const PORT_TAKEN: &'static str = "Bind on TCP/IP port";

    fn set_port(&self, node: &Node) -> Result<(), TestkitError> {
        data::write_cnf(node)
    }

    fn server(&self, node: &Node) -> Command {
        let mut cmd = Command::new(&self.mariadbd);
        // --defaults-file must be the first argument.
        cmd.arg(format!("--defaults-file={}", data::cnf(node).display()))
            .current_dir(&node.home)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", &node.home);
        cmd
    }

    const CLEAN_STOP: i32 = sys::SIGTERM;
    const CRASH_STOP: i32 = sys::SIGKILL;
    const AFTER_REPLICA_RESTART: Recovery = Recovery {
        patience: READY_TIMEOUT,
        restart: None,
        retries: 0,
        retry_patience: Duration::ZERO,
    };
    // After a crash of the primary, a replica's IO thread can stop on a half-received event
    // ("could not queue event from master"). Restarting replication makes it fetch again from
    // its applied GTID position, as an operator would.
    const AFTER_PRIMARY_RESTART: Recovery = Recovery {
        patience: Duration::from_secs(10),
        restart: Some("STOP SLAVE; START SLAVE"),
        retries: 1,
        retry_patience: READY_TIMEOUT,
    };

    async fn setup_primary(&self, port: u16) -> Result<(), TestkitError> {
        exec(
            port,
            &format!(
                "CREATE USER 'repl'@'%' IDENTIFIED BY '{REPL_PASSWORD}'; \
                 GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'; CREATE DATABASE {DB}"
            ),
            "create replication user and database",
        )
        .await
    }

    async fn follow(&self, node: &Node, upstream: u16) -> Result<(), TestkitError> {
        exec(
            node.port(),
            &format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={upstream}, \
                 MASTER_USER='repl', MASTER_PASSWORD='{REPL_PASSWORD}', \
                 MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE"
            ),
            "CHANGE MASTER TO / START SLAVE",
        )
        .await
    }

    const LEADER_PROXY: bool = false;
    const REPLICATING: &'static str = "to replicate";

    async fn replication_state(
        topo: &MariaDbTopology,
        replica: usize,
    ) -> Result<Option<String>, TestkitError> {
        data::slave_status(topo.replica(replica)?.port()).await
    }

    async fn wait_applied(
        topo: &MariaDbTopology,
        replica: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        GTID_WAIT.wait(topo, replica, timeout).await
    }

    const PAUSE_REPLAY: &'static str = "STOP SLAVE SQL_THREAD";
    const RESUME_REPLAY: &'static str = "START SLAVE SQL_THREAD";
}

/// The leader's GTID position, and the wait for it on a replica.
const GTID_WAIT: GtidWait = GtidWait {
    position: "SELECT @@gtid_binlog_pos",
    function: "MASTER_GTID_WAIT",
};

//! Oracle MySQL primary + GTID replicas, run under `chroot` from a Debian sid root folder
//! (`.ci/install-mysql` builds it): the MySQL [`Engine`].

mod data;
mod replication;
mod switchover;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::TestkitError;
use crate::mysql_wire::{DB, GtidWait, MysqlWire, PATH, REPL_PASSWORD, exec};
use crate::replicated::{Engine, Node, Recovery, Replicated};
use crate::sys;

/// An Oracle MySQL primary with N GTID replicas (`SOURCE_AUTO_POSITION=1`), each replicating
/// through a delaying proxy; replicas run with `super_read_only`. The database `ryw` exists
/// everywhere. URLs: `mysql://root@127.0.0.1:PORT/ryw` (no password).
///
/// MySQL is not packaged for Debian 12: the servers run under `chroot` from a Debian sid root
/// folder ([`mysql_root`], built by the project's `.ci/install-mysql`), which needs root.
/// Dropping the topology kills every server and removes its folder.
pub type MysqlTopology = Replicated<Mysql>;

/// The sid root folder MySQL runs from: `RYW_MYSQL_ROOT`, else `/var/cache/ryw/mysql-sid`.
pub fn mysql_root() -> PathBuf {
    std::env::var_os("RYW_MYSQL_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/ryw/mysql-sid"))
}

/// The MySQL engine of a [`Replicated`] topology: the root folder its servers run in.
#[derive(Debug)]
pub struct Mysql {
    root: PathBuf,
}

/// Waits until a replica replicates; when it does not within 10 s (a receiver that gave up on
/// a half-read event, an applier stopped by a crash or a transient apply error), restarts
/// replication, as an operator would, and waits again — up to five times, so about a minute
/// in all.
const REPLICATE_AGAIN: Recovery = Recovery {
    patience: Duration::from_secs(10),
    restart: Some("STOP REPLICA; START REPLICA"),
    retries: 5,
    retry_patience: Duration::from_secs(10),
};

impl Engine for Mysql {
    type Wire = MysqlWire;
    const NAME: &'static str = "mysql";
    const PRIMARY_DIR: &'static str = "m";

    fn locate() -> Result<Self, TestkitError> {
        let root = mysql_root();
        if !root.join("usr/sbin/mysqld").exists() {
            return Err(TestkitError::InvalidState(format!(
                "no Oracle MySQL in {}: build it with the project's .ci/install-mysql (as root), \
                 or point RYW_MYSQL_ROOT at a Debian sid root folder holding mysql-server-core",
                root.display()
            )));
        }
        if !sys::is_root() {
            return Err(TestkitError::InvalidState(
                "MySQL topologies run mysqld under chroot, which needs root".into(),
            ));
        }
        Ok(Mysql { root })
    }

    fn base_dir(&self) -> PathBuf {
        self.root.join("srv/rywtk")
    }

    fn paths(&self, dir: &Path, short: &str) -> Result<[PathBuf; 3], TestkitError> {
        self.node_folder(dir, short)
    }

    const CLONES_FROM_PRIMARY: bool = false;

    async fn init(&self, topo: &MysqlTopology, nodes: &[&Node]) -> Result<(), TestkitError> {
        self.copy_template(topo, nodes).await
    }

    const PORT_TAKEN: &'static str = "Bind on TCP/IP port";

    /// The port is given on the command line.
    fn set_port(&self, _node: &Node) -> Result<(), TestkitError> {
        Ok(())
    }

    fn server(&self, node: &Node) -> Command {
        self.mysqld(node)
    }

    const CLEAN_STOP: i32 = sys::SIGTERM;
    const CRASH_STOP: i32 = sys::SIGKILL;
    const AFTER_REPLICA_RESTART: Recovery = REPLICATE_AGAIN;
    const AFTER_PRIMARY_RESTART: Recovery = REPLICATE_AGAIN;

    async fn before_stop(port: u16) {
        replication::end_binlog_dumps(port).await;
    }

    async fn setup_primary(&self, port: u16) -> Result<(), TestkitError> {
        exec(port, &format!("CREATE DATABASE {DB}"), "create database").await
    }

    async fn follow(&self, node: &Node, upstream: u16) -> Result<(), TestkitError> {
        exec(
            node.port(),
            &format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT={upstream}, \
                 SOURCE_USER='repl', SOURCE_PASSWORD='{REPL_PASSWORD}', \
                 GET_SOURCE_PUBLIC_KEY=1, SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, \
                 SOURCE_HEARTBEAT_PERIOD=1; START REPLICA"
            ),
            "CHANGE REPLICATION SOURCE TO / START REPLICA",
        )
        .await
    }

    const LEADER_PROXY: bool = true;
    const REPLICATING: &'static str = "to replicate";

    async fn replication_state(
        topo: &MysqlTopology,
        replica: usize,
    ) -> Result<Option<String>, TestkitError> {
        replication::state(topo.replica(replica)?.port()).await
    }

    async fn wait_applied(
        topo: &MysqlTopology,
        replica: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        GTID_WAIT.wait(topo, replica, timeout).await
    }

    const PAUSE_REPLAY: &'static str = "STOP REPLICA SQL_THREAD";
    const RESUME_REPLAY: &'static str = "START REPLICA SQL_THREAD";
}

/// The leader's GTID set, and the wait for it on a replica.
const GTID_WAIT: GtidWait = GtidWait {
    position: "SELECT @@GLOBAL.gtid_executed",
    function: "WAIT_FOR_EXECUTED_GTID_SET",
};

impl Mysql {
    /// `mysqld` under `chroot`, with the node's folders given as seen inside the root.
    fn mysqld(&self, node: &Node) -> Command {
        let inner = self.inner(&node.home);
        let d = inner.display();
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.root)
            .args(["mysqld", "--no-defaults", "--user=root"])
            .arg(format!("--datadir={d}/data"))
            .arg(format!("--socket={d}/mysqld.sock"))
            .arg(format!("--pid-file={d}/mysqld.pid"))
            .arg(format!("--log-error={d}/error.log"))
            .arg(format!("--port={}", node.port()))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--mysqlx=OFF",
                "--secure-file-priv=NULL",
            ])
            .arg(format!("--server-id={}", node.server_id))
            .args([
                "--gtid-mode=ON",
                "--enforce-gtid-consistency=ON",
                "--log-bin=binlog",
                "--relay-log=relay",
                // A killed replica throws its relay log away and fetches again from its
                // applied GTIDs instead of stopping on a torn one.
                "--relay-log-recovery=ON",
                "--innodb-buffer-pool-dump-at-shutdown=OFF",
                "--innodb-buffer-pool-load-at-startup=OFF",
                "--innodb-buffer-pool-size=32M",
                "--innodb-redo-log-capacity=16M",
                "--innodb-flush-log-at-trx-commit=2",
                "--sync-binlog=0",
                "--performance-schema=ON",
                "--max-connections=300",
            ])
            .arg(format!("--init-file={d}/init.sql"))
            .arg(format!("--tmpdir={d}"))
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", "/root");
        cmd
    }

    /// A host path under the root, as seen inside it.
    fn inner(&self, host: &Path) -> PathBuf {
        match host.strip_prefix(&self.root) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => host.to_path_buf(),
        }
    }
}

//! Oracle MySQL primary + GTID replicas, run under `chroot` from a Debian sid root folder
//! (`.ci/install-mysql` builds it): the MySQL [`Dialect`].

mod data;
mod replication;
mod switchover;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::TestkitError;
use crate::mysql_family::{Dialect, GtidWait, PATH, query_first};
use crate::replicated::{Node, Recovery, Replicated};
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

impl Dialect for Mysql {
    const NAME: &'static str = "mysql";

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

    /// Inside the root, where `mysqld` sees it.
    fn base_dir(&self) -> PathBuf {
        self.root.join("srv/rywtk")
    }

    /// Every data dir is a copy of one initialised once per root (3–6 s saved per server);
    /// each server then makes its own `server_uuid`.
    async fn init(&self, topo: &MysqlTopology, nodes: &[&Node]) -> Result<(), TestkitError> {
        let template = self.template(topo).await?;
        for (k, node) in nodes.iter().enumerate() {
            data::write_init(node, k > 0)?;
            data::copy_dir(&template, &node.home.join("data")).await?;
            let _ = std::fs::remove_file(node.home.join("data/auto.cnf"));
        }
        Ok(())
    }

    /// The port is given on the command line.
    fn set_port(&self, _node: &Node) -> Result<(), TestkitError> {
        Ok(())
    }

    fn server(&self, node: &Node) -> Command {
        self.mysqld(node)
    }

    // The accounts come from every server's init.sql, outside the binary log.
    const SETUP_PRIMARY: &'static str = "CREATE DATABASE {db}";
    const FOLLOW: &'static str = "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', \
         SOURCE_PORT={upstream}, SOURCE_USER='repl', SOURCE_PASSWORD='{repl_password}', \
         GET_SOURCE_PUBLIC_KEY=1, SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, \
         SOURCE_HEARTBEAT_PERIOD=1; START REPLICA";
    const LEADER_PROXY: bool = true;
    const PROMOTE: &'static str = "STOP REPLICA; RESET REPLICA ALL; \
         SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF";
    const RESTART_REPLICATION: &'static str = "STOP REPLICA; START REPLICA";
    const STOP_RECEIVER: &'static str = "STOP REPLICA IO_THREAD";

    async fn received(port: u16) -> Result<String, TestkitError> {
        let received: Option<String> = query_first(
            port,
            "SELECT RECEIVED_TRANSACTION_SET FROM performance_schema.replication_connection_status \
             LIMIT 1",
        )
        .await?;
        Ok(received.unwrap_or_default())
    }

    fn promoted(&self, node: &Node) -> Result<(), TestkitError> {
        data::write_init(node, false)
    }

    async fn replication_state(port: u16) -> Result<Option<String>, TestkitError> {
        replication::state(port).await
    }

    async fn before_stop(port: u16) {
        replication::end_binlog_dumps(port).await;
    }

    const GTID: GtidWait = GtidWait {
        position: "SELECT @@GLOBAL.gtid_executed",
        function: "WAIT_FOR_EXECUTED_GTID_SET",
    };
    const PAUSE_REPLAY: &'static str = "STOP REPLICA SQL_THREAD";
    const RESUME_REPLAY: &'static str = "START REPLICA SQL_THREAD";
    const AFTER_REPLICA_RESTART: Recovery = REPLICATE_AGAIN;
    const AFTER_PRIMARY_RESTART: Recovery = REPLICATE_AGAIN;
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

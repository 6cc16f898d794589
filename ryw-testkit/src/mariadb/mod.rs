//! MariaDB primary + GTID replicas: the MariaDB [`Dialect`].

mod data;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::error::TestkitError;
use crate::host::find_binary;
use crate::mysql_family::{Dialect, GtidWait, PATH};
use crate::replicated::{Node, READY_TIMEOUT, Recovery, Replicated, SETUP_TIMEOUT};

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

impl Dialect for MariaDb {
    const NAME: &'static str = "mariadb";

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

    /// Every node's data dir, made by `mariadb-install-db` in parallel.
    async fn init(&self, topo: &MariaDbTopology, nodes: &[&Node]) -> Result<(), TestkitError> {
        let mut installs = Vec::new();
        for node in nodes {
            data::write_cnf(node)?;
            let mut cmd = Command::new(&self.install_db);
            cmd.arg(format!("--defaults-file={}", data::cnf(node).display()))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .current_dir(&node.home)
                .env_clear()
                .env("PATH", PATH)
                .env("HOME", &node.home);
            let what = format!("mariadb-install-db for {}", node.name);
            installs.push(topo.setup(cmd, &what, &node.out).await?);
        }
        for p in installs {
            p.finish(SETUP_TIMEOUT).await?;
        }
        Ok(())
    }

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

    // Accounts are made here: made by mariadb-install-db's --extra-file they fail (error 1290).
    const SETUP_PRIMARY: &'static str = "CREATE USER 'repl'@'%' IDENTIFIED BY '{repl_password}'; \
         GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'; CREATE DATABASE {db}";
    const FOLLOW: &'static str = "CHANGE MASTER TO MASTER_HOST='127.0.0.1', \
         MASTER_PORT={upstream}, MASTER_USER='repl', MASTER_PASSWORD='{repl_password}', \
         MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE";
    const LEADER_PROXY: bool = true;
    const PROMOTE: &'static str = "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF";
    const RESTART_REPLICATION: &'static str = "STOP SLAVE; START SLAVE";
    const STOP_RECEIVER: &'static str = "STOP SLAVE IO_THREAD";

    async fn received(port: u16) -> Result<String, TestkitError> {
        data::received(port).await
    }

    async fn replication_state(port: u16) -> Result<Option<String>, TestkitError> {
        data::slave_status(port).await
    }

    const GTID: GtidWait = GtidWait {
        position: "SELECT @@gtid_binlog_pos",
        function: "MASTER_GTID_WAIT",
    };
    const PAUSE_REPLAY: &'static str = "STOP SLAVE SQL_THREAD";
    const RESUME_REPLAY: &'static str = "START SLAVE SQL_THREAD";
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
}

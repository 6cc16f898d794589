//! MariaDB primary + GTID replicas.

mod start;
mod topology;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row};

use crate::dirs::TopoDir;
use crate::host::{find_binary, free_port};
use crate::proxy::DelayProxy;
use crate::runtime::on_testkit_rt;
use crate::slot::ProcSlot;
use crate::supervisor::Proc;
use crate::{TestkitError, Topology, sys};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const REPL_PASSWORD: &str = "ryw-repl";

/// Name of the database created on the primary (and replicated).
const DB: &str = "ryw";

#[derive(Debug)]
pub(crate) struct MyNode {
    name: String,
    dir: PathBuf,
    cnf: PathBuf,
    /// The server's error log (`log-error`).
    log: PathBuf,
    /// stdout/stderr of the process.
    out: PathBuf,
    pub(crate) port: u16,
    server_id: u32,
    pub(crate) proc: ProcSlot,
}

impl MyNode {
    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DB}", self.port)
    }

    fn write_cnf(&self) -> Result<(), TestkitError> {
        let d = self.dir.display();
        let user = if sys::is_root() { "user=root\n" } else { "" };
        let cnf = format!(
            "[mariadbd]\n{user}datadir={d}/data\nsocket={d}/mysqld.sock\npid-file={d}/mariadbd.pid\n\
             log-error={log}\nport={port}\nbind-address=127.0.0.1\nskip-name-resolve\n\
             server-id={id}\nlog-bin={d}/data/binlog\nbinlog-format=ROW\ngtid-strict-mode=ON\n\
             log-slave-updates=ON\nrelay-log={d}/data/relay\nrelay-log-recovery=ON\n\
             innodb-buffer-pool-size=16M\ninnodb-log-file-size=16M\n\
             innodb-flush-log-at-trx-commit=2\nsync-binlog=0\ninnodb-use-native-aio=0\n\
             performance-schema=OFF\ntmpdir={d}\nmax-connections=200\n",
            log = self.log.display(),
            port = self.port,
            id = self.server_id,
        );
        fs::write(&self.cnf, cnf)
            .map_err(|e| TestkitError::io(format!("write {}", self.cnf.display()), e))
    }
}

/// A MariaDB primary with N GTID replicas (`MASTER_USE_GTID=slave_pos`), each replicating
/// through a delaying proxy. The database `ryw` exists on the primary and the replicas.
///
/// URLs: `mysql://root@127.0.0.1:PORT/ryw` (no password). Never write on a replica: with
/// `gtid-strict-mode` replication then stops. Dropping it kills every server and removes its
/// directory.
#[derive(Debug)]
pub struct MariaDbTopology {
    mariadbd: PathBuf,
    pub(crate) primary: MyNode,
    pub(crate) replicas: Vec<MyNode>,
    proxies: Vec<DelayProxy>,
    started_in: Duration,
    dir: TopoDir,
}

pub(crate) fn my_err(
    port: u16,
    context: &str,
) -> impl FnOnce(mysql_async::Error) -> TestkitError + '_ {
    move |source| TestkitError::MariaDb {
        port,
        context: context.to_owned(),
        source,
    }
}

/// Opens a connection as root (no database selected).
pub(crate) async fn connect(port: u16) -> Result<Conn, TestkitError> {
    let opts = Opts::from_url(&format!("mysql://root@127.0.0.1:{port}/"))
        .map_err(|e| TestkitError::Internal(format!("bad mysql url: {e}")))?;
    match tokio::time::timeout(Duration::from_secs(10), Conn::new(opts)).await {
        Ok(r) => r.map_err(my_err(port, "connect")),
        Err(_) => Err(TestkitError::Internal(format!(
            "connecting to mariadb on port {port} took over 10 s"
        ))),
    }
}

async fn exec(port: u16, sql: &str, context: &str) -> Result<(), TestkitError> {
    let mut c = connect(port).await?;
    c.query_drop(sql).await.map_err(my_err(port, context))?;
    let _ = c.disconnect().await;
    Ok(())
}

impl MariaDbTopology {
    /// Starts a primary and `replicas` GTID replicas (on the testkit's own runtime).
    pub async fn start(replicas: usize) -> Result<MariaDbTopology, TestkitError> {
        on_testkit_rt(Self::start_inner(replicas)).await
    }

    /// One topology per test process and replica count, started on first use and shared by
    /// every test of the binary. Its servers die with the process.
    pub async fn shared(replicas: usize) -> Result<&'static MariaDbTopology, TestkitError> {
        static CELLS: crate::shared::Cells<MariaDbTopology> = OnceLock::new();
        crate::shared::shared(&CELLS, replicas, Self::start, |t| &t.dir).await
    }

    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The topology's directory (data dirs and logs).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    pub(crate) fn replica(&self, i: usize) -> Result<&MyNode, TestkitError> {
        self.replicas.get(i).ok_or(TestkitError::NoSuchReplica {
            index: i,
            count: self.replicas.len(),
        })
    }

    /// Waits until `SHOW SLAVE STATUS` shows both replication threads running.
    async fn wait_replicating(&self, i: usize, timeout: Duration) -> Result<(), TestkitError> {
        let node = self.replica(i)?;
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            match slave_status(node.port).await {
                Ok((io, sql, err)) => {
                    if io == "Yes" && sql == "Yes" {
                        return Ok(());
                    }
                    last = format!("Slave_IO_Running={io} Slave_SQL_Running={sql} {err}");
                }
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: format!("{} to replicate", node.name),
                    port: node.port,
                    timeout,
                    log: node.log.clone(),
                    detail: format!(" (last: {last})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the primary with `sig` (SIGTERM: clean, SIGKILL: crash), starts it again and
    /// waits until the running replicas replicate again.
    pub(crate) async fn restart_primary_with(&self, sig: i32) -> Result<(), TestkitError> {
        if let Some(p) = self.primary.proc.take() {
            p.signal(sig);
            if p.wait_exit(Duration::from_secs(30)).await.is_none() {
                p.kill().await;
            }
        }
        self.restart_node(&self.primary).await?;
        for i in 0..self.replicas.len() {
            if !self.replicas[i].proc.running() {
                continue;
            }
            // After a crash of the primary, a replica's IO thread can stop on a half-received
            // event ("could not queue event from master"). Restarting replication makes it
            // fetch again from its applied GTID position, as an operator would.
            if let Err(e) = self.wait_replicating(i, Duration::from_secs(10)).await {
                tracing::warn!(replica = i, error = %e, "restarting replication after a primary restart");
                let port = self.replicas[i].port;
                exec(port, "STOP SLAVE; START SLAVE", "STOP SLAVE; START SLAVE").await?;
                self.wait_replicating(i, READY_TIMEOUT).await?;
            }
        }
        Ok(())
    }

    async fn restart_node(&self, node: &MyNode) -> Result<(), TestkitError> {
        if let Some(p) = node.proc.take() {
            p.kill().await;
        }
        let p = self.spawn_mariadbd(node).await?;
        let res = wait_connectable(&p, node.port, READY_TIMEOUT).await;
        node.proc.set(p);
        res
    }
}

async fn slave_status(port: u16) -> Result<(String, String, String), TestkitError> {
    let mut c = connect(port).await?;
    let row: Option<Row> = c
        .query_first("SHOW SLAVE STATUS")
        .await
        .map_err(my_err(port, "SHOW SLAVE STATUS"))?;
    let _ = c.disconnect().await;
    let Some(row) = row else {
        return Ok((
            "No".into(),
            "No".into(),
            "(no replication configured)".into(),
        ));
    };
    let get = |col: &str| -> String {
        row.get_opt::<String, _>(col)
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    let err = format!(
        "Last_IO_Error={:?} Last_SQL_Error={:?}",
        get("Last_IO_Error"),
        get("Last_SQL_Error")
    );
    Ok((get("Slave_IO_Running"), get("Slave_SQL_Running"), err))
}

/// Waits until a MySQL-protocol server accepts connections (and runs queries), or exits, or
/// time runs out.
pub(crate) async fn wait_connectable(
    p: &Proc,
    port: u16,
    timeout: Duration,
) -> Result<(), TestkitError> {
    p.wait_until_ready(
        port,
        timeout,
        "to accept connections",
        Duration::from_millis(10),
        || async move {
            let mut c = connect(port).await.map_err(|e| e.to_string())?;
            c.query_drop("SELECT 1").await.map_err(|e| e.to_string())?;
            let _ = c.disconnect().await;
            Ok(())
        },
    )
    .await
}

impl Drop for MariaDbTopology {
    fn drop(&mut self) {
        for node in std::iter::once(&self.primary).chain(self.replicas.iter()) {
            if let Some(p) = node.proc.take() {
                p.kill_blocking();
            }
        }
        self.proxies.clear();
    }
}

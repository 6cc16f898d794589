//! Oracle MySQL primary + GTID replicas, run under `chroot` from a Debian sid root folder
//! (`.ci/install-mysql` builds it).

mod start;
mod switchover;
mod topology;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::TestkitError;
use crate::dirs::TopoDir;
use crate::mariadb::{connect, my_err, wait_connectable};
use crate::proxy::DelayProxy;
use crate::runtime::on_testkit_rt;
use crate::slot::ProcSlot;
use crate::supervisor::Proc;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const REPL_PASSWORD: &str = "ryw-repl";
/// Name of the database created on the primary (and replicated).
const DB: &str = "ryw";

/// The sid root folder MySQL runs from: `RYW_MYSQL_ROOT`, else `/var/cache/ryw/mysql-sid`.
pub fn mysql_root() -> PathBuf {
    std::env::var_os("RYW_MYSQL_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/ryw/mysql-sid"))
}

#[derive(Debug)]
pub(crate) struct MysqlNode {
    name: String,
    /// The node's folder as seen inside the root (`/srv/rywtk/<run>/<node>`).
    inner: PathBuf,
    /// The same folder on the host.
    host: PathBuf,
    pub(crate) port: u16,
    server_id: u32,
    pub(crate) proc: ProcSlot,
}

impl MysqlNode {
    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DB}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.host.join("error.log")
    }
}

/// An Oracle MySQL primary with N GTID replicas (`SOURCE_AUTO_POSITION=1`), each replicating
/// through a delaying proxy; replicas run with `super_read_only`. The database `ryw` exists
/// everywhere. URLs: `mysql://root@127.0.0.1:PORT/ryw` (no password).
///
/// MySQL is not packaged for Debian 12: the servers run under `chroot` from a Debian sid root
/// folder ([`mysql_root`], built by the project's `.ci/install-mysql`), which needs root.
/// Dropping the topology kills every server and removes its folder.
#[derive(Debug)]
pub struct MysqlTopology {
    root: PathBuf,
    pub(crate) primary: MysqlNode,
    pub(crate) replicas: Vec<MysqlNode>,
    proxies: Vec<DelayProxy>,
    /// A pass-through proxy to whichever node leads (what a virtual IP or a MySQL Router
    /// gives applications): [`leader_url`](Self::leader_url).
    leader_proxy: DelayProxy,
    /// The replica a switchover made the leader.
    leader: Mutex<Option<usize>>,
    started_in: Duration,
    dir: TopoDir,
}

impl MysqlTopology {
    /// Starts a primary and `replicas` GTID replicas (on the testkit's own runtime).
    pub async fn start(replicas: usize) -> Result<MysqlTopology, TestkitError> {
        on_testkit_rt(Self::start_inner(replicas)).await
    }

    /// One topology per test process and replica count, started on first use and shared by
    /// every test of the binary. Its servers die with the process.
    pub async fn shared(replicas: usize) -> Result<&'static MysqlTopology, TestkitError> {
        static CELLS: crate::shared::Cells<MysqlTopology> = std::sync::OnceLock::new();
        crate::shared::shared(&CELLS, replicas, Self::start, |t| &t.dir).await
    }

    /// A URL that reaches whichever node leads, before and after a
    /// [`switchover`](Self::switchover): a pass-through proxy repointed (its connections cut)
    /// by the switchover, as a virtual IP or a MySQL Router would be. MySQL URLs name one host.
    pub fn leader_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DB}", self.leader_proxy.port())
    }

    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The topology's directory on the host (data dirs and logs).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// The server version of the primary (`SELECT VERSION()`).
    pub async fn version(&self) -> Result<String, TestkitError> {
        let port = self.leader_node().port;
        let mut c = connect(port).await?;
        let v: Option<String> = c
            .query_first("SELECT VERSION()")
            .await
            .map_err(my_err(port, "SELECT VERSION()"))?;
        let _ = c.disconnect().await;
        Ok(v.unwrap_or_default())
    }

    pub(crate) fn replica(&self, i: usize) -> Result<&MysqlNode, TestkitError> {
        self.replicas.get(i).ok_or(TestkitError::NoSuchReplica {
            index: i,
            count: self.replicas.len(),
        })
    }

    /// The node that leads: the primary, or the replica a switchover promoted.
    pub(crate) fn leader_node(&self) -> &MysqlNode {
        match self.leader.lock().ok().and_then(|g| *g) {
            Some(i) => &self.replicas[i],
            None => &self.primary,
        }
    }

    /// Whether `replica` was promoted.
    pub(crate) fn is_promoted(&self, i: usize) -> bool {
        self.leader.lock().ok().and_then(|g| *g) == Some(i)
    }

    fn nodes(&self) -> impl Iterator<Item = &MysqlNode> {
        std::iter::once(&self.primary).chain(self.replicas.iter())
    }

    /// `mysqld` under `chroot`, with the node's folders given as seen inside the root.
    fn mysqld(&self, node: &MysqlNode, extra: &[String]) -> Command {
        let d = node.inner.display();
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.root)
            .args(["mysqld", "--no-defaults", "--user=root"])
            .arg(format!("--datadir={d}/data"))
            .args(extra)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/root");
        cmd
    }

    /// Starts `node`'s server (its data directory exists).
    pub(crate) async fn spawn_mysqld(&self, node: &MysqlNode) -> Result<Proc, TestkitError> {
        let d = node.inner.display();
        let args = vec![
            format!("--socket={d}/mysqld.sock"),
            format!("--pid-file={d}/mysqld.pid"),
            format!("--log-error={d}/error.log"),
            format!("--port={}", node.port),
            "--bind-address=127.0.0.1".into(),
            "--skip-name-resolve".into(),
            "--mysqlx=OFF".into(),
            "--secure-file-priv=NULL".into(),
            format!("--server-id={}", node.server_id),
            "--gtid-mode=ON".into(),
            "--enforce-gtid-consistency=ON".into(),
            "--log-bin=binlog".into(),
            "--relay-log=relay".into(),
            // A killed replica throws its relay log away and fetches again from its applied
            // GTIDs instead of stopping on a torn one.
            "--relay-log-recovery=ON".into(),
            "--innodb-buffer-pool-dump-at-shutdown=OFF".into(),
            "--innodb-buffer-pool-load-at-startup=OFF".into(),
            "--innodb-buffer-pool-size=32M".into(),
            "--innodb-redo-log-capacity=16M".into(),
            "--innodb-flush-log-at-trx-commit=2".into(),
            "--sync-binlog=0".into(),
            "--performance-schema=ON".into(),
            "--max-connections=300".into(),
            format!("--init-file={d}/init.sql"),
            format!("--tmpdir={d}"),
        ];
        let cmd = self.mysqld(node, &args);
        let mut p = Proc::spawn(cmd, &node.name, &node.host.join("stdout.log")).await?;
        p.log = node.log();
        self.dir.record_pid(p.pid);
        Ok(p)
    }

    /// Stops the leader with `sig` (SIGTERM: clean, SIGKILL: crash), starts it again and
    /// waits until the running replicas replicate again.
    pub(crate) async fn restart_primary_with(&self, sig: i32) -> Result<(), TestkitError> {
        let leader = self.leader_node();
        if let Some(p) = leader.proc.take() {
            end_binlog_dumps(leader.port).await;
            p.signal(sig);
            if p.wait_exit(Duration::from_secs(30)).await.is_none() {
                p.kill().await;
            }
        }
        self.restart_node(leader).await?;
        for i in 0..self.replicas.len() {
            if self.replicas[i].proc.running() && !self.is_promoted(i) {
                self.ensure_replicating(i).await?;
            }
        }
        Ok(())
    }

    /// Waits until `replica` replicates; when it does not within 10 s (a receiver that gave
    /// up on a half-read event, an applier stopped by a crash or a transient apply error),
    /// restarts replication, as an operator would, and waits again — up to five times, so
    /// about a minute in all; the error then carries what the server said.
    pub(crate) async fn ensure_replicating(&self, i: usize) -> Result<(), TestkitError> {
        let mut last = match self.wait_replicating(i, Duration::from_secs(10)).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let port = self.replica(i)?.port;
        for attempt in 1..=5 {
            tracing::warn!(replica = i, attempt, error = %last, "restarting replication");
            exec(
                port,
                "STOP REPLICA; START REPLICA",
                "STOP REPLICA; START REPLICA",
            )
            .await?;
            match self.wait_replicating(i, Duration::from_secs(10)).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    pub(crate) async fn restart_node(&self, node: &MysqlNode) -> Result<(), TestkitError> {
        if let Some(p) = node.proc.take() {
            p.kill().await;
        }
        let p = self.spawn_mysqld(node).await?;
        let res = wait_connectable(&p, node.port, READY_TIMEOUT).await;
        node.proc.set(p);
        res
    }

    /// Waits until `replica`'s receiver and applier both run.
    pub(crate) async fn wait_replicating(
        &self,
        i: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        let node = self.replica(i)?;
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            match replication_state(node.port).await {
                Ok(state) if state == "ON/ON" => return Ok(()),
                Ok(state) => last = format!("receiver/applier {state}"),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: format!("{} to replicate", node.name),
                    port: node.port,
                    timeout,
                    log: node.log(),
                    detail: format!(" (last: {last})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Ends the server's binlog dump threads and client connections just before a clean
/// shutdown, which disconnects them anyway but otherwise waits about 8 s for them to notice
/// (measured on MySQL 9.7; a replication heartbeat of 1 s did not shorten it). Replicas and
/// pools reconnect on their own.
pub(crate) async fn end_binlog_dumps(port: u16) {
    let _ = crate::faults::kill_client_connections(port).await;
    let Ok(mut c) = connect(port).await else {
        return;
    };
    let ids: Vec<u64> = c
        .query(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')",
        )
        .await
        .unwrap_or_default();
    for id in ids {
        let _ = c.query_drop(format!("KILL CONNECTION {id}")).await;
    }
    let _ = c.disconnect().await;
}

/// `receiver/applier` service states of the default channel (`ON/ON` when replicating).
async fn replication_state(port: u16) -> Result<String, TestkitError> {
    let mut c = connect(port).await?;
    let state: Option<String> = c
        .query_first(
            "SELECT CONCAT(c.SERVICE_STATE, '/', a.SERVICE_STATE) \
             FROM performance_schema.replication_connection_status c \
             JOIN performance_schema.replication_applier_status a USING (CHANNEL_NAME)",
        )
        .await
        .map_err(my_err(port, "replication status"))?;
    let state = state.unwrap_or_else(|| "none/none".into());
    if state == "ON/ON" {
        let _ = c.disconnect().await;
        return Ok(state);
    }
    // Why a thread is off, as the server says (receiver, coordinator, workers).
    let errors: Vec<String> = c
        .query(
            "SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) \
             FROM performance_schema.replication_connection_status WHERE LAST_ERROR_NUMBER <> 0 \
             UNION ALL SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) \
             FROM performance_schema.replication_applier_status_by_coordinator WHERE LAST_ERROR_NUMBER <> 0 \
             UNION ALL SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) \
             FROM performance_schema.replication_applier_status_by_worker WHERE LAST_ERROR_NUMBER <> 0",
        )
        .await
        .unwrap_or_default();
    let _ = c.disconnect().await;
    if errors.is_empty() {
        Ok(state)
    } else {
        Ok(format!("{state} ({})", errors.join("; ")))
    }
}

/// Runs `sql` on the server at `port`.
pub(crate) async fn exec(port: u16, sql: &str, context: &str) -> Result<(), TestkitError> {
    let mut c = connect(port).await?;
    c.query_drop(sql).await.map_err(my_err(port, context))?;
    let _ = c.disconnect().await;
    Ok(())
}

impl Drop for MysqlTopology {
    fn drop(&mut self) {
        for node in self.nodes() {
            if let Some(p) = node.proc.take() {
                p.kill_blocking();
            }
        }
        self.proxies.clear();
    }
}

//! MariaDB primary + GTID replicas.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row};

use crate::dirs::{TopoDir, find_binary, free_port};
use crate::proxy::DelayProxy;
use crate::supervisor::{Proc, ProcSlot, on_testkit_rt};
use crate::{TestkitError, Topology, sys};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const REPL_PASSWORD: &str = "ryw-repl";

/// Name of the database created on the primary (and replicated).
const DB: &str = "ryw";

#[derive(Debug)]
struct MyNode {
    name: String,
    dir: PathBuf,
    cnf: PathBuf,
    /// The server's error log (`log-error`).
    log: PathBuf,
    /// stdout/stderr of the process.
    out: PathBuf,
    port: u16,
    server_id: u32,
    proc: ProcSlot,
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
    primary: MyNode,
    replicas: Vec<MyNode>,
    proxies: Vec<DelayProxy>,
    started_in: Duration,
    dir: TopoDir,
}

fn my_err(port: u16, context: &str) -> impl FnOnce(mysql_async::Error) -> TestkitError + '_ {
    move |source| TestkitError::MariaDb {
        port,
        context: context.to_owned(),
        source,
    }
}

/// Opens a connection as root (no database selected).
async fn connect(port: u16) -> Result<Conn, TestkitError> {
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
        type Cells = Mutex<HashMap<usize, &'static tokio::sync::OnceCell<MariaDbTopology>>>;
        static CELLS: OnceLock<Cells> = OnceLock::new();
        let cell = {
            let mut map = CELLS
                .get_or_init(|| Mutex::new(HashMap::new()))
                .lock()
                .map_err(|_| TestkitError::Internal("shared map poisoned".into()))?;
            *map.entry(replicas)
                .or_insert_with(|| Box::leak(Box::new(tokio::sync::OnceCell::new())))
        };
        cell.get_or_try_init(|| async {
            let t = Self::start(replicas).await?;
            t.dir.register_shared();
            Ok(t)
        })
        .await
    }

    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The topology's directory (data dirs and logs).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    fn node(dir: &Path, name: String, short: &str, server_id: u32) -> Result<MyNode, TestkitError> {
        let d = dir.join(short);
        fs::create_dir(&d).map_err(|e| TestkitError::io(format!("create {}", d.display()), e))?;
        Ok(MyNode {
            name,
            cnf: d.join("my.cnf"),
            log: d.join("error.log"),
            out: d.join("stdout.log"),
            dir: d,
            port: free_port()?,
            server_id,
            proc: ProcSlot::default(),
        })
    }

    async fn start_inner(n: usize) -> Result<MariaDbTopology, TestkitError> {
        let t0 = Instant::now();
        let mariadbd = match find_binary("mariadbd", &[], "mariadb-server") {
            Ok(p) => p,
            Err(e) => find_binary("mysqld", &[], "mariadb-server").map_err(|_| e)?,
        };
        let install_db = find_binary("mariadb-install-db", &[], "mariadb-server")?;
        let dir = TopoDir::create()?;
        let mut topo = MariaDbTopology {
            mariadbd,
            primary: Self::node(&dir.path, "mariadb primary".into(), "m", 1)?,
            replicas: Vec::new(),
            proxies: Vec::new(),
            started_in: Duration::ZERO,
            dir,
        };
        for i in 0..n {
            let id = u32::try_from(i + 2).unwrap_or(u32::MAX);
            topo.replicas.push(Self::node(
                &topo.dir.path,
                format!("mariadb replica {i}"),
                &format!("r{i}"),
                id,
            )?);
        }
        // Initialise every data dir in parallel.
        let mut installs = Vec::new();
        for node in topo.nodes() {
            node.write_cnf()?;
            let mut cmd = Command::new(&install_db);
            cmd.arg(format!("--defaults-file={}", node.cnf.display()))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .current_dir(&node.dir)
                .env_clear()
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
                .env("HOME", &node.dir);
            let p = Proc::spawn(
                cmd,
                &format!("mariadb-install-db for {}", node.name),
                &node.out,
            )
            .await?;
            topo.dir.record_pid(p.pid);
            installs.push(p);
        }
        for p in installs {
            p.finish(SETUP_TIMEOUT).await?;
        }
        // Start every server, then wait for each.
        let mut ports = Vec::new();
        for node in topo.nodes() {
            let p = topo.spawn_mariadbd(node).await?;
            node.proc.set(p);
        }
        for node in topo.nodes() {
            ports.push(topo.wait_first_start(node).await?);
        }
        topo.primary.port = ports[0];
        for (i, port) in ports[1..].iter().enumerate() {
            topo.replicas[i].port = *port;
        }
        let t_primary = t0.elapsed();
        exec(
            topo.primary.port,
            &format!(
                "CREATE USER 'repl'@'%' IDENTIFIED BY '{REPL_PASSWORD}'; \
                 GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'; CREATE DATABASE {DB}"
            ),
            "create replication user and database",
        )
        .await?;
        for i in 0..n {
            let proxy = DelayProxy::start(topo.primary.port)?;
            exec(
                topo.replicas[i].port,
                &format!(
                    "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
                     MASTER_USER='repl', MASTER_PASSWORD='{REPL_PASSWORD}', \
                     MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE",
                    proxy.port()
                ),
                "CHANGE MASTER TO / START SLAVE",
            )
            .await?;
            topo.proxies.push(proxy);
        }
        for i in 0..n {
            topo.wait_replicating(i, READY_TIMEOUT).await?;
            topo.wait_caught_up(i, READY_TIMEOUT).await?;
        }
        topo.started_in = t0.elapsed();
        tracing::info!(
            replicas = n,
            servers_up_ms = t_primary.as_millis(),
            total_ms = topo.started_in.as_millis(),
            dir = %topo.dir.path.display(),
            "mariadb topology started"
        );
        Ok(topo)
    }

    fn nodes(&self) -> impl Iterator<Item = &MyNode> {
        std::iter::once(&self.primary).chain(self.replicas.iter())
    }

    async fn spawn_mariadbd(&self, node: &MyNode) -> Result<Proc, TestkitError> {
        let mut cmd = Command::new(&self.mariadbd);
        // --defaults-file must be the first argument.
        cmd.arg(format!("--defaults-file={}", node.cnf.display()))
            .current_dir(&node.dir)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", &node.dir);
        let mut p = Proc::spawn(cmd, &node.name, &node.out).await?;
        p.log = node.log.clone();
        self.dir.record_pid(p.pid);
        Ok(p)
    }

    /// Waits for a node started for the first time, moving it to another port if its port
    /// was taken. Returns the port.
    async fn wait_first_start(&self, node: &MyNode) -> Result<u16, TestkitError> {
        let mut port = node.port;
        for attempt in 1.. {
            let res = {
                let g = node.proc.take();
                let Some(p) = g else {
                    return Err(TestkitError::InvalidState(format!(
                        "{} not started",
                        node.name
                    )));
                };
                let r = wait_connectable(&p, port, READY_TIMEOUT).await;
                node.proc.set(p);
                r
            };
            match res {
                Ok(()) => return Ok(port),
                Err(e) => {
                    let text = fs::read_to_string(&node.log).unwrap_or_default();
                    if attempt < 4 && !node.proc.running() && text.contains("Bind on TCP/IP port") {
                        port = free_port()?;
                        let moved = MyNode {
                            name: node.name.clone(),
                            dir: node.dir.clone(),
                            cnf: node.cnf.clone(),
                            log: node.log.clone(),
                            out: node.out.clone(),
                            port,
                            server_id: node.server_id,
                            proc: ProcSlot::default(),
                        };
                        moved.write_cnf()?;
                        let p = self.spawn_mariadbd(node).await?;
                        node.proc.set(p);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(TestkitError::Internal("unreachable".into()))
    }

    fn replica(&self, i: usize) -> Result<&MyNode, TestkitError> {
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

/// Waits until a server accepts connections (and runs queries), or exits, or time runs out.
async fn wait_connectable(p: &Proc, port: u16, timeout: Duration) -> Result<(), TestkitError> {
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

impl Topology for MariaDbTopology {
    fn primary_url(&self) -> String {
        self.primary.url()
    }

    fn replica_urls(&self) -> Vec<String> {
        self.replicas.iter().map(MyNode::url).collect()
    }

    fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    async fn set_lag(&self, replica: usize, lag: Duration) -> Result<(), TestkitError> {
        self.replica(replica)?;
        if let Some(p) = self.proxies.get(replica) {
            p.set_lag(lag);
        }
        Ok(())
    }

    async fn pause_replay(&self, replica: usize) -> Result<(), TestkitError> {
        let port = self.replica(replica)?.port;
        exec(port, "STOP SLAVE SQL_THREAD", "STOP SLAVE SQL_THREAD").await
    }

    async fn resume_replay(&self, replica: usize) -> Result<(), TestkitError> {
        let port = self.replica(replica)?.port;
        exec(port, "START SLAVE SQL_THREAD", "START SLAVE SQL_THREAD").await
    }

    async fn kill_replica(&self, replica: usize) -> Result<(), TestkitError> {
        if let Some(p) = self.replica(replica)?.proc.take() {
            p.kill().await;
        }
        Ok(())
    }

    async fn restart_replica(&self, replica: usize) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        self.restart_node(node).await?;
        self.wait_replicating(replica, READY_TIMEOUT).await
    }

    async fn restart_primary(&self) -> Result<(), TestkitError> {
        if let Some(p) = self.primary.proc.take() {
            p.signal(sys::SIGTERM); // clean shutdown
            if p.wait_exit(Duration::from_secs(30)).await.is_none() {
                p.kill().await;
            }
        }
        self.restart_node(&self.primary).await?;
        for i in 0..self.replicas.len() {
            if self.replicas[i].proc.running() {
                self.wait_replicating(i, READY_TIMEOUT).await?;
            }
        }
        Ok(())
    }

    async fn wait_caught_up(&self, replica: usize, timeout: Duration) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        let pport = self.primary.port;
        let mut c = connect(pport).await?;
        let pos: Option<String> = c
            .query_first("SELECT @@gtid_binlog_pos")
            .await
            .map_err(my_err(pport, "SELECT @@gtid_binlog_pos"))?;
        let _ = c.disconnect().await;
        let pos = pos.unwrap_or_default();
        let timeout_err = |detail: String| TestkitError::Timeout {
            what: format!("{} to apply GTID {pos}", node.name),
            port: node.port,
            timeout,
            log: node.log.clone(),
            detail,
        };
        let wait = async {
            let mut c = connect(node.port).await?;
            let r: Option<Option<i64>> = c
                .exec_first(
                    "SELECT MASTER_GTID_WAIT(?, ?)",
                    (&pos, timeout.as_secs_f64()),
                )
                .await
                .map_err(my_err(node.port, "MASTER_GTID_WAIT"))?;
            let _ = c.disconnect().await;
            Ok::<_, TestkitError>(r.flatten())
        };
        match tokio::time::timeout(timeout + Duration::from_secs(2), wait).await {
            Ok(Ok(Some(0))) => Ok(()),
            Ok(Ok(other)) => Err(timeout_err(format!(
                " (MASTER_GTID_WAIT returned {other:?})"
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(timeout_err(String::new())),
        }
    }

    async fn execute_on_primary(&self, sql: &str) -> Result<(), TestkitError> {
        let port = self.primary.port;
        let mut c = connect(port).await?;
        c.query_drop(format!("USE {DB}"))
            .await
            .map_err(my_err(port, "USE"))?;
        c.query_drop(sql)
            .await
            .map_err(my_err(port, "execute on primary"))?;
        let _ = c.disconnect().await;
        Ok(())
    }
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

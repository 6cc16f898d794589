//! PostgreSQL primary + physical streaming replicas.

use std::collections::HashMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::dirs::{TopoDir, find_binary, free_port, lookup_user};
use crate::proxy::DelayProxy;
use crate::supervisor::{Proc, ProcSlot, children_of, on_testkit_rt, wait_gone};
use crate::{TestkitError, Topology, sys};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
struct PgEnv {
    bin: PathBuf,
    /// uid/gid of `postgres` when we run as root.
    user: Option<(u32, u32)>,
}

impl PgEnv {
    fn find() -> Result<PgEnv, TestkitError> {
        let mut dirs = Vec::new();
        if let Some(d) = std::env::var_os("RYW_PG_BINDIR") {
            dirs.push(PathBuf::from(d));
        }
        dirs.push(PathBuf::from("/usr/lib/postgresql/15/bin"));
        if let Ok(rd) = fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin")).collect();
            versions.sort();
            versions.reverse();
            dirs.extend(versions);
        }
        let initdb = find_binary("initdb", &dirs, "postgresql")?;
        let bin = initdb.parent().map(Path::to_path_buf).unwrap_or_default();
        for b in ["postgres", "pg_basebackup"] {
            find_binary(b, std::slice::from_ref(&bin), "postgresql")?;
        }
        let user = if sys::is_root() {
            Some(lookup_user("postgres")?)
        } else {
            None
        };
        Ok(PgEnv { bin, user })
    }

    fn command(&self, name: &str) -> Command {
        let mut c = Command::new(self.bin.join(name));
        if let Some((uid, gid)) = self.user {
            c.uid(uid).gid(gid);
        }
        c.current_dir("/tmp")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", "/tmp");
        c
    }

    fn chown(&self, path: &Path) -> Result<(), TestkitError> {
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
                TestkitError::io(format!("chown {} to postgres", path.display()), e)
            })?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct PgNode {
    name: String,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    proc: ProcSlot,
}

impl PgNode {
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

/// A PostgreSQL 15 primary with N physical streaming replicas, each behind a delaying proxy.
///
/// URLs: `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication). Dropping it
/// kills every server and removes its directory.
#[derive(Debug)]
pub struct PgTopology {
    env: PgEnv,
    primary: PgNode,
    replicas: Vec<PgNode>,
    proxies: Vec<DelayProxy>,
    promoted: Vec<Mutex<bool>>,
    started_in: Duration,
    dir: TopoDir,
}

fn pg_err(port: u16, context: &str) -> impl FnOnce(tokio_postgres::Error) -> TestkitError + '_ {
    move |source| TestkitError::Postgres {
        port,
        context: context.to_owned(),
        source,
    }
}

/// Opens a connection on the caller's runtime (the connection task is spawned there).
async fn connect(port: u16) -> Result<Client, TestkitError> {
    let conn_str = format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5 application_name=ryw-testkit"
    );
    let (client, conn) = tokio_postgres::connect(&conn_str, NoTls)
        .await
        .map_err(pg_err(port, "connect"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl PgTopology {
    /// Starts a primary and `replicas` streaming replicas (on the testkit's own runtime).
    pub async fn start(replicas: usize) -> Result<PgTopology, TestkitError> {
        on_testkit_rt(Self::start_inner(replicas)).await
    }

    /// One topology per test process and replica count, started on first use and shared by
    /// every test of the binary. Its servers die with the process.
    pub async fn shared(replicas: usize) -> Result<&'static PgTopology, TestkitError> {
        static CELLS: OnceLock<Mutex<HashMap<usize, &'static tokio::sync::OnceCell<PgTopology>>>> =
            OnceLock::new();
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

    async fn start_inner(n: usize) -> Result<PgTopology, TestkitError> {
        let t0 = Instant::now();
        let env = PgEnv::find()?;
        let dir = TopoDir::create()?;
        env.chown(&dir.path)?;
        let primary = PgNode {
            name: "postgres primary".into(),
            data: dir.path.join("p"),
            log: dir.path.join("p.log"),
            port: free_port()?,
            proc: ProcSlot::default(),
        };
        let mut cmd = env.command("initdb");
        cmd.arg("-D")
            .arg(&primary.data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C.UTF-8");
        Proc::run(cmd, "initdb", &primary.log, SETUP_TIMEOUT).await?;
        tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: initdb");
        append(
            &primary.data.join("postgresql.conf"),
            &format!(
                "\n# ryw-testkit\nlisten_addresses='127.0.0.1'\nunix_socket_directories='{}'\n\
                 wal_keep_size='256MB'\nfsync=off\nfull_page_writes=off\nshared_buffers='32MB'\n\
                 max_wal_senders=20\nmax_connections=100\nwal_sender_timeout='60s'\n",
                primary.data.display()
            ),
        )?;
        let mut topo = PgTopology {
            env,
            primary,
            replicas: Vec::new(),
            proxies: Vec::new(),
            promoted: Vec::new(),
            started_in: Duration::ZERO,
            dir,
        };
        topo.primary.port = topo.start_node_first_time(&topo.primary).await?;
        let t_primary = t0.elapsed();
        tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: primary");

        // Base backups in parallel.
        let mut backups = Vec::new();
        for i in 0..n {
            let node = PgNode {
                name: format!("postgres replica {i}"),
                data: topo.dir.path.join(format!("r{i}")),
                log: topo.dir.path.join(format!("r{i}.log")),
                port: free_port()?,
                proc: ProcSlot::default(),
            };
            let mut cmd = topo.env.command("pg_basebackup");
            cmd.args(["-h", "127.0.0.1", "-p", &topo.primary.port.to_string()])
                .args(["-U", "postgres", "-D"])
                .arg(&node.data)
                .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
            let p = Proc::spawn(cmd, &format!("pg_basebackup for replica {i}"), &node.log).await?;
            topo.dir.record_pid(p.pid);
            backups.push((node, p));
        }
        for (i, (node, p)) in backups.into_iter().enumerate() {
            p.finish(SETUP_TIMEOUT).await?;
            tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: bb");
            let proxy = DelayProxy::start(topo.primary.port)?;
            append(
                &node.data.join("postgresql.conf"),
                &format!(
                    "\n# ryw-testkit replica\nunix_socket_directories='{}'\n\
                     wal_retrieve_retry_interval='100ms'\nhot_standby_feedback=on\n",
                    node.data.display()
                ),
            )?;
            let auto = node.data.join("postgresql.auto.conf");
            let old = fs::read_to_string(&auto)
                .map_err(|e| TestkitError::io(format!("read {}", auto.display()), e))?;
            let mut new: String = old
                .lines()
                .filter(|l| !l.trim_start().starts_with("primary_conninfo"))
                .map(|l| format!("{l}\n"))
                .collect();
            new.push_str(&format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=r{i}'\n",
                proxy.port()
            ));
            fs::write(&auto, new)
                .map_err(|e| TestkitError::io(format!("write {}", auto.display()), e))?;
            topo.replicas.push(node);
            topo.proxies.push(proxy);
            topo.promoted.push(Mutex::new(false));
        }
        for i in 0..n {
            let port = topo.start_node_first_time(&topo.replicas[i]).await?;
            topo.replicas[i].port = port;
        }
        tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: replicas up");
        for i in 0..n {
            topo.wait_streaming(i, READY_TIMEOUT).await?;
        }
        topo.started_in = t0.elapsed();
        tracing::info!(
            replicas = n,
            primary_ms = t_primary.as_millis(),
            total_ms = topo.started_in.as_millis(),
            dir = %topo.dir.path.display(),
            "postgres topology started"
        );
        Ok(topo)
    }

    /// Starts a node for the first time, retrying on another port if the port was taken.
    async fn start_node_first_time(&self, node: &PgNode) -> Result<u16, TestkitError> {
        let mut port = node.port;
        let mut attempt = 0;
        loop {
            attempt += 1;
            append(
                &node.data.join("postgresql.conf"),
                &format!("port={port}\n"),
            )?;
            let p = self.spawn_postgres(node).await?;
            match wait_connectable(&p, port, READY_TIMEOUT).await {
                Ok(()) => {
                    node.proc.set(p);
                    return Ok(port);
                }
                Err(e) => {
                    let text = fs::read_to_string(&node.log).unwrap_or_default();
                    if attempt < 4 && p.exited().is_some() && text.contains("could not bind") {
                        port = free_port()?;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn spawn_postgres(&self, node: &PgNode) -> Result<Proc, TestkitError> {
        let mut cmd = self.env.command("postgres");
        cmd.arg("-D").arg(&node.data);
        let p = Proc::spawn(cmd, &node.name, &node.log).await?;
        self.dir.record_pid(p.pid);
        Ok(p)
    }

    fn replica(&self, i: usize) -> Result<&PgNode, TestkitError> {
        self.replicas.get(i).ok_or(TestkitError::NoSuchReplica {
            index: i,
            count: self.replicas.len(),
        })
    }

    fn is_promoted(&self, i: usize) -> bool {
        self.promoted
            .get(i)
            .and_then(|m| m.lock().ok().map(|g| *g))
            .unwrap_or(false)
    }

    /// Waits until the primary's `pg_stat_replication` shows replica `i` streaming.
    async fn wait_streaming(&self, i: usize, timeout: Duration) -> Result<(), TestkitError> {
        let node = self.replica(i)?;
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            if let Some(e) = node.proc.exit_error(node.port) {
                return Err(e);
            }
            match connect(self.primary.port).await {
                Ok(c) => {
                    match c
                        .query_opt(
                            "SELECT state FROM pg_stat_replication WHERE application_name = $1",
                            &[&format!("r{i}")],
                        )
                        .await
                    {
                        Ok(Some(row)) => {
                            let state: Option<String> = row.get(0);
                            if state.as_deref() == Some("streaming") {
                                return Ok(());
                            }
                            last = format!("state {state:?}");
                        }
                        Ok(None) => last = "not in pg_stat_replication".into(),
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: format!("{} to stream from the primary", node.name),
                    port: node.port,
                    timeout,
                    log: node.log.clone(),
                    detail: format!(" (last: {last})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Promotes replica `replica` to a primary (`pg_promote()`), on a new timeline. The other
    /// replicas keep following the old primary. The promoted node stays reachable at
    /// `replica_urls()[replica]` and is writable.
    pub async fn promote(&self, replica: usize) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        let c = connect(node.port).await?;
        let ok: bool = c
            .query_one("SELECT pg_promote(true, 60)", &[])
            .await
            .map_err(pg_err(node.port, "pg_promote()"))?
            .get(0);
        if !ok {
            return Err(TestkitError::InvalidState(format!(
                "pg_promote() on {} (port {}) returned false; log {}",
                node.name,
                node.port,
                node.log.display()
            )));
        }
        if let Some(m) = self.promoted.get(replica)
            && let Ok(mut g) = m.lock()
        {
            *g = true;
        }
        Ok(())
    }

    async fn kill_node(node: &PgNode) {
        if let Some(p) = node.proc.take() {
            let backends = children_of(p.pid);
            p.kill().await;
            for b in &backends {
                sys::kill(*b, sys::SIGKILL);
            }
            wait_gone(&backends, Duration::from_secs(10)).await;
        }
    }

    async fn restart_node(&self, node: &PgNode) -> Result<(), TestkitError> {
        Self::kill_node(node).await;
        let p = self.spawn_postgres(node).await?;
        let res = wait_connectable(&p, node.port, READY_TIMEOUT).await;
        node.proc.set(p);
        res
    }
}

fn append(path: &Path, text: &str) -> Result<(), TestkitError> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| TestkitError::io(format!("open {}", path.display()), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| TestkitError::io(format!("write {}", path.display()), e))
}

/// Waits until a server accepts connections (and runs queries), or exits, or time runs out.
async fn wait_connectable(p: &Proc, port: u16, timeout: Duration) -> Result<(), TestkitError> {
    p.wait_until_ready(
        port,
        timeout,
        "to accept connections",
        Duration::from_millis(10),
        || async move {
            let c = connect(port).await.map_err(|e| e.to_string())?;
            c.simple_query("SELECT 1")
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
    .await
}

impl Topology for PgTopology {
    fn primary_url(&self) -> String {
        self.primary.url()
    }

    fn replica_urls(&self) -> Vec<String> {
        self.replicas.iter().map(PgNode::url).collect()
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
        connect(port)
            .await?
            .simple_query("SELECT pg_wal_replay_pause()")
            .await
            .map_err(pg_err(port, "pg_wal_replay_pause()"))?;
        Ok(())
    }

    async fn resume_replay(&self, replica: usize) -> Result<(), TestkitError> {
        let port = self.replica(replica)?.port;
        connect(port)
            .await?
            .simple_query("SELECT pg_wal_replay_resume()")
            .await
            .map_err(pg_err(port, "pg_wal_replay_resume()"))?;
        Ok(())
    }

    async fn kill_replica(&self, replica: usize) -> Result<(), TestkitError> {
        Self::kill_node(self.replica(replica)?).await;
        Ok(())
    }

    async fn restart_replica(&self, replica: usize) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        self.restart_node(node).await?;
        if !self.is_promoted(replica) {
            self.wait_streaming(replica, READY_TIMEOUT).await?;
        }
        Ok(())
    }

    async fn restart_primary(&self) -> Result<(), TestkitError> {
        if let Some(p) = self.primary.proc.take() {
            let backends = children_of(p.pid);
            p.signal(sys::SIGINT); // fast shutdown
            if p.wait_exit(Duration::from_secs(30)).await.is_none() {
                p.kill().await;
            }
            wait_gone(&backends, Duration::from_secs(10)).await;
        }
        self.restart_node(&self.primary).await?;
        for i in 0..self.replicas.len() {
            if self.replicas[i].proc.running() && !self.is_promoted(i) {
                self.wait_streaming(i, READY_TIMEOUT).await?;
            }
        }
        Ok(())
    }

    async fn wait_caught_up(&self, replica: usize, timeout: Duration) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        let deadline = Instant::now() + timeout;
        let target: String = connect(self.primary.port)
            .await?
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .map_err(pg_err(self.primary.port, "pg_current_wal_lsn()"))?
            .get(0);
        let mut last;
        loop {
            let res = async {
                let c = connect(node.port).await?;
                loop {
                    let row = c
                        .query_one(
                            "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false), \
                             coalesce(pg_last_wal_replay_lsn()::text, 'NULL')",
                            &[&target],
                        )
                        .await
                        .map_err(pg_err(node.port, "pg_last_wal_replay_lsn()"))?;
                    if row.get::<_, bool>(0) {
                        return Ok::<(), TestkitError>(());
                    }
                    if Instant::now() >= deadline {
                        return Err(TestkitError::Timeout {
                            what: format!("{} to replay up to {target}", node.name),
                            port: node.port,
                            timeout,
                            log: node.log.clone(),
                            detail: format!(" (replayed: {})", row.get::<_, String>(1)),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            .await;
            match res {
                Ok(()) => return Ok(()),
                Err(e @ TestkitError::Timeout { .. }) => return Err(e),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: format!("{} to replay up to {target}", node.name),
                    port: node.port,
                    timeout,
                    log: node.log.clone(),
                    detail: format!(" (last: {last})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn execute_on_primary(&self, sql: &str) -> Result<(), TestkitError> {
        let port = self.primary.port;
        connect(port)
            .await?
            .batch_execute(sql)
            .await
            .map_err(pg_err(port, "execute on primary"))
    }
}

impl Drop for PgTopology {
    fn drop(&mut self) {
        let mut backends = Vec::new();
        for node in std::iter::once(&self.primary).chain(self.replicas.iter()) {
            if let Some(p) = node.proc.take() {
                backends.extend(children_of(p.pid));
                p.kill_blocking();
            }
        }
        for b in &backends {
            sys::kill(*b, sys::SIGKILL);
        }
        self.proxies.clear();
        // `dir` is removed when its field is dropped.
    }
}

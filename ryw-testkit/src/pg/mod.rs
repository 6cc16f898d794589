//! PostgreSQL primary + physical streaming replicas.

mod env;
mod failover;
mod start;
mod switchover;
mod topology;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::dirs::TopoDir;
use crate::procfs::{children_of, wait_gone};
use crate::proxy::DelayProxy;
use crate::runtime::on_testkit_rt;
use crate::slot::ProcSlot;
use crate::{TestkitError, sys};

pub(crate) use env::PgEnv;
use start::wait_connectable;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub(crate) struct PgNode {
    pub(crate) name: String,
    pub(crate) data: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) port: u16,
    pub(crate) proc: ProcSlot,
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
    pub(crate) env: PgEnv,
    pub(crate) primary: PgNode,
    pub(crate) replicas: Vec<PgNode>,
    pub(crate) proxies: Vec<DelayProxy>,
    promoted: Vec<Mutex<bool>>,
    /// The replica that leads since a switchover (`None`: the original primary).
    pub(crate) leader: Mutex<Option<usize>>,
    started_in: Duration,
    dir: TopoDir,
}

pub(crate) fn pg_err(
    port: u16,
    context: &str,
) -> impl FnOnce(tokio_postgres::Error) -> TestkitError + '_ {
    move |source| TestkitError::Postgres {
        port,
        context: context.to_owned(),
        source,
    }
}

/// Opens a connection on the caller's runtime (the connection task is spawned there).
pub(crate) async fn connect(port: u16) -> Result<Client, TestkitError> {
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
        static CELLS: crate::shared::Cells<PgTopology> = OnceLock::new();
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

    /// Stops the primary with `sig` (SIGINT: fast shutdown, SIGQUIT: immediate), starts it
    /// again and waits until the running replicas stream again.
    pub(crate) async fn restart_primary_with(&self, sig: i32) -> Result<(), TestkitError> {
        let leader = self.leader_node();
        if let Some(p) = leader.proc.take() {
            let backends = children_of(p.pid);
            p.signal(sig);
            if p.wait_exit(Duration::from_secs(30)).await.is_none() {
                p.kill().await;
            }
            for b in &backends {
                sys::kill(*b, sys::SIGKILL);
            }
            wait_gone(&backends, Duration::from_secs(10)).await;
        }
        self.restart_node(leader).await?;
        for i in 0..self.replicas.len() {
            if self.replicas[i].proc.running() && !self.is_promoted(i) {
                self.wait_streaming(i, READY_TIMEOUT).await?;
            }
        }
        Ok(())
    }

    pub(crate) fn replica(&self, i: usize) -> Result<&PgNode, TestkitError> {
        self.replicas.get(i).ok_or(TestkitError::NoSuchReplica {
            index: i,
            count: self.replicas.len(),
        })
    }

    /// The node that currently leads: the primary, or the replica a switchover promoted.
    pub(crate) fn leader_node(&self) -> &PgNode {
        self.leader
            .lock()
            .ok()
            .and_then(|g| *g)
            .and_then(|i| self.replicas.get(i))
            .unwrap_or(&self.primary)
    }

    pub(crate) fn is_promoted(&self, i: usize) -> bool {
        self.promoted
            .get(i)
            .and_then(|m| m.lock().ok().map(|g| *g))
            .unwrap_or(false)
    }

    /// Waits until the primary's `pg_stat_replication` shows replica `i` streaming.
    pub(crate) async fn wait_streaming(
        &self,
        i: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        let node = self.replica(i)?;
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            if let Some(e) = node.proc.exit_error(node.port) {
                return Err(e);
            }
            match connect(self.leader_node().port).await {
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

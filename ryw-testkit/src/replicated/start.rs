//! Starting a topology: the nodes' data, their servers, the proxies and replication.

use std::fs;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::{Engine, Node, READY_TIMEOUT, Replicated, Wire};
use crate::dirs::TopoDir;
use crate::error::TestkitError;
use crate::host::free_port;
use crate::proxy::DelayProxy;
use crate::supervisor::Proc;
use crate::topology::Topology;

/// How often a server whose port was taken meanwhile is moved to another before giving up.
const PORT_ATTEMPTS: u32 = 4;

impl<E: Engine> Replicated<E> {
    pub(super) async fn start_inner(n: usize) -> Result<Self, TestkitError> {
        let t0 = Instant::now();
        let engine = E::locate()?;
        let dir = TopoDir::create_in(&engine.base_dir())?;
        engine.adopt_dir(&dir.path)?;
        let node = |name: String, short: &str, server_id: u32| -> Result<Node, TestkitError> {
            let paths = engine.paths(&dir.path, short)?;
            Ok(Node::new(name, paths, server_id, free_port()?))
        };
        let primary = node(format!("{} primary", E::NAME), E::PRIMARY_DIR, 1)?;
        let replicas = (0..n)
            .map(|i| {
                let id = u32::try_from(i + 2).unwrap_or(u32::MAX);
                node(format!("{} replica {i}", E::NAME), &format!("r{i}"), id)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut topo = Replicated {
            engine,
            primary,
            replicas,
            proxies: Vec::new(),
            leader_proxy: None,
            promoted: (0..n).map(|_| AtomicBool::new(false)).collect(),
            leader: Mutex::new(None),
            started_in: Duration::ZERO,
            dir,
        };
        let first = if E::CLONES_FROM_PRIMARY { 1 } else { n + 1 };
        let nodes: Vec<&Node> = topo.nodes().take(first).collect();
        topo.engine.init(&topo, &nodes).await?;
        topo.boot(&nodes).await?;
        let t_first = t0.elapsed();
        let primary_port = topo.primary.port();
        topo.engine.setup_primary(primary_port).await?;
        for _ in 0..n {
            topo.proxies.push(DelayProxy::start(primary_port)?);
        }
        if E::LEADER_PROXY {
            topo.leader_proxy = Some(DelayProxy::start(primary_port)?);
        }
        if E::CLONES_FROM_PRIMARY {
            topo.engine.clone_replicas(&topo).await?;
            topo.boot(&topo.replicas.iter().collect::<Vec<_>>()).await?;
        }
        for (node, proxy) in topo.replicas.iter().zip(&topo.proxies) {
            topo.engine.follow(node, proxy.port()).await?;
        }
        for i in 0..n {
            topo.wait_replicating(i, READY_TIMEOUT).await?;
            topo.wait_caught_up(i, READY_TIMEOUT).await?;
        }
        topo.started_in = t0.elapsed();
        tracing::info!(
            replicas = n,
            first_servers_ms = t_first.as_millis(),
            total_ms = topo.started_in.as_millis(),
            dir = %topo.dir.path.display(),
            "{} topology started",
            E::NAME
        );
        Ok(topo)
    }

    /// Starts the servers of `nodes` for the first time, all at once, then waits for each.
    async fn boot(&self, nodes: &[&Node]) -> Result<(), TestkitError> {
        for node in nodes {
            self.engine.set_port(node)?;
            node.proc.set(self.spawn(node).await?);
        }
        for node in nodes {
            self.first_start(node).await?;
        }
        Ok(())
    }

    /// Waits for a server started for the first time, moving it to another port when its
    /// port was taken since it was picked.
    async fn first_start(&self, node: &Node) -> Result<(), TestkitError> {
        let mut attempt = 1;
        loop {
            let Some(p) = node.proc.take() else {
                return Err(TestkitError::InvalidState(format!(
                    "{} not started",
                    node.name
                )));
            };
            let res = self.wait_connectable(&p, node.port()).await;
            let exited = p.exited().is_some();
            node.proc.set(p);
            let Err(e) = res else { return Ok(()) };
            let log = fs::read_to_string(&node.log).unwrap_or_default();
            if attempt >= PORT_ATTEMPTS || !exited || !log.contains(E::PORT_TAKEN) {
                return Err(e);
            }
            attempt += 1;
            node.move_to(free_port()?);
            self.engine.set_port(node)?;
            node.proc.set(self.spawn(node).await?);
        }
    }

    /// Starts `node`'s server (its data exists), its pid recorded for a later run's cleanup.
    pub(super) async fn spawn(&self, node: &Node) -> Result<Proc, TestkitError> {
        let mut p = Proc::spawn(self.engine.server(node), &node.name, &node.out).await?;
        p.log = node.log.clone();
        self.dir.record_pid(p.pid);
        Ok(p)
    }

    /// Spawns a setup command (initdb, a base backup, an install) whose output goes to `log`,
    /// its pid recorded; `what` names it. Await it with [`Proc::finish`].
    pub(crate) async fn setup(
        &self,
        cmd: std::process::Command,
        what: &str,
        log: &std::path::Path,
    ) -> Result<Proc, TestkitError> {
        let p = Proc::spawn(cmd, what, log).await?;
        self.dir.record_pid(p.pid);
        Ok(p)
    }

    /// Waits until a server accepts connections (and runs queries), or exits, or time runs
    /// out.
    pub(super) async fn wait_connectable(&self, p: &Proc, port: u16) -> Result<(), TestkitError> {
        p.wait_until_ready(
            port,
            READY_TIMEOUT,
            "to accept connections",
            Duration::from_millis(10),
            || E::Wire::probe(port),
        )
        .await
    }
}

//! One replicated topology type for every database: a primary and N replicas, each behind a
//! delaying proxy, in one directory, with their processes and teardown. What differs per
//! database is its [`Engine`].

mod control;
mod engine;
mod node;
mod start;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) use engine::{Engine, Recovery, Wire};
pub(crate) use node::Node;

use crate::dirs::TopoDir;
use crate::error::TestkitError;
use crate::procfs::children_of;
use crate::proxy::DelayProxy;
use crate::runtime::on_testkit_rt;
use crate::sys;

/// How long a server may take to accept connections, or a replica to replicate.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a setup command (initdb, a base backup, an install) may take.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// A primary with N replicas of one database, each replica replicating through a delaying
/// proxy, on free loopback ports in one directory. Used as [`PgTopology`](crate::PgTopology),
/// [`MariaDbTopology`](crate::MariaDbTopology) or [`MysqlTopology`](crate::MysqlTopology).
/// Dropping it kills every server and removes its directory.
#[derive(Debug)]
pub struct Replicated<E> {
    pub(crate) engine: E,
    pub(crate) primary: Node,
    pub(crate) replicas: Vec<Node>,
    /// One per replica: the replica's way to its primary.
    pub(crate) proxies: Vec<DelayProxy>,
    /// A pass-through proxy to whichever node leads, where the engine keeps one.
    pub(crate) leader_proxy: Option<DelayProxy>,
    promoted: Vec<AtomicBool>,
    /// The replica that leads since a switchover (`None`: the original primary).
    pub(crate) leader: Mutex<Option<usize>>,
    started_in: Duration,
    dir: TopoDir,
}

impl<E: Engine> Replicated<E> {
    /// Starts a primary and `replicas` replicas (on the testkit's own runtime).
    pub async fn start(replicas: usize) -> Result<Self, TestkitError> {
        on_testkit_rt(Self::start_inner(replicas)).await
    }

    /// One topology per test process and replica count, started on first use and shared by
    /// every test of the binary. Its servers die with the process.
    pub async fn shared(replicas: usize) -> Result<&'static Self, TestkitError> {
        crate::shared::shared(replicas, Self::start, |t| &t.dir).await
    }
}

impl<E> Replicated<E> {
    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The topology's directory on the host (data dirs and logs).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// Every node, the primary first.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.primary).chain(self.replicas.iter())
    }

    pub(crate) fn replica(&self, i: usize) -> Result<&Node, TestkitError> {
        self.replicas.get(i).ok_or(TestkitError::NoSuchReplica {
            index: i,
            count: self.replicas.len(),
        })
    }

    /// The node that currently leads: the primary, or the replica a switchover promoted.
    pub(crate) fn leader_node(&self) -> &Node {
        self.leader
            .lock()
            .ok()
            .and_then(|g| *g)
            .and_then(|i| self.replicas.get(i))
            .unwrap_or(&self.primary)
    }

    /// Makes replica `i` the leader, and repoints the leader proxy (if any) at it.
    pub(crate) fn set_leader(&self, i: usize) {
        if let Ok(mut g) = self.leader.lock() {
            *g = Some(i);
        }
        if let (Some(proxy), Some(node)) = (&self.leader_proxy, self.replicas.get(i)) {
            proxy.set_upstream(node.port());
            proxy.cut();
        }
    }

    /// Fails once a switchover (or failover) made a replica the leader: one per topology.
    pub(crate) fn check_no_switchover(&self) -> Result<(), TestkitError> {
        if self.leader.lock().map(|g| g.is_some()).unwrap_or(true) {
            return Err(TestkitError::InvalidState(
                "this topology already switched over once".into(),
            ));
        }
        Ok(())
    }

    /// Whether replica `i` was promoted (it replicates no more).
    pub(crate) fn is_promoted(&self, i: usize) -> bool {
        self.promoted
            .get(i)
            .is_some_and(|p| p.load(Ordering::SeqCst))
    }

    /// Records that replica `i` was promoted.
    pub(crate) fn mark_promoted(&self, i: usize) {
        if let Some(p) = self.promoted.get(i) {
            p.store(true, Ordering::SeqCst);
        }
    }
}

impl<E> Drop for Replicated<E> {
    fn drop(&mut self) {
        // A Postgres server is a postmaster with one child per backend: kill those too.
        let mut children = Vec::new();
        for node in self.nodes() {
            if let Some(p) = node.proc.take() {
                children.extend(children_of(p.pid));
                p.kill_blocking();
            }
        }
        for c in &children {
            sys::kill(*c, sys::SIGKILL);
        }
        self.proxies.clear();
        self.leader_proxy = None;
        // `dir` is removed when its field is dropped.
    }
}

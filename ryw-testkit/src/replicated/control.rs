//! The shared [`Topology`] controls, and the restarts and waits behind them.

use std::time::{Duration, Instant};

use super::{Engine, Node, Recovery, Replicated, Wire};
use crate::error::TestkitError;
use crate::procfs::{children_of, wait_gone};
use crate::sys;
use crate::topology::Topology;

impl<E: Engine> Topology for Replicated<E> {
    fn primary_url(&self) -> String {
        E::Wire::url(self.leader_node().port())
    }

    fn replica_urls(&self) -> Vec<String> {
        self.replicas
            .iter()
            .map(|n| E::Wire::url(n.port()))
            .collect()
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
        let port = self.replica(replica)?.port();
        E::Wire::admin(port, E::PAUSE_REPLAY, E::PAUSE_REPLAY).await
    }

    async fn resume_replay(&self, replica: usize) -> Result<(), TestkitError> {
        let port = self.replica(replica)?.port();
        E::Wire::admin(port, E::RESUME_REPLAY, E::RESUME_REPLAY).await
    }

    async fn kill_replica(&self, replica: usize) -> Result<(), TestkitError> {
        kill_node(self.replica(replica)?).await;
        Ok(())
    }

    async fn restart_replica(&self, replica: usize) -> Result<(), TestkitError> {
        self.restart_node(self.replica(replica)?).await?;
        if self.is_promoted(replica) {
            return Ok(());
        }
        self.recover(replica, E::AFTER_REPLICA_RESTART).await
    }

    async fn restart_primary(&self) -> Result<(), TestkitError> {
        self.restart_primary_with(E::CLEAN_STOP).await
    }

    async fn wait_caught_up(&self, replica: usize, timeout: Duration) -> Result<(), TestkitError> {
        E::wait_applied(self, replica, timeout).await
    }

    async fn execute_on_primary(&self, sql: &str) -> Result<(), TestkitError> {
        E::Wire::execute(self.leader_node().port(), sql).await
    }
}

impl<E: Engine> Replicated<E> {
    /// Stops the leader with `sig`, starts it again and waits until the running replicas
    /// replicate again.
    pub(crate) async fn restart_primary_with(&self, sig: i32) -> Result<(), TestkitError> {
        let leader = self.leader_node();
        self.stop_node(leader, sig).await;
        self.restart_node(leader).await?;
        for i in 0..self.replicas.len() {
            if self.replicas[i].proc.running() && !self.is_promoted(i) {
                self.recover(i, E::AFTER_PRIMARY_RESTART).await?;
            }
        }
        Ok(())
    }

    /// Stops `node` with `sig` (bounded: SIGKILL after 30 s), then kills what is left of its
    /// children.
    pub(crate) async fn stop_node(&self, node: &Node, sig: i32) {
        let Some(p) = node.proc.take() else { return };
        let children = children_of(p.pid);
        E::before_stop(node.port()).await;
        p.signal(sig);
        if p.wait_exit(Duration::from_secs(30)).await.is_none() {
            p.kill().await;
        }
        for c in &children {
            sys::kill(*c, sys::SIGKILL);
        }
        wait_gone(&children, Duration::from_secs(10)).await;
    }

    /// Starts `node` again on its port and data (killing it first if it runs).
    async fn restart_node(&self, node: &Node) -> Result<(), TestkitError> {
        kill_node(node).await;
        let p = self.spawn(node).await?;
        let res = self.wait_connectable(&p, node.port()).await;
        node.proc.set(p);
        res
    }

    /// Brings replica `i` back to replicating as `how` says; the error then carries what the
    /// server said.
    async fn recover(&self, i: usize, how: Recovery) -> Result<(), TestkitError> {
        let mut last = match self.wait_replicating(i, how.patience).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let Some(restart) = how.restart else {
            return Err(last);
        };
        let port = self.replica(i)?.port();
        for attempt in 1..=how.retries {
            tracing::warn!(replica = i, attempt, error = %last, "restarting replication");
            E::Wire::admin(port, restart, restart).await?;
            match self.wait_replicating(i, how.retry_patience).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Waits until replica `i` replicates from the leader.
    pub(crate) async fn wait_replicating(
        &self,
        i: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        let node = self.replica(i)?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = node.proc.exit_error(node.port()) {
                return Err(e);
            }
            let last = match E::replication_state(self, i).await {
                Ok(None) => return Ok(()),
                Ok(Some(state)) => state,
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(node.timed_out(
                    E::REPLICATING.into(),
                    timeout,
                    format!(" (last: {last})"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// SIGKILLs `node` and its children (a Postgres postmaster's backends) and reaps it.
async fn kill_node(node: &Node) {
    if let Some(p) = node.proc.take() {
        let children = children_of(p.pid);
        p.kill().await;
        for c in &children {
            sys::kill(*c, sys::SIGKILL);
        }
        wait_gone(&children, Duration::from_secs(10)).await;
    }
}

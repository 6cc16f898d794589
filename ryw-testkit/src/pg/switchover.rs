//! A planned Postgres failover: promote a replica, repoint the others, stop the old primary.

use std::time::{Duration, Instant};

use super::{PgTopology, connect, pg_err};
use crate::procfs::{children_of, wait_gone};
use crate::{TestkitError, Topology, sys};

/// How long each step of a switchover may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

impl PgTopology {
    /// A libpq multi-host URL over every node (the original primary first) with
    /// `target_session_attrs=read-write`: a client pool built on it reaches whichever node
    /// leads, before and after a [`switchover`](Self::switchover).
    pub fn leader_url(&self) -> String {
        let hosts: Vec<String> = std::iter::once(&self.primary)
            .chain(self.replicas.iter())
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!(
            "postgres://postgres@{}/postgres?target_session_attrs=read-write&connect_timeout=2",
            hosts.join(",")
        )
    }

    /// Whether `replica` still replicates (false once promoted).
    pub fn is_replica(&self, replica: usize) -> bool {
        replica < self.replicas.len() && !self.is_promoted(replica)
    }

    /// A planned failover that loses no write: removes `replica`'s lag, lets it catch up,
    /// stops the primary cleanly, waits until `replica` replayed the primary's shutdown
    /// checkpoint, promotes it (a new timeline), and repoints every other running replica at
    /// it (they follow the new timeline). Afterwards [`Topology::primary_url`] and every
    /// primary control act on the new leader; the old primary stays stopped; fault controls
    /// on `replica` fail with [`TestkitError::InvalidState`]. One switchover per topology.
    pub async fn switchover(&self, replica: usize) -> Result<(), TestkitError> {
        self.check_can_hand_over(replica)?;
        self.set_lag(replica, Duration::ZERO).await?;
        self.wait_caught_up(replica, STEP_TIMEOUT).await?;
        if let Some(p) = self.primary.proc.take() {
            let backends = children_of(p.pid);
            p.signal(sys::SIGINT); // fast shutdown: writes the shutdown checkpoint and ships it
            if p.wait_exit(STEP_TIMEOUT).await.is_none() {
                p.kill().await;
            }
            wait_gone(&backends, Duration::from_secs(10)).await;
        }
        let end = self.shutdown_checkpoint().await?;
        self.wait_replayed_past(replica, &end).await?;
        self.hand_over(replica, false, STEP_TIMEOUT).await?;
        tracing::info!(replica, "postgres switchover done");
        Ok(())
    }

    /// One switchover or failover per topology, to a replica that still replicates.
    pub(super) fn check_can_hand_over(&self, replica: usize) -> Result<(), TestkitError> {
        if self.leader.lock().map(|g| g.is_some()).unwrap_or(true) {
            return Err(TestkitError::InvalidState(
                "this topology already switched over once".into(),
            ));
        }
        if !self.is_replica(replica) {
            return Err(TestkitError::InvalidState(format!(
                "replica {replica} does not replicate"
            )));
        }
        Ok(())
    }

    /// Promotes `replica`, makes it the leader, repoints every other replica's proxy at it
    /// (cutting their current relays first when `cut`), and waits until they stream from it.
    pub(super) async fn hand_over(
        &self,
        replica: usize,
        cut: bool,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        self.promote(replica).await?;
        if let Ok(mut g) = self.leader.lock() {
            *g = Some(replica);
        }
        let port = self.replicas[replica].port;
        for (i, proxy) in self.proxies.iter().enumerate() {
            if i != replica {
                proxy.set_upstream(port);
                if cut {
                    proxy.cut();
                }
            }
        }
        for i in 0..self.replicas.len() {
            if i != replica && self.replicas[i].proc.running() && !self.is_promoted(i) {
                self.wait_streaming(i, timeout).await?;
            }
        }
        Ok(())
    }

    /// The stopped primary's last checkpoint location, from `pg_controldata`.
    async fn shutdown_checkpoint(&self) -> Result<String, TestkitError> {
        let mut cmd = self.env.command("pg_controldata");
        cmd.arg("-D").arg(&self.primary.data);
        let out = tokio::time::timeout(STEP_TIMEOUT, tokio::process::Command::from(cmd).output())
            .await
            .map_err(|_| TestkitError::InvalidState("pg_controldata did not finish".into()))?
            .map_err(|e| TestkitError::io("run pg_controldata", e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("Latest checkpoint location:"))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| {
                TestkitError::InvalidState(format!(
                    "pg_controldata printed no checkpoint location: {text}"
                ))
            })
    }

    /// Waits until `replica` replayed beyond `lsn` (bounded).
    async fn wait_replayed_past(&self, replica: usize, lsn: &str) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        let c = connect(node.port).await?;
        loop {
            let past: bool = c
                .query_one(
                    "SELECT coalesce(pg_last_wal_replay_lsn() > $1::text::pg_lsn, false)",
                    &[&lsn],
                )
                .await
                .map_err(pg_err(node.port, "pg_last_wal_replay_lsn()"))?
                .get(0);
            if past {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: format!(
                        "{} to replay the old primary's shutdown checkpoint",
                        node.name
                    ),
                    port: node.port,
                    timeout: STEP_TIMEOUT,
                    log: node.log.clone(),
                    detail: format!(" (checkpoint at {lsn})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

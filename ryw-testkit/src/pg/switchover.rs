//! A planned Postgres failover: promote a replica, repoint the others, stop the old primary.

use std::time::{Duration, Instant};

use super::PgTopology;
use super::conn::{connect, pg_err};
use crate::error::TestkitError;
use crate::sys;
use crate::topology::Topology;

/// How long each step of a switchover may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

impl PgTopology {
    /// A libpq multi-host URL over every node (the original primary first) with
    /// `target_session_attrs=read-write`: a client pool built on it reaches whichever node
    /// leads, before and after a [`switchover`](Self::switchover).
    pub fn leader_url(&self) -> String {
        let hosts: Vec<String> = std::iter::once(&self.primary)
            .chain(self.replicas.iter())
            .map(|n| format!("127.0.0.1:{}", n.port()))
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
        // Fast shutdown: writes the shutdown checkpoint and ships it.
        self.stop_node(&self.primary, sys::SIGINT).await;
        let end = self.shutdown_checkpoint().await?;
        self.wait_replayed_past(replica, &end).await?;
        self.hand_over(replica, false, STEP_TIMEOUT).await?;
        tracing::info!(replica, "postgres switchover done");
        Ok(())
    }

    /// The stopped primary's last checkpoint location, from `pg_controldata`.
    async fn shutdown_checkpoint(&self) -> Result<String, TestkitError> {
        let mut cmd = self.engine.command("pg_controldata");
        cmd.arg("-D").arg(&self.primary.home);
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
        let c = connect(node.port()).await?;
        loop {
            let past: bool = c
                .query_one(
                    "SELECT coalesce(pg_last_wal_replay_lsn() > $1::text::pg_lsn, false)",
                    &[&lsn],
                )
                .await
                .map_err(pg_err(node.port(), "pg_last_wal_replay_lsn()"))?
                .get(0);
            if past {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(node.timed_out(
                    "to replay the old primary's shutdown checkpoint".into(),
                    STEP_TIMEOUT,
                    format!(" (checkpoint at {lsn})"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

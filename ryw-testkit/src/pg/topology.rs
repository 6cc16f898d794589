//! The shared [`Topology`] controls on Postgres.

use std::time::{Duration, Instant};

use super::{PgNode, PgTopology, READY_TIMEOUT, connect, pg_err};
use crate::{TestkitError, Topology, sys};

impl Topology for PgTopology {
    fn primary_url(&self) -> String {
        self.leader_node().url()
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
        self.restart_primary_with(sys::SIGINT).await // fast shutdown
    }

    async fn wait_caught_up(&self, replica: usize, timeout: Duration) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        let deadline = Instant::now() + timeout;
        let leader = self.leader_node().port;
        let target: String = connect(leader)
            .await?
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .map_err(pg_err(leader, "pg_current_wal_lsn()"))?
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
        let port = self.leader_node().port;
        connect(port)
            .await?
            .batch_execute(sql)
            .await
            .map_err(pg_err(port, "execute on primary"))
    }
}

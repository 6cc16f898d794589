//! The shared [`Topology`] controls on MySQL.

use super::*;
use crate::{Topology, sys};

impl Topology for MysqlTopology {
    fn primary_url(&self) -> String {
        self.leader_node().url()
    }

    fn replica_urls(&self) -> Vec<String> {
        self.replicas.iter().map(MysqlNode::url).collect()
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
        exec(port, "STOP REPLICA SQL_THREAD", "STOP REPLICA SQL_THREAD").await
    }

    async fn resume_replay(&self, replica: usize) -> Result<(), TestkitError> {
        let port = self.replica(replica)?.port;
        exec(port, "START REPLICA SQL_THREAD", "START REPLICA SQL_THREAD").await
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
        self.ensure_replicating(replica).await
    }

    async fn restart_primary(&self) -> Result<(), TestkitError> {
        self.restart_primary_with(sys::SIGTERM).await // clean shutdown
    }

    async fn wait_caught_up(&self, replica: usize, timeout: Duration) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        let lport = self.leader_node().port;
        let mut c = connect(lport).await?;
        let executed: Option<String> = c
            .query_first("SELECT @@GLOBAL.gtid_executed")
            .await
            .map_err(my_err(lport, "SELECT @@GLOBAL.gtid_executed"))?;
        let _ = c.disconnect().await;
        let executed = executed.unwrap_or_default();
        let timeout_err = |detail: String| TestkitError::Timeout {
            what: format!("{} to apply {executed}", node.name),
            port: node.port,
            timeout,
            log: node.log(),
            detail,
        };
        let wait = async {
            let mut c = connect(node.port).await?;
            let r: Option<Option<i64>> = c
                .exec_first(
                    "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)",
                    (&executed, timeout.as_secs_f64()),
                )
                .await
                .map_err(my_err(node.port, "WAIT_FOR_EXECUTED_GTID_SET"))?;
            let _ = c.disconnect().await;
            Ok::<_, TestkitError>(r.flatten())
        };
        match tokio::time::timeout(timeout + Duration::from_secs(2), wait).await {
            Ok(Ok(Some(0))) => Ok(()),
            Ok(Ok(other)) => Err(timeout_err(format!(
                " (WAIT_FOR_EXECUTED_GTID_SET returned {other:?})"
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(timeout_err(String::new())),
        }
    }

    async fn execute_on_primary(&self, sql: &str) -> Result<(), TestkitError> {
        let port = self.leader_node().port;
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

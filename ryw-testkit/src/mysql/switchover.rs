//! A planned MySQL switchover: promote a replica, repoint the others, stop the old primary.

use super::*;
use crate::{Topology, sys};

impl MysqlTopology {
    /// A planned switchover that loses no write: removes `replica`'s lag, fences writes on the
    /// primary (`super_read_only`: a write after this point fails, it is never acknowledged
    /// and then lost), waits until `replica` applied everything the primary executed, stops
    /// the primary cleanly, makes `replica` a writable leader (replication reset,
    /// `super_read_only` off), and repoints every other running replica at it (GTID
    /// auto-position picks up where each stopped). Afterwards [`Topology::primary_url`] and
    /// the primary controls act on the new leader. One switchover per topology.
    pub async fn switchover(&self, replica: usize) -> Result<(), TestkitError> {
        if self.leader.lock().map(|g| g.is_some()).unwrap_or(true) {
            return Err(TestkitError::InvalidState(
                "this topology already switched over once".into(),
            ));
        }
        let node = self.replica(replica)?;
        self.set_lag(replica, Duration::ZERO).await?;
        exec(
            self.primary.port,
            "SET GLOBAL super_read_only = ON",
            "fence writes on the old primary",
        )
        .await?;
        self.wait_caught_up(replica, READY_TIMEOUT).await?;
        if let Some(p) = self.primary.proc.take() {
            end_binlog_dumps(self.primary.port).await;
            p.signal(sys::SIGTERM);
            if p.wait_exit(Duration::from_secs(30)).await.is_none() {
                p.kill().await;
            }
        }
        node.write_init(false)?;
        exec(
            node.port,
            "STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = OFF; \
             SET GLOBAL read_only = OFF",
            "promote",
        )
        .await?;
        if let Ok(mut g) = self.leader.lock() {
            *g = Some(replica);
        }
        self.leader_proxy.set_upstream(node.port);
        self.leader_proxy.cut();
        for (i, proxy) in self.proxies.iter().enumerate() {
            if i == replica {
                continue;
            }
            proxy.set_upstream(node.port);
            proxy.cut();
            if self.replicas[i].proc.running() {
                exec(
                    self.replicas[i].port,
                    "STOP REPLICA; START REPLICA",
                    "restart replication",
                )
                .await?;
                self.wait_replicating(i, READY_TIMEOUT).await?;
            }
        }
        tracing::info!(replica, port = node.port, "mysql switchover done");
        Ok(())
    }
}

//! The MySQL leader: its version, and a planned switchover (promote a replica, repoint the
//! others, stop the old primary).

use std::time::Duration;

use super::{Mysql, MysqlTopology};
use crate::error::TestkitError;
use crate::mysql_family::{Dialect, exec, query_first};
use crate::replicated::READY_TIMEOUT;
use crate::sys;
use crate::topology::Topology;

impl MysqlTopology {
    /// The server version of the primary (`SELECT VERSION()`).
    pub async fn version(&self) -> Result<String, TestkitError> {
        let port = self.leader_node().port();
        let v: Option<String> = query_first(port, "SELECT VERSION()").await?;
        Ok(v.unwrap_or_default())
    }

    /// A planned switchover that loses no write: removes `replica`'s lag, fences writes on the
    /// primary (`super_read_only`: a write after this point fails, it is never acknowledged
    /// and then lost), waits until `replica` applied everything the primary executed, stops
    /// the primary cleanly, makes `replica` a writable leader (replication reset,
    /// `super_read_only` off), and repoints every other running replica at it (GTID
    /// auto-position picks up where each stopped). Afterwards [`Topology::primary_url`] and
    /// the primary controls act on the new leader. One switchover per topology.
    pub async fn switchover(&self, replica: usize) -> Result<(), TestkitError> {
        self.check_no_switchover()?;
        let node = self.replica(replica)?;
        self.set_lag(replica, Duration::ZERO).await?;
        exec(
            self.primary.port(),
            "SET GLOBAL super_read_only = ON",
            "fence writes on the old primary",
        )
        .await?;
        self.wait_caught_up(replica, READY_TIMEOUT).await?;
        self.stop_node(&self.primary, sys::SIGTERM).await;
        self.engine.promoted(node)?;
        exec(node.port(), <Mysql as Dialect>::PROMOTE, "promote").await?;
        self.mark_promoted(replica);
        self.set_leader(replica);
        for (i, proxy) in self.proxies.iter().enumerate() {
            if i == replica {
                continue;
            }
            proxy.set_upstream(node.port());
            proxy.cut();
            if self.replicas[i].proc.running() {
                exec(
                    self.replicas[i].port(),
                    "STOP REPLICA; START REPLICA",
                    "restart replication",
                )
                .await?;
                self.wait_replicating(i, READY_TIMEOUT).await?;
            }
        }
        tracing::info!(replica, port = node.port(), "mysql switchover done");
        Ok(())
    }
}

//! Promoting a Postgres replica, alone or as the new leader of a switchover or failover.

use std::time::Duration;

use super::PgTopology;
use super::conn::{connect, pg_err};
use crate::error::TestkitError;

impl PgTopology {
    /// Promotes replica `replica` to a primary (`pg_promote()`), on a new timeline. The other
    /// replicas keep following the old primary. The promoted node stays reachable at
    /// `replica_urls()[replica]` and is writable.
    pub async fn promote(&self, replica: usize) -> Result<(), TestkitError> {
        let node = self.replica(replica)?;
        let c = connect(node.port()).await?;
        let ok: bool = c
            .query_one("SELECT pg_promote(true, 60)", &[])
            .await
            .map_err(pg_err(node.port(), "pg_promote()"))?
            .get(0);
        if !ok {
            return Err(TestkitError::InvalidState(format!(
                "pg_promote() on {} (port {}) returned false; log {}",
                node.name,
                node.port(),
                node.log.display()
            )));
        }
        self.mark_promoted(replica);
        Ok(())
    }

    /// One switchover or failover per topology, to a replica that still replicates.
    pub(super) fn check_can_hand_over(&self, replica: usize) -> Result<(), TestkitError> {
        self.check_no_switchover()?;
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
        self.set_leader(replica);
        let port = self.replicas[replica].port();
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
                self.wait_replicating(i, timeout).await?;
            }
        }
        Ok(())
    }
}

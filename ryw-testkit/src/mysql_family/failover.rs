//! Leader changes shared by MySQL and MariaDB: the URL that follows the leader, and an
//! unplanned failover that loses writes (a planned MySQL switchover is in `mysql`).

use super::{Dialect, MysqlWire, exec};
use crate::error::TestkitError;
use crate::replicated::{READY_TIMEOUT, Replicated, Wire};
use crate::sys;

impl<D: Dialect> Replicated<D> {
    /// A URL that reaches whichever node leads, before and after a switchover or
    /// [`failover`](Self::failover): a pass-through proxy repointed (its connections cut) by
    /// either, as a virtual IP or a MySQL Router would be. MySQL URLs name one host.
    pub fn leader_url(&self) -> String {
        let port = self
            .leader_proxy
            .as_ref()
            .map_or_else(|| self.leader_node().port(), |p| p.port());
        MysqlWire::url(port)
    }

    /// An unplanned failover that loses writes: SIGKILLs the primary (no fence, no final
    /// sync), cuts every replication connection so the binlog events still held back by the
    /// lag never arrive (a partition), promotes `replica` with what it had applied
    /// (replication reset, writable) and repoints every other running replica at it. A write
    /// acknowledged by the old primary but not applied by `replica` is lost: its GTID names
    /// the old primary and the new leader never executes it. Give the other replicas at least
    /// `replica`'s lag, so none holds a GTID the new leader lacks (GTID auto-position would
    /// refuse it). One switchover or failover per topology.
    pub async fn failover(&self, replica: usize) -> Result<(), TestkitError> {
        self.check_no_switchover()?;
        let node = self.replica(replica)?;
        self.stop_node(&self.primary, sys::SIGKILL).await;
        for proxy in &self.proxies {
            proxy.cut();
        }
        exec(node.port(), D::PROMOTE, "promote").await?;
        self.engine.promoted(node)?;
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
                    D::RESTART_REPLICATION,
                    "restart replication",
                )
                .await?;
                self.wait_replicating(i, READY_TIMEOUT).await?;
            }
        }
        tracing::info!(
            replica,
            port = node.port(),
            engine = D::NAME,
            "lossy failover done"
        );
        Ok(())
    }
}

//! Leader changes shared by MySQL and MariaDB: the URL that follows the leader, and an
//! unplanned failover that loses writes (a planned MySQL switchover is in `mysql`).

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::{Dialect, MysqlWire, connect, exec, my_err};
use crate::replicated::Node;

/// How long a promoted replica may take to apply what it had received.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);
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
    /// lag never arrive (a partition), lets `replica` apply what it had received (as a
    /// failover tool does: the other replicas received no more, so they can follow it),
    /// promotes it
    /// (replication reset, writable) and repoints every other running replica at it, its lag
    /// removed (set it again afterwards). A write
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
        self.apply_received(node).await?;
        exec(node.port(), D::PROMOTE, "promote").await?;
        self.engine.promoted(node)?;
        self.mark_promoted(replica);
        self.set_leader(replica);
        for (i, proxy) in self.proxies.iter().enumerate() {
            if i == replica {
                continue;
            }
            // Repointed without lag: a replication handshake of several round trips through
            // a lagging proxy can outlast the server's connect timeout.
            proxy.set_lag(Duration::ZERO);
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

    /// Stops `node`'s receiver and waits (bounded) until it applied everything it received.
    async fn apply_received(&self, node: &Node) -> Result<(), TestkitError> {
        let port = node.port();
        exec(port, D::STOP_RECEIVER, "stop the receiver").await?;
        let received = D::received(port).await?;
        let mut c = connect(port).await?;
        let waited: Option<Option<i64>> = c
            .exec_first(
                format!("SELECT {}(?, ?)", D::GTID.function),
                (&received, APPLY_TIMEOUT.as_secs_f64()),
            )
            .await
            .map_err(my_err(port, D::GTID.function))?;
        let _ = c.disconnect().await;
        if waited.flatten() == Some(0) {
            return Ok(());
        }
        Err(node.timed_out(
            format!("to apply what it received ({received})"),
            APPLY_TIMEOUT,
            String::new(),
        ))
    }
}

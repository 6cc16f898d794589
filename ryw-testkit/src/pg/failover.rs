//! An unplanned Postgres failover: the primary dies, a lagging replica is promoted with what it
//! had received, and the writes it had not are lost.

use std::time::Duration;

use super::PgTopology;
use crate::error::TestkitError;

/// How long the other replicas may take to follow the new leader.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(30);

impl PgTopology {
    /// An unplanned failover that loses writes: SIGKILLs the primary and its backends (no
    /// shutdown checkpoint), cuts every replication connection so the WAL still held back by
    /// the lag never arrives (a partition), promotes `replica` with what it had received (a
    /// new timeline whose switch point is that replica's end of WAL), and repoints every other
    /// running replica at it. A write acknowledged by the old primary but not received by
    /// `replica` is lost. Give the other replicas at least `replica`'s lag, so none received
    /// past the switch point (such a replica cannot follow the new timeline, and this returns
    /// [`TestkitError::Timeout`] naming it). One switchover or failover per topology.
    pub async fn failover(&self, replica: usize) -> Result<(), TestkitError> {
        self.check_can_hand_over(replica)?;
        self.stop_node(&self.primary, crate::sys::SIGKILL).await;
        for proxy in &self.proxies {
            proxy.cut();
        }
        self.hand_over(replica, true, FOLLOW_TIMEOUT).await?;
        tracing::info!(replica, "postgres failover done");
        Ok(())
    }
}

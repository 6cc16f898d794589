//! What differs per backend for the nemesis: the leader's URL and the leader changes.

use std::future::Future;

use ryw_testkit::{Faults, MariaDbTopology, MysqlTopology, PgTopology, TestkitError};

use crate::nemesis::FaultKind;

/// A topology the nemesis can break: the testkit controls plus what differs per backend.
pub trait FaultTarget: Faults {
    /// The leader change proof runs make (once per topology; `None`: none).
    const LEADER_CHANGE: Option<FaultKind> = Some(FaultKind::LossyFailover);
    /// The URL app instances use for the leader (one that follows a switchover or a
    /// failover, where the backend has one).
    fn leader_url(&self) -> String {
        self.primary_url()
    }
    /// A planned failover to `replica`.
    fn switchover(&self, replica: usize) -> impl Future<Output = Result<(), TestkitError>> + Send;
    /// An unplanned failover to `replica` that loses what it had not received.
    fn failover(&self, replica: usize) -> impl Future<Output = Result<(), TestkitError>> + Send;
}

impl FaultTarget for PgTopology {
    fn leader_url(&self) -> String {
        PgTopology::leader_url(self)
    }

    fn switchover(&self, replica: usize) -> impl Future<Output = Result<(), TestkitError>> + Send {
        PgTopology::switchover(self, replica)
    }

    fn failover(&self, replica: usize) -> impl Future<Output = Result<(), TestkitError>> + Send {
        PgTopology::failover(self, replica)
    }
}

impl FaultTarget for MariaDbTopology {
    fn leader_url(&self) -> String {
        MariaDbTopology::leader_url(self)
    }

    async fn switchover(&self, _replica: usize) -> Result<(), TestkitError> {
        Err(TestkitError::InvalidState(
            "the MariaDB testkit topology has no planned switchover".into(),
        ))
    }

    fn failover(&self, replica: usize) -> impl Future<Output = Result<(), TestkitError>> + Send {
        MariaDbTopology::failover(self, replica)
    }
}

impl FaultTarget for MysqlTopology {
    fn leader_url(&self) -> String {
        MysqlTopology::leader_url(self)
    }

    fn switchover(&self, replica: usize) -> impl Future<Output = Result<(), TestkitError>> + Send {
        MysqlTopology::switchover(self, replica)
    }

    fn failover(&self, replica: usize) -> impl Future<Output = Result<(), TestkitError>> + Send {
        MysqlTopology::failover(self, replica)
    }
}

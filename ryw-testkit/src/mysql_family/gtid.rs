//! Waiting for a replica to apply the leader's GTIDs, as MariaDB and MySQL both can.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::wire::{connect, my_err, query_first};
use crate::error::TestkitError;
use crate::replicated::{Engine, Replicated};

/// How a database says what its leader executed and waits for it on a replica.
pub struct GtidWait {
    /// Reads the leader's executed GTIDs (`SELECT @@gtid_binlog_pos`).
    pub(crate) position: &'static str,
    /// The waiting function, called with the GTIDs and a timeout in seconds: 0 when reached.
    pub(crate) function: &'static str,
}

impl GtidWait {
    /// Waits until `replica` applied what the leader had executed when this was called;
    /// fails with [`TestkitError::Timeout`] after `timeout`.
    pub(crate) async fn wait<E: Engine>(
        &self,
        topo: &Replicated<E>,
        replica: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        let node = topo.replica(replica)?;
        let leader = topo.leader_node().port();
        let executed: Option<String> = query_first(leader, self.position).await?;
        let executed = executed.unwrap_or_default();
        let port = node.port();
        let timeout_err =
            |detail: String| node.timed_out(format!("to apply {executed}"), timeout, detail);
        let wait = async {
            let mut c = connect(port).await?;
            let r: Option<Option<i64>> = c
                .exec_first(
                    format!("SELECT {}(?, ?)", self.function),
                    (&executed, timeout.as_secs_f64()),
                )
                .await
                .map_err(my_err(port, self.function))?;
            let _ = c.disconnect().await;
            Ok::<_, TestkitError>(r.flatten())
        };
        match tokio::time::timeout(timeout + Duration::from_secs(2), wait).await {
            Ok(Ok(Some(0))) => Ok(()),
            Ok(Ok(other)) => Err(timeout_err(format!(
                " ({} returned {other:?})",
                self.function
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(timeout_err(String::new())),
        }
    }
}

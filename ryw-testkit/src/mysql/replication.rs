//! Where a MySQL replica's replication stands, and ending a leader's replication and client
//! connections before it stops.

use mysql_async::prelude::Queryable;

use crate::error::TestkitError;
use crate::mysql_family::{connect, kill_client_connections, my_err};

/// Ends the server's binlog dump threads and client connections just before a clean
/// shutdown, which disconnects them anyway but otherwise waits about 8 s for them to notice
/// (measured on MySQL 9.7; a replication heartbeat of 1 s did not shorten it). Replicas and
/// pools reconnect on their own.
pub(super) async fn end_binlog_dumps(port: u16) {
    let _ = kill_client_connections(port).await;
    let Ok(mut c) = connect(port).await else {
        return;
    };
    let ids: Vec<u64> = c
        .query(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')",
        )
        .await
        .unwrap_or_default();
    for id in ids {
        let _ = c.query_drop(format!("KILL CONNECTION {id}")).await;
    }
    let _ = c.disconnect().await;
}

/// `None` when the default channel's receiver and applier both run, else their service
/// states (`receiver/applier`) and why a thread is off, as the server says.
pub(super) async fn state(port: u16) -> Result<Option<String>, TestkitError> {
    let mut c = connect(port).await?;
    let state: Option<String> = c
        .query_first(
            "SELECT CONCAT(c.SERVICE_STATE, '/', a.SERVICE_STATE) \
             FROM performance_schema.replication_connection_status c \
             JOIN performance_schema.replication_applier_status a USING (CHANNEL_NAME)",
        )
        .await
        .map_err(my_err(port, "replication status"))?;
    let state = state.unwrap_or_else(|| "none/none".into());
    if state == "ON/ON" {
        let _ = c.disconnect().await;
        return Ok(None);
    }
    // Why a thread is off, as the server says (receiver, coordinator, workers).
    let errors: Vec<String> = c
        .query(
            "SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) \
             FROM performance_schema.replication_connection_status WHERE LAST_ERROR_NUMBER <> 0 \
             UNION ALL SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) \
             FROM performance_schema.replication_applier_status_by_coordinator WHERE LAST_ERROR_NUMBER <> 0 \
             UNION ALL SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) \
             FROM performance_schema.replication_applier_status_by_worker WHERE LAST_ERROR_NUMBER <> 0",
        )
        .await
        .unwrap_or_default();
    let _ = c.disconnect().await;
    if errors.is_empty() {
        Ok(Some(format!("receiver/applier {state}")))
    } else {
        Ok(Some(format!(
            "receiver/applier {state} ({})",
            errors.join("; ")
        )))
    }
}

//! Where a Postgres replica stands: streaming from the leader, and replayed up to an LSN.

use std::time::{Duration, Instant};

use super::PgTopology;
use super::conn::{connect, pg_err};
use crate::error::TestkitError;

/// `None` when the leader's `pg_stat_replication` shows replica `i` streaming, else its state.
pub(super) async fn streaming_state(
    topo: &PgTopology,
    i: usize,
) -> Result<Option<String>, TestkitError> {
    let port = topo.leader_node().port();
    let row = connect(port)
        .await?
        .query_opt(
            "SELECT state FROM pg_stat_replication WHERE application_name = $1",
            &[&format!("r{i}")],
        )
        .await
        .map_err(pg_err(port, "pg_stat_replication"))?;
    Ok(match row {
        Some(row) => {
            let state: Option<String> = row.get(0);
            (state.as_deref() != Some("streaming")).then(|| format!("state {state:?}"))
        }
        None => Some("not in pg_stat_replication".into()),
    })
}

/// Waits until `replica` has replayed everything the leader had written when this was
/// called; fails with [`TestkitError::Timeout`] after `timeout`.
pub(super) async fn wait_replayed(
    topo: &PgTopology,
    replica: usize,
    timeout: Duration,
) -> Result<(), TestkitError> {
    let node = topo.replica(replica)?;
    let port = node.port();
    let deadline = Instant::now() + timeout;
    let leader = topo.leader_node().port();
    let target: String = connect(leader)
        .await?
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .map_err(pg_err(leader, "pg_current_wal_lsn()"))?
        .get(0);
    let timeout_err =
        |detail: String| node.timed_out(format!("to replay up to {target}"), timeout, detail);
    let mut last;
    loop {
        let res = async {
            let c = connect(port).await?;
            loop {
                let row = c
                    .query_one(
                        "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false), \
                         coalesce(pg_last_wal_replay_lsn()::text, 'NULL')",
                        &[&target],
                    )
                    .await
                    .map_err(pg_err(port, "pg_last_wal_replay_lsn()"))?;
                if row.get::<_, bool>(0) {
                    return Ok::<(), TestkitError>(());
                }
                if Instant::now() >= deadline {
                    return Err(timeout_err(format!(
                        " (replayed: {})",
                        row.get::<_, String>(1)
                    )));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        .await;
        match res {
            Ok(()) => return Ok(()),
            Err(e @ TestkitError::Timeout { .. }) => return Err(e),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(timeout_err(format!(" (last: {last})")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

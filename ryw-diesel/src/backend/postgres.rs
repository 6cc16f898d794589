use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ryw_core::position::Lsn;
use ryw_core::{ClusterId, EpochHistory, Family, Position, PositionKind};

use super::pg_commit::{CaptureRow, capture_row};
use super::pg_timeline::{history_file, parse_history, timeline_of_walfile};
use super::{Captured, ReplicaPosition, ReplicationBackend};
use crate::Error;

/// WAL page size: PostgreSQL's `XLOG_BLCKSZ` (fixed at compile time; 8 KiB in every
/// distribution build).
const WAL_PAGE: u64 = 8192;
/// `SizeOfXLogShortPHD`: the header at the start of every WAL page.
const SHORT_PAGE_HEADER: u64 = 24;
/// `SizeOfXLogLongPHD`: the header at the start of every WAL segment.
const LONG_PAGE_HEADER: u64 = 40;
/// Default WAL segment size, used until the leader told us its own.
const DEFAULT_SEGMENT: u64 = 16 * 1024 * 1024;

/// The PostgreSQL backend: LSN fences on `AsyncPgConnection`.
///
/// * Capture: `pg_current_wal_insert_lsn()` on the writing connection after COMMIT, sent
///   with the COMMIT in one round trip (pipelined: `pg_commit.rs`). The insert
///   position is at or past the end of the session's commit record even with
///   `synchronous_commit = off` (where `pg_current_wal_lsn()` can sit before it). When a commit
///   ends exactly on a page boundary the insert position points past the next page's header,
///   which a replica never reports as replayed on an idle leader; such positions are normalised
///   back to the boundary (no record can end inside a page header, so nothing is lost).
/// * Leader position (lag figures, recapturing a lost capture, fencing a write without one):
///   the same insert position, read on any leader connection.
/// * Replica position: `pg_last_wal_replay_lsn()`; a node with `pg_is_in_recovery() = false` is
///   not a replica.
/// * Cluster identity: `pg:<system_identifier>`, shared by a leader, its physical replicas
///   and whichever of them is promoted later, so that a floor from another cluster (LSNs of a
///   new cluster restart near `0/3000000`) is never used as a fence here. The timeline is not
///   part of it: a failover is an epoch of the same cluster, the LSN space continues across a
///   promotion, and a floor written before it stays a valid fence after it — for every router,
///   whether it lived through the failover or started after it. (A floor beyond the new
///   timeline's switch point is a write the failover lost; a fence cannot bring it back.)
/// * Epoch: the leader's timeline, read with every capture (from `pg_walfile_name`, in the
///   same round trip). The history of a new timeline comes from its `pg_wal/<tli>.history`
///   file through `pg_read_file`, which needs superuser or the `pg_read_server_files` role:
///   without it floors of earlier timelines stay fences and lost writes are not detected
///   (logged once at `warn`).
/// * No server-side wait before PostgreSQL 19: the router waits on its trackers.
#[derive(Debug, Clone, Default)]
pub struct Postgres {
    segment_size: Arc<AtomicU64>,
}

impl Postgres {
    /// The backend.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    #[doc(hidden)]
    /// Normalises an insert LSN that sits just past a page or segment header back to the
    /// boundary.
    #[must_use]
    pub fn normalise_insert_lsn(&self, lsn: Lsn) -> Lsn {
        let seg = match AtomicU64::load(&self.segment_size, Ordering::Relaxed) {
            0 => DEFAULT_SEGMENT,
            s => s,
        };
        let v = lsn.as_u64();
        if v % seg == LONG_PAGE_HEADER {
            Lsn::new(v - LONG_PAGE_HEADER)
        } else if v % WAL_PAGE == SHORT_PAGE_HEADER {
            Lsn::new(v - SHORT_PAGE_HEADER)
        } else {
            lsn
        }
    }
}

pub(super) fn query_err(
    what: &'static str,
    node: &str,
) -> impl FnOnce(diesel::result::Error) -> Error {
    let node = node.to_owned();
    move |source| Error::Query { what, node, source }
}

impl Postgres {
    /// A capture row as a position (normalised) and its epoch (the timeline).
    pub(super) fn captured(&self, (lsn, walfile): CaptureRow) -> Result<Captured, Error> {
        Ok(Captured {
            position: Position::Lsn(self.normalise_insert_lsn(Lsn::new(lsn.0))),
            epoch: Some(timeline_of_walfile(&walfile)?),
        })
    }
}

fn parse_lsn(text: &str, node: &str, what: &'static str) -> Result<Lsn, Error> {
    text.parse()
        .map_err(|e: ryw_core::RywError| Error::Unexpected {
            node: node.to_owned(),
            what,
            detail: e.to_string(),
        })
}

impl ReplicationBackend for Postgres {
    type Connection = AsyncPgConnection;
    type Manager = AsyncDieselConnectionManager<AsyncPgConnection>;

    fn manager(&self, url: &str) -> Self::Manager {
        super::manager(url)
    }

    fn kind(&self) -> PositionKind {
        PositionKind::Lsn
    }

    fn family(&self) -> Family {
        Family::Postgres
    }

    async fn is_alive(&self, conn: &mut AsyncPgConnection) -> bool {
        diesel::sql_query("SELECT 1").execute(conn).await.is_ok()
    }

    async fn cluster_id(&self, conn: &mut AsyncPgConnection) -> Result<ClusterId, Error> {
        let (sysid, segment): (String, i64) = diesel::select((
            sql::<Text>("(SELECT system_identifier::text FROM pg_control_system())"),
            sql::<BigInt>(
                "(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')",
            ),
        ))
        .get_result(conn)
        .await
        .map_err(query_err("reading the cluster identity", "leader"))?;
        if let Ok(seg) = u64::try_from(segment)
            && seg > 0
        {
            self.segment_size.store(seg, Ordering::Relaxed);
        }
        Ok(Family::Postgres.cluster(sysid))
    }

    async fn capture(&self, conn: &mut AsyncPgConnection) -> Result<Captured, Error> {
        let row = capture_row(conn)
            .await
            .map_err(query_err("capturing the commit position", "leader"))?;
        self.captured(row)
    }

    async fn commit_and_capture(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Result<Captured, Error>, diesel::result::Error> {
        self.commit_pipelined(conn).await
    }

    async fn leader_position(&self, conn: &mut AsyncPgConnection) -> Result<Captured, Error> {
        // The insert position, as for a capture: it covers every commit that has returned,
        // even with `synchronous_commit = off` (the write position can still trail one), so it
        // can stand in for a lost capture or fence a write that has none.
        self.capture(conn).await
    }

    async fn epoch_history(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Option<EpochHistory>, Error> {
        let current = self.leader_position(conn).await?.epoch.unwrap_or(1);
        if current <= 1 {
            return Ok(Some(EpochHistory::new(current)));
        }
        let file = history_file(current);
        let read: Result<String, _> =
            diesel::select(sql::<Text>(&format!("pg_read_file('{file}')")))
                .get_result(conn)
                .await;
        match read {
            Ok(text) => parse_history(current, &text).map(Some),
            Err(e) => {
                tracing::warn!(timeline = current, error = %e, "cannot read the timeline history (needs superuser or pg_read_server_files): floors of earlier timelines stay fences and writes a failover lost are not detected");
                Ok(Some(EpochHistory::new(current)))
            }
        }
    }

    async fn replica_position(
        &self,
        conn: &mut AsyncPgConnection,
        node: &str,
    ) -> Result<ReplicaPosition, Error> {
        let (in_recovery, replay, lag): (bool, Option<String>, Option<f64>) = diesel::select((
            sql::<Bool>("pg_is_in_recovery()"),
            sql::<Nullable<Text>>("pg_last_wal_replay_lsn()::text"),
            sql::<Nullable<Double>>(
                "EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))::float8",
            ),
        ))
        .get_result(conn)
        .await
        .map_err(query_err("reading the replay position", node))?;
        if !in_recovery {
            return Err(Error::NotAReplica {
                node: node.to_owned(),
            });
        }
        let replay = replay.ok_or_else(|| Error::Unexpected {
            node: node.to_owned(),
            what: "replay LSN",
            detail: "NULL while in recovery".into(),
        })?;
        Ok(ReplicaPosition {
            applied: Position::Lsn(parse_lsn(&replay, node, "replay LSN")?),
            lag_seconds: lag.map(|l| l.max(0.0)),
        })
    }
}

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::{Double, Integer, Nullable, Text};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};
use ryw_core::position::{GtidList, GtidSet, LeaderHolds};
use ryw_core::{ClusterId, Family, Position, PositionKind};

use super::my_dialect::Dialect;
use super::my_sql::SelectVar;
use super::{Captured, ReplicaPosition, ReplicationBackend, WaitMethod, WaitOutcome};
use crate::Error;

/// The MySQL-family backend on `AsyncMysqlConnection`: MariaDB GTID lists or MySQL 8 GTID
/// sets, with a server-side wait on the connection that then serves the read.
///
/// # Cluster identity — configure it
/// MariaDB has no server UUID and every fresh cluster starts at `0-1-1`, so GTIDs of unrelated
/// clusters collide. A token or store floor from another cluster would then be taken as a
/// fence here. Give each cluster a name that is unique across your deployments with
/// [`Mysql::with_cluster_name`] (e.g. `"payments-eu-1"`); without one the cluster id is built
/// from the leader's `@@server_id` and `@@gtid_domain_id`, which is only safe when those are
/// unique across your clusters.
///
/// On MySQL 8 a configured name is the whole identity (`mysql:<name>`): GTID sets stay
/// comparable across a failover, so floors written before it remain fences after it. Without
/// a name the leader's `@@server_uuid` is used, with a warning: it changes when another server
/// becomes the leader, and floors from before the failover would then count as foreign.
///
/// GTIDs are always bound as parameters, never spliced into SQL text.
#[derive(Debug, Clone, Default)]
pub struct Mysql {
    dialect: Arc<OnceLock<Dialect>>,
    cluster_name: Option<Arc<str>>,
}

impl Mysql {
    /// A backend that detects the dialect from the leader (`SELECT VERSION()`).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend with a fixed dialect (no detection).
    #[must_use]
    pub fn with_dialect(dialect: Dialect) -> Self {
        let d = OnceLock::new();
        let _ = d.set(dialect);
        Self {
            dialect: Arc::new(d),
            cluster_name: None,
        }
    }

    /// Names the cluster (see the type docs: required for MariaDB in production).
    #[must_use]
    pub fn with_cluster_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.cluster_name = Some(name.into());
        self
    }

    /// The dialect, once known.
    #[must_use]
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect.get().copied()
    }

    fn dialect_or_err(&self, node: &str) -> Result<Dialect, Error> {
        self.dialect().ok_or_else(|| Error::Config(format!(
            "the MySQL dialect is unknown on {node}: it is detected when the router starts, or set with Mysql::with_dialect"
        )))
    }

    fn parse(
        &self,
        dialect: Dialect,
        text: &str,
        node: &str,
        what: &'static str,
    ) -> Result<Position, Error> {
        let unexpected = |e: ryw_core::RywError| Error::Unexpected {
            node: node.to_owned(),
            what,
            detail: e.to_string(),
        };
        Ok(match dialect {
            Dialect::MariaDb => Position::GtidList(text.parse::<GtidList>().map_err(unexpected)?),
            Dialect::Mysql8 => Position::GtidSet(text.parse::<GtidSet>().map_err(unexpected)?),
        })
    }

    async fn text(
        conn: &mut AsyncMysqlConnection,
        expr: &'static str,
        what: &'static str,
        node: &str,
    ) -> Result<String, Error> {
        let v: Option<String> =
            SelectVar(expr)
                .get_result(conn)
                .await
                .map_err(|source| Error::Query {
                    what,
                    node: node.to_owned(),
                    source,
                })?;
        Ok(v.unwrap_or_default())
    }
}

impl ReplicationBackend for Mysql {
    type Connection = AsyncMysqlConnection;
    type Manager = AsyncDieselConnectionManager<AsyncMysqlConnection>;

    fn manager(&self, url: &str) -> Self::Manager {
        super::manager(url)
    }

    fn kind(&self) -> PositionKind {
        self.dialect().map_or(PositionKind::GtidList, Dialect::kind)
    }

    fn family(&self) -> Family {
        match self.dialect() {
            Some(Dialect::Mysql8) => Family::Mysql,
            _ => Family::MariaDb,
        }
    }

    async fn is_alive(&self, conn: &mut AsyncMysqlConnection) -> bool {
        diesel::sql_query("SELECT 1").execute(conn).await.is_ok()
    }

    async fn cluster_id(&self, conn: &mut AsyncMysqlConnection) -> Result<ClusterId, Error> {
        let dialect = match self.dialect() {
            Some(d) => d,
            None => {
                let version =
                    Self::text(conn, "VERSION()", "reading the server version", "leader").await?;
                let d = Dialect::from_version(&version);
                tracing::info!(%version, dialect = ?d, "detected MySQL-family dialect");
                *self.dialect.get_or_init(|| d)
            }
        };
        Ok(match (dialect, &self.cluster_name) {
            (Dialect::MariaDb, Some(name)) => Family::MariaDb.cluster(name),
            (Dialect::MariaDb, None) => {
                let ids = Self::text(
                    conn,
                    "CONCAT(@@server_id, '.', @@gtid_domain_id)",
                    "reading the server identity",
                    "leader",
                )
                .await?;
                tracing::warn!(
                    "no cluster name configured for MariaDB: using server_id.domain_id {ids}, which must be unique across clusters"
                );
                Family::MariaDb.cluster(ids)
            }
            (Dialect::Mysql8, Some(name)) => Family::Mysql.cluster(name),
            (Dialect::Mysql8, None) => {
                let uuid =
                    Self::text(conn, "@@server_uuid", "reading the server uuid", "leader").await?;
                tracing::warn!(
                    "no cluster name configured for MySQL: using the leader's server_uuid {uuid}, which changes on a failover (floors written before it would be ignored)"
                );
                Family::Mysql.cluster(uuid)
            }
        })
    }

    async fn capture(&self, conn: &mut AsyncMysqlConnection) -> Result<Captured, Error> {
        let d = self.dialect_or_err("leader")?;
        let text = Self::text(
            conn,
            d.capture_expr(),
            "capturing the commit position",
            "leader",
        )
        .await?;
        self.parse(d, &text, "leader", "commit GTID")
            .map(Captured::without_epoch)
    }

    async fn leader_position(&self, conn: &mut AsyncMysqlConnection) -> Result<Captured, Error> {
        let d = self.dialect_or_err("leader")?;
        let text = Self::text(
            conn,
            d.leader_expr(),
            "reading the leader position",
            "leader",
        )
        .await?;
        self.parse(d, &text, "leader", "leader GTID position")
            .map(Captured::without_epoch)
    }

    async fn leader_holds(
        &self,
        conn: &mut AsyncMysqlConnection,
    ) -> Result<Option<LeaderHolds>, Error> {
        let d = self.dialect_or_err("leader")?;
        let what = "reading what the leader holds";
        let text = Self::text(conn, d.holds_expr(), what, "leader").await?;
        let (server, holds) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        let holds = self.parse(d, holds.trim(), "leader", "leader GTIDs held")?;
        Ok(Some(LeaderHolds {
            server: server.to_owned(),
            holds,
        }))
    }

    async fn replica_position(
        &self,
        conn: &mut AsyncMysqlConnection,
        node: &str,
    ) -> Result<ReplicaPosition, Error> {
        let d = self.dialect_or_err(node)?;
        let (replica, applied): (Option<f64>, Option<String>) = diesel::select((
            sql::<Nullable<Double>>(d.is_replica_expr()),
            sql::<Nullable<Text>>(d.applied_expr()),
        ))
        .get_result(conn)
        .await
        .map_err(|source| Error::Query {
            what: "reading the applied GTID position",
            node: node.to_owned(),
            source,
        })?;
        if replica.unwrap_or(0.0) <= 0.0 {
            return Err(Error::NotAReplica {
                node: node.to_owned(),
            });
        }
        Ok(ReplicaPosition {
            applied: self.parse(
                d,
                &applied.unwrap_or_default(),
                node,
                "applied GTID position",
            )?,
            lag_seconds: None,
        })
    }

    const WAIT: WaitMethod = WaitMethod::ServerSide;

    async fn server_wait(
        &self,
        conn: &mut AsyncMysqlConnection,
        node: &str,
        position: &Position,
        timeout: Duration,
    ) -> Result<WaitOutcome, Error> {
        let d = self.dialect_or_err(node)?;
        let (function, reached) = d.wait_function();
        let result: Option<i32> = diesel::select(
            sql::<Nullable<Integer>>(&format!("{function}("))
                .bind::<Text, _>(position.to_string())
                .sql(", ")
                .bind::<Double, _>(timeout.as_secs_f64())
                .sql(")"),
        )
        .get_result(conn)
        .await
        .map_err(|source| Error::Query {
            what: "waiting for a GTID position",
            node: node.to_owned(),
            source,
        })?;
        Ok(if result == Some(reached) {
            WaitOutcome::Reached
        } else {
            WaitOutcome::TimedOut
        })
    }
}

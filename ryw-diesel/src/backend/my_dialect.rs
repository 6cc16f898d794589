//! The SQL of each MySQL-family dialect: the expressions the backend selects and the
//! server-side wait statement.

use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::{Double, Integer, Nullable, Text};
use ryw_core::{Position, PositionKind};

/// The SQL dialect of a MySQL-family server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// MariaDB (10.x / 11.x): GTID lists, `MASTER_GTID_WAIT`. Verified against a live
    /// MariaDB 10.11 leader and replicas in the integration suite.
    MariaDb,
    /// Oracle MySQL 8: GTID sets, `WAIT_FOR_EXECUTED_GTID_SET`, `GTID_SUBSET`. Implemented
    /// from MySQL's documentation; no MySQL server could be run where ryw is tested, so only
    /// the statements sent and the parsing of documented outputs are tested.
    Mysql8,
}

impl Dialect {
    /// Detects the dialect from `SELECT VERSION()` output (`10.11.19-MariaDB-…` vs `8.0.36`).
    #[must_use]
    pub fn from_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            Self::MariaDb
        } else {
            Self::Mysql8
        }
    }

    #[doc(hidden)]
    /// The expression that captures the session's commit position after COMMIT.
    #[must_use]
    pub fn capture_expr(self) -> &'static str {
        match self {
            // The GTID of this session's last transaction; unchanged by SELECTs and rollbacks.
            Self::MariaDb => "@@last_gtid",
            // A superset of the session's own GTID: everything executed on the leader.
            Self::Mysql8 => "@@GLOBAL.gtid_executed",
        }
    }

    #[doc(hidden)]
    /// The expression that reads a replica's applied position.
    #[must_use]
    pub fn applied_expr(self) -> &'static str {
        match self {
            Self::MariaDb => "@@gtid_slave_pos",
            Self::Mysql8 => "@@GLOBAL.gtid_executed",
        }
    }

    #[doc(hidden)]
    /// The expression that reads the leader's current position.
    #[must_use]
    pub fn leader_expr(self) -> &'static str {
        match self {
            Self::MariaDb => "@@gtid_binlog_pos",
            Self::Mysql8 => "@@GLOBAL.gtid_executed",
        }
    }

    #[doc(hidden)]
    /// The expression that reads the leader's server identity, a space, and everything it
    /// holds: MySQL its executed GTIDs and what its replication channels received (a
    /// promoted replica may still be applying it); MariaDB `@@gtid_current_pos`.
    #[must_use]
    pub fn holds_expr(self) -> &'static str {
        match self {
            Self::MariaDb => "CONCAT(@@server_id, ' ', @@gtid_current_pos)",
            Self::Mysql8 => {
                "CONCAT(@@server_uuid, ' ', CONCAT_WS(',', NULLIF(@@GLOBAL.gtid_executed, ''), \
                 (SELECT NULLIF(GROUP_CONCAT(RECEIVED_TRANSACTION_SET SEPARATOR ','), '') \
                 FROM performance_schema.replication_connection_status)))"
            }
        }
    }

    #[doc(hidden)]
    /// An expression that is non-NULL and non-zero when the node has replication configured.
    #[must_use]
    pub fn is_replica_expr(self) -> &'static str {
        match self {
            // A configured replica has a heartbeat period (0 on a node that never had
            // CHANGE MASTER); it stays set while replay is paused.
            Self::MariaDb => {
                "(SELECT CAST(VARIABLE_VALUE AS DOUBLE) FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME = 'SLAVE_HEARTBEAT_PERIOD')"
            }
            Self::Mysql8 => {
                "(SELECT CAST(COUNT(*) AS DOUBLE) FROM performance_schema.replication_connection_configuration)"
            }
        }
    }

    #[doc(hidden)]
    /// The server-side wait function: `(name, value meaning "reached")`.
    #[must_use]
    pub fn wait_function(self) -> (&'static str, i32) {
        match self {
            // 0 reached, -1 timeout.
            Self::MariaDb => ("MASTER_GTID_WAIT", 0),
            // 0 reached, 1 timeout.
            Self::Mysql8 => ("WAIT_FOR_EXECUTED_GTID_SET", 0),
        }
    }

    pub(super) fn kind(self) -> PositionKind {
        match self {
            Self::MariaDb => PositionKind::GtidList,
            Self::Mysql8 => PositionKind::GtidSet,
        }
    }
}

/// The statement a server-side wait sends, for inspection (e.g. `debug_query`): the GTID and
/// the timeout are bind parameters.
#[must_use]
pub fn wait_statement(
    dialect: Dialect,
    position: &Position,
    timeout: Duration,
) -> impl diesel::query_builder::QueryFragment<diesel::mysql::Mysql> + diesel::query_builder::QueryId
{
    let (function, _) = dialect.wait_function();
    diesel::select(
        sql::<Nullable<Integer>>(&format!("{function}("))
            .bind::<Text, _>(position.to_string())
            .sql(", ")
            .bind::<Double, _>(timeout.as_secs_f64())
            .sql(")"),
    )
}

//! The statements each MySQL-family dialect sends and the parsing of the servers' outputs,
//! pinned without a server. Both dialects also run live: the router suite on MariaDB 10.11 and
//! Oracle MySQL 9.7, and `tests/tests/mysql_live.rs` for what only MySQL has.
#![cfg(feature = "mysql")]
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use ryw_core::position::{GtidList, GtidSet, LogPosition};
use ryw_core::{Position, PositionKind};
use ryw_diesel::backend::wait_statement;
use ryw_diesel::{Dialect, Mysql, ReplicationBackend, WaitMethod};

#[test]
fn dialect_is_detected_from_version_strings() {
    assert_eq!(Dialect::from_version("8.0.36"), Dialect::Mysql8);
    assert_eq!(Dialect::from_version("8.4.0-commercial"), Dialect::Mysql8);
    // Oracle MySQL 9.x as Debian builds it (verified live), and distribution suffixes.
    assert_eq!(Dialect::from_version("9.7.4-2"), Dialect::Mysql8);
    assert_eq!(
        Dialect::from_version("8.0.36-0ubuntu0.22.04.1"),
        Dialect::Mysql8
    );
    assert_eq!(
        Dialect::from_version("10.11.19-MariaDB-0+deb12u1"),
        Dialect::MariaDb
    );
    // What MariaDB reports through the MySQL protocol's compatibility prefix.
    assert_eq!(
        Dialect::from_version("5.5.5-10.11.6-MariaDB-log"),
        Dialect::MariaDb
    );
}

#[test]
fn mysql8_reads_the_documented_variables() {
    let d = Dialect::Mysql8;
    assert_eq!(d.capture_expr(), "@@GLOBAL.gtid_executed");
    assert_eq!(d.applied_expr(), "@@GLOBAL.gtid_executed");
    assert_eq!(d.leader_expr(), "@@GLOBAL.gtid_executed");
    assert!(
        d.is_replica_expr()
            .contains("performance_schema.replication_connection_configuration")
    );
    assert_eq!(d.wait_function(), ("WAIT_FOR_EXECUTED_GTID_SET", 0));
}

#[test]
fn mariadb_reads_the_documented_variables() {
    let d = Dialect::MariaDb;
    assert_eq!(d.capture_expr(), "@@last_gtid");
    assert_eq!(d.applied_expr(), "@@gtid_slave_pos");
    assert_eq!(d.leader_expr(), "@@gtid_binlog_pos");
    assert_eq!(d.wait_function(), ("MASTER_GTID_WAIT", 0));
}

#[test]
fn waits_bind_the_gtid_and_never_splice_it_into_sql() {
    let set: GtidSet = "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18"
        .parse()
        .unwrap();
    let list: GtidList = "0-1-100,1-2-5".parse().unwrap();
    for (dialect, pos, function) in [
        (
            Dialect::Mysql8,
            Position::from(set),
            "WAIT_FOR_EXECUTED_GTID_SET",
        ),
        (Dialect::MariaDb, Position::from(list), "MASTER_GTID_WAIT"),
    ] {
        let q = wait_statement(dialect, &pos, Duration::from_millis(1500));
        let text = diesel::debug_query::<diesel::mysql::Mysql, _>(&q).to_string();
        let (sql, binds) = text.split_once("-- binds:").unwrap();
        assert_eq!(sql.trim(), format!("SELECT {function}(?, ?)"));
        assert!(!sql.contains(&pos.to_string()), "GTID spliced into {sql}");
        assert!(binds.contains(&pos.to_string()), "GTID not bound: {binds}");
        assert!(binds.contains("1.5"), "timeout not bound: {binds}");
    }
}

#[test]
fn gtid_executed_outputs_parse_and_order() {
    // `SELECT @@GLOBAL.gtid_executed` prints sources separated by ",\n", uppercase or not.
    let replica: GtidSet = "2174B383-5441-11E8-B90A-C80AA9429562:1-3,\n\
                            24DA1670-0C0C-11E8-8442-00059A3C7B00:1-19"
        .parse()
        .unwrap();
    let fence: GtidSet = "2174b383-5441-11e8-b90a-c80aa9429562:2".parse().unwrap();
    assert!(replica.covers(&fence));
    // MySQL 8.3+ tagged GTIDs: a tag's transactions are distinct from the untagged ones.
    let tagged: GtidSet = "2174b383-5441-11e8-b90a-c80aa9429562:1-3:batch:1-2"
        .parse()
        .unwrap();
    assert!(
        tagged.covers(
            &"2174b383-5441-11e8-b90a-c80aa9429562:batch:2"
                .parse()
                .unwrap()
        )
    );
    assert!(
        !replica.covers(
            &"2174b383-5441-11e8-b90a-c80aa9429562:batch:1"
                .parse()
                .unwrap()
        )
    );
}

#[test]
fn the_backend_reports_its_dialects_position_kind() {
    assert_eq!(
        Mysql::with_dialect(Dialect::Mysql8).kind(),
        PositionKind::GtidSet
    );
    assert_eq!(
        Mysql::with_dialect(Dialect::MariaDb).kind(),
        PositionKind::GtidList
    );
    assert_eq!(
        Mysql::with_dialect(Dialect::Mysql8).family().prefix(),
        "mysql:"
    );
    assert_eq!(
        Mysql::with_dialect(Dialect::MariaDb).family().prefix(),
        "mariadb:"
    );
    assert_eq!(Mysql::WAIT, WaitMethod::ServerSide);
}

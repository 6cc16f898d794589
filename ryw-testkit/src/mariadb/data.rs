//! A MariaDB node's folder, option file, data dir, and replication status.

use std::fs;
use std::path::PathBuf;

use mysql_async::Row;

use crate::error::TestkitError;
use crate::mysql_family::query_first;
use crate::replicated::Node;
use crate::sys;

/// The node's option file.
pub(super) fn cnf(node: &Node) -> PathBuf {
    node.home.join("my.cnf")
}

/// Writes the node's option file (with its current port).
pub(super) fn write_cnf(node: &Node) -> Result<(), TestkitError> {
    let d = node.home.display();
    let user = if sys::is_root() { "user=root\n" } else { "" };
    let text = format!(
        "[mariadbd]\n{user}datadir={d}/data\nsocket={d}/mysqld.sock\npid-file={d}/mariadbd.pid\n\
         log-error={log}\nport={port}\nbind-address=127.0.0.1\nskip-name-resolve\n\
         server-id={id}\nlog-bin={d}/data/binlog\nbinlog-format=ROW\ngtid-strict-mode=ON\n\
         log-slave-updates=ON\nrelay-log={d}/data/relay\nrelay-log-recovery=ON\n\
         innodb-buffer-pool-size=16M\ninnodb-log-file-size=16M\n\
         innodb-flush-log-at-trx-commit=2\nsync-binlog=0\ninnodb-use-native-aio=0\n\
         performance-schema=OFF\ntmpdir={d}\nmax-connections=200\n",
        log = node.log.display(),
        port = node.port(),
        id = node.server_id,
    );
    let path = cnf(node);
    fs::write(&path, text).map_err(|e| TestkitError::io(format!("write {}", path.display()), e))
}

/// `None` when `SHOW SLAVE STATUS` shows both replication threads running, else what it
/// shows.
pub(super) async fn slave_status(port: u16) -> Result<Option<String>, TestkitError> {
    let row: Option<Row> = query_first(port, "SHOW SLAVE STATUS").await?;
    let Some(row) = row else {
        return Ok(Some(
            "Slave_IO_Running=No Slave_SQL_Running=No (no replication configured)".into(),
        ));
    };
    let get = |col: &str| -> String {
        row.get_opt::<String, _>(col)
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    let (io, sql) = (get("Slave_IO_Running"), get("Slave_SQL_Running"));
    if io == "Yes" && sql == "Yes" {
        return Ok(None);
    }
    Ok(Some(format!(
        "Slave_IO_Running={io} Slave_SQL_Running={sql} Last_IO_Error={:?} Last_SQL_Error={:?}",
        get("Last_IO_Error"),
        get("Last_SQL_Error")
    )))
}

/// The GTIDs the replica at `port` received (`Gtid_IO_Pos` of `SHOW SLAVE STATUS`).
pub(super) async fn received(port: u16) -> Result<String, TestkitError> {
    let row: Option<Row> = query_first(port, "SHOW SLAVE STATUS").await?;
    Ok(row
        .and_then(|r| r.get_opt::<String, _>("Gtid_IO_Pos").and_then(Result::ok))
        .unwrap_or_default())
}

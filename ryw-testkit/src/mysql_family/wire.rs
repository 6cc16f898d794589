//! The MySQL protocol as the testkit speaks it to MariaDB and MySQL servers.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

use crate::error::TestkitError;
use crate::replicated::Wire;

/// Name of the database created on the primary (and replicated).
pub(crate) const DB: &str = "ryw";
/// Password of the `repl` account replicas connect with.
pub(crate) const REPL_PASSWORD: &str = "ryw-repl";
/// The `PATH` servers and setup commands run with.
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(crate) fn my_err(
    port: u16,
    context: &str,
) -> impl FnOnce(mysql_async::Error) -> TestkitError + '_ {
    move |source| TestkitError::MariaDb {
        port,
        context: context.to_owned(),
        source,
    }
}

/// Opens a connection as root (no database selected).
pub(crate) async fn connect(port: u16) -> Result<Conn, TestkitError> {
    let opts = Opts::from_url(&format!("mysql://root@127.0.0.1:{port}/"))
        .map_err(|e| TestkitError::Internal(format!("bad mysql url: {e}")))?;
    match tokio::time::timeout(Duration::from_secs(10), Conn::new(opts)).await {
        Ok(r) => r.map_err(my_err(port, "connect")),
        Err(_) => Err(TestkitError::Internal(format!(
            "connecting to mariadb on port {port} took over 10 s"
        ))),
    }
}

/// Runs `sql` on the server at `port` (no database selected).
pub(crate) async fn exec(port: u16, sql: &str, context: &str) -> Result<(), TestkitError> {
    let mut c = connect(port).await?;
    c.query_drop(sql).await.map_err(my_err(port, context))?;
    let _ = c.disconnect().await;
    Ok(())
}

/// Kills every client connection of the MySQL-protocol server at `port` except replication,
/// system threads and its own; waits (bounded) until they are gone. Returns how many.
pub(crate) async fn kill_client_connections(port: u16) -> Result<usize, TestkitError> {
    let mut c = connect(port).await?;
    let ids: Vec<u64> = c
        .query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
                 AND USER NOT IN ('system user', 'event_scheduler', 'repl') \
                 AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon')",
        )
        .await
        .map_err(my_err(port, "listing connections"))?;
    let mut killed = Vec::new();
    for id in ids {
        // A connection that ended meanwhile is "unknown thread": not an error here.
        if c.query_drop(format!("KILL CONNECTION {id}")).await.is_ok() {
            killed.push(id);
        }
    }
    // KILL only marks the thread: wait (bounded) until the killed ones are gone, so a
    // connection used right after this returns is dead for sure.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !killed.is_empty() && std::time::Instant::now() < deadline {
        let alive: Vec<u64> = c
            .query("SELECT ID FROM information_schema.PROCESSLIST")
            .await
            .map_err(my_err(port, "listing connections"))?;
        if !killed.iter().any(|id| alive.contains(id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = killed.len();
    let _ = c.disconnect().await;
    Ok(killed)
}

/// The MySQL protocol, as MariaDB and MySQL speak it.
#[derive(Debug)]
pub struct MysqlWire;

impl Wire for MysqlWire {
    async fn probe(port: u16) -> Result<(), String> {
        let mut c = connect(port).await.map_err(|e| e.to_string())?;
        c.query_drop("SELECT 1").await.map_err(|e| e.to_string())?;
        let _ = c.disconnect().await;
        Ok(())
    }

    async fn admin(port: u16, sql: &str, context: &str) -> Result<(), TestkitError> {
        exec(port, sql, context).await
    }

    async fn execute(port: u16, sql: &str) -> Result<(), TestkitError> {
        let mut c = connect(port).await?;
        c.query_drop(format!("USE {DB}"))
            .await
            .map_err(my_err(port, "USE"))?;
        c.query_drop(sql)
            .await
            .map_err(my_err(port, "execute on primary"))?;
        let _ = c.disconnect().await;
        Ok(())
    }

    fn url(port: u16) -> String {
        format!("mysql://root@127.0.0.1:{port}/{DB}")
    }

    async fn kill_clients(port: u16) -> Result<usize, TestkitError> {
        kill_client_connections(port).await
    }
}

/// The first row `sql` returns on the server at `port`, if any.
pub(crate) async fn query_first<T>(port: u16, sql: &str) -> Result<Option<T>, TestkitError>
where
    T: mysql_async::prelude::FromRow + Send + 'static,
{
    let mut c = connect(port).await?;
    let row = c.query_first(sql).await.map_err(my_err(port, sql))?;
    let _ = c.disconnect().await;
    Ok(row)
}

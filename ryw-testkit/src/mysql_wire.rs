//! What MariaDB and MySQL share: the MySQL protocol, the testkit's database and account, and
//! GTID waits of the same shape.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

use crate::error::TestkitError;
use crate::replicated::{Engine, Replicated, Wire};

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

/// How a database says what its leader executed and waits for it on a replica.
pub(crate) struct GtidWait {
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

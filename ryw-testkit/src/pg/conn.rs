//! The testkit as a client of its Postgres servers.

use tokio_postgres::{Client, NoTls};

use crate::error::TestkitError;
use crate::replicated::Wire;

pub(crate) fn pg_err(
    port: u16,
    context: &str,
) -> impl FnOnce(tokio_postgres::Error) -> TestkitError + '_ {
    move |source| TestkitError::Postgres {
        port,
        context: context.to_owned(),
        source,
    }
}

/// Opens a connection on the caller's runtime (the connection task is spawned there).
pub(crate) async fn connect(port: u16) -> Result<Client, TestkitError> {
    let conn_str = format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5 application_name=ryw-testkit"
    );
    let (client, conn) = tokio_postgres::connect(&conn_str, NoTls)
        .await
        .map_err(pg_err(port, "connect"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Runs `sql` (one or more statements) on the server at `port`; `context` names it in errors.
pub(crate) async fn batch(port: u16, sql: &str, context: &str) -> Result<(), TestkitError> {
    connect(port)
        .await?
        .batch_execute(sql)
        .await
        .map_err(pg_err(port, context))
}

/// The Postgres protocol, as the testkit speaks it (user `postgres`, trust authentication).
#[derive(Debug)]
pub struct PgWire;

impl Wire for PgWire {
    async fn probe(port: u16) -> Result<(), String> {
        let c = connect(port).await.map_err(|e| e.to_string())?;
        c.simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn admin(port: u16, sql: &str, context: &str) -> Result<(), TestkitError> {
        batch(port, sql, context).await
    }

    async fn execute(port: u16, sql: &str) -> Result<(), TestkitError> {
        batch(port, sql, "execute on primary").await
    }

    fn url(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    async fn kill_clients(port: u16) -> Result<usize, TestkitError> {
        let n: i64 = connect(port)
            .await?
            .query_one(
                // With a timeout, pg_terminate_backend waits until the backend has exited, so
                // a connection used right after this returns is dead for sure.
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) \
                 FROM pg_stat_activity \
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
                 AND application_name <> 'ryw-testkit') t",
                &[],
            )
            .await
            .map_err(pg_err(port, "pg_terminate_backend()"))?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

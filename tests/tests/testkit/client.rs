//! A plain client of one backend's servers, as the suite needs it: connect, count rows, run a
//! statement.

use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio_postgres::{Client as PgConn, NoTls};

#[path = "../common/my.rs"]
mod my;
pub(crate) use my::setup_table;

/// What a statement's failure is, for `expect` and `is_err`.
pub(crate) type Failure = Box<dyn std::error::Error + Send + Sync>;

/// A client of one backend's servers.
pub(crate) trait Client {
    /// An open connection.
    type Conn;

    /// Connects to `url`; a failure fails the test.
    async fn conn(url: &str) -> Self::Conn;

    /// Whether a connection to `url` can be opened.
    async fn connects(url: &str) -> bool;

    /// Rows of `table` with `id`.
    async fn count(c: &mut Self::Conn, table: &str, id: i32) -> i64;

    /// All rows of `table`.
    async fn total(c: &mut Self::Conn, table: &str) -> i64;

    /// Runs `sql`.
    async fn exec(c: &mut Self::Conn, sql: &str) -> Result<(), Failure>;

    /// Polls (bounded) until the row is visible; returns the time it took.
    async fn wait_visible(c: &mut Self::Conn, table: &str, id: i32, bound: Duration) -> Duration {
        let t0 = Instant::now();
        while Self::count(c, table, id).await == 0 {
            assert!(
                t0.elapsed() < bound,
                "row {id} of {table} not visible after {bound:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        t0.elapsed()
    }
}

/// `tokio-postgres`, its connection task spawned on the test's runtime.
pub(crate) struct Pg;

impl Client for Pg {
    type Conn = PgConn;

    async fn conn(url: &str) -> PgConn {
        let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        c
    }

    async fn connects(url: &str) -> bool {
        tokio_postgres::connect(url, NoTls).await.is_ok()
    }

    async fn count(c: &mut PgConn, table: &str, id: i32) -> i64 {
        let sql = format!("SELECT count(*) FROM {table} WHERE id = $1");
        c.query_one(&sql, &[&id]).await.expect("count").get(0)
    }

    async fn total(c: &mut PgConn, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        c.query_one(&sql, &[]).await.expect("count").get(0)
    }

    async fn exec(c: &mut PgConn, sql: &str) -> Result<(), Failure> {
        Ok(c.batch_execute(sql).await?)
    }
}

/// `mysql_async`, for MariaDB and MySQL alike.
pub(crate) struct My;

impl Client for My {
    type Conn = Conn;

    async fn conn(url: &str) -> Conn {
        my::conn(url).await
    }

    async fn connects(url: &str) -> bool {
        let opts = mysql_async::Opts::from_url(url).expect("url");
        Conn::new(opts).await.is_ok()
    }

    async fn count(c: &mut Conn, table: &str, id: i32) -> i64 {
        my::count(c, table, id).await
    }

    async fn total(c: &mut Conn, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        c.query_first(sql).await.expect("query").expect("one row")
    }

    async fn exec(c: &mut Conn, sql: &str) -> Result<(), Failure> {
        Ok(c.query_drop(sql).await?)
    }

    async fn wait_visible(c: &mut Conn, table: &str, id: i32, bound: Duration) -> Duration {
        my::wait_visible(c, table, id, bound).await
    }
}

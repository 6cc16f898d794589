//! The position capture after each write is one statement on the wire: prepared once per
//! connection and then only executed (a raw SQL fragment would be prepared again on every
//! write — a second round trip). Checked with the servers' own statistics:
//! `pg_prepared_statements` on Postgres, the session's `Com_stmt_prepare` on MariaDB/MySQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::backend::ReplicationBackend;
use ryw::{Mysql, Postgres};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

async fn prepared_captures(conn: &mut AsyncPgConnection) -> i64 {
    diesel::select(sql::<BigInt>(
        "(SELECT count(*) FROM pg_prepared_statements \
          WHERE statement LIKE '%pg_current_wal_insert_lsn%' \
            AND statement NOT LIKE '%pg_prepared_statements%')",
    ))
    .get_result(conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_is_prepared_once_per_connection() {
    let topo = PgTopology::start(1).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&topo.primary_url())
        .await
        .unwrap();
    let backend = Postgres::new();
    let first = backend.capture(&mut conn).await.unwrap();
    for _ in 0..20 {
        let again = backend.capture(&mut conn).await.unwrap();
        assert!(again.position.covers(&first.position).unwrap());
    }
    // One named, cached statement on this session; an uncached one would leave none (it
    // goes out unnamed, prepared anew each time).
    assert_eq!(prepared_captures(&mut conn).await, 1);
}

#[derive(diesel::QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

/// The session's `Com_stmt_prepare` counter.
async fn prepares(conn: &mut AsyncMysqlConnection) -> i64 {
    let rows: Vec<Status> = diesel::sql_query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'")
        .load(conn)
        .await
        .unwrap();
    rows[0].value.parse().unwrap()
}

async fn mysql_family_capture_is_prepared_once(url: String, backend: Mysql) {
    let mut conn = AsyncMysqlConnection::establish(&url).await.unwrap();
    diesel::sql_query("CREATE TABLE IF NOT EXISTS cap (id INT PRIMARY KEY, v INT)")
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query("REPLACE INTO cap VALUES (1, 1)")
        .execute(&mut conn)
        .await
        .unwrap();
    backend.capture(&mut conn).await.unwrap();
    // The same 20 writes without and with a capture after each: the captures must add no
    // prepare (each counter read adds the same to both rounds).
    let mut rounds = Vec::new();
    for with_capture in [false, true] {
        let before = prepares(&mut conn).await;
        for v in 2..22 {
            diesel::sql_query(format!("REPLACE INTO cap VALUES (1, {v})"))
                .execute(&mut conn)
                .await
                .unwrap();
            if with_capture {
                backend.capture(&mut conn).await.unwrap();
            }
        }
        rounds.push(prepares(&mut conn).await - before);
    }
    assert_eq!(
        rounds[1], rounds[0],
        "captures were prepared again: {rounds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_capture_is_prepared_once_per_connection() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    let backend = Mysql::new().with_cluster_name("cap");
    let mut conn = AsyncMysqlConnection::establish(&topo.primary_url())
        .await
        .unwrap();
    backend.cluster_id(&mut conn).await.unwrap();
    mysql_family_capture_is_prepared_once(topo.primary_url(), backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_capture_is_prepared_once_per_connection() {
    let topo = MysqlTopology::start(1).await.unwrap();
    let backend = Mysql::new();
    let mut conn = AsyncMysqlConnection::establish(&topo.primary_url())
        .await
        .unwrap();
    backend.cluster_id(&mut conn).await.unwrap();
    mysql_family_capture_is_prepared_once(topo.primary_url(), backend).await;
}

//! The position capture after each write is one statement on the wire: prepared once per
//! connection and then only executed (a raw SQL fragment would be prepared again on every
//! write — a second round trip). Checked with the server's own `pg_prepared_statements`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::{Postgres, ReplicationBackend};
use ryw_testkit::{PgTopology, Topology};

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

//! The Postgres capture rides in the COMMIT's round trip (`tests/round_trips.rs` counts it);
//! this proves it still runs *after* the COMMIT on the server. The WAL itself says where the
//! write's commit record ends (`pg_walinspect`): the captured position is at or past that
//! end, where a position read inside the transaction — what a capture sent before the COMMIT
//! would see — is before it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::position::Lsn;
use ryw::position::Position;
use ryw::{Error, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{PgTopology, Topology};

#[path = "common/tables.rs"]
mod tables;

fn lsn(text: &str) -> u64 {
    text.parse::<Lsn>().unwrap().as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_capture_covers_its_commit() {
    let topo = PgTopology::start(1).await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE EXTENSION pg_walinspect; \
         CREATE TABLE covered (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO covered VALUES (1, 0)",
    )
    .await;
    let pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    let mut admin = AsyncPgConnection::establish(&topo.primary_url())
        .await
        .unwrap();
    let user = ScopeKey::of("user_id", 1);

    for v in 1..=10_i64 {
        let start: String = diesel::select(sql::<Text>("pg_current_wal_insert_lsn()::text"))
            .get_result(&mut admin)
            .await
            .unwrap();
        // The write's transaction id, and the insert position inside the transaction after
        // its UPDATE.
        let routed = RywContext::new()
            .run(router.write(&user, async move |c: &mut AsyncPgConnection| {
                diesel::sql_query(format!("UPDATE covered SET v = {v} WHERE id = 1"))
                    .execute(c)
                    .await
                    .map_err(Error::from_diesel)?;
                diesel::select((
                    sql::<BigInt>("txid_current()"),
                    sql::<Text>("pg_current_wal_insert_lsn()::text"),
                ))
                .get_result::<(i64, String)>(c)
                .await
                .map_err(Error::from_diesel)
            }))
            .await
            .unwrap();
        let (xid, inside) = routed.value;
        let Some(Position::Lsn(captured)) = routed.position else {
            panic!("no position captured: {:?}", routed.position);
        };
        // Up to the flushed end (the function refuses a later one): the commit record is
        // flushed before COMMIT returns.
        let commit_end: String = diesel::select(sql::<Text>(&format!(
            "(SELECT end_lsn::text FROM pg_get_wal_records_info('{start}', \
             pg_current_wal_flush_lsn()) WHERE record_type = 'COMMIT' AND xid::text = '{xid}')"
        )))
        .get_result(&mut admin)
        .await
        .unwrap();
        let (captured, inside, commit_end) = (captured.as_u64(), lsn(&inside), lsn(&commit_end));
        assert!(
            inside < commit_end,
            "a position read before COMMIT is before the commit record: {inside:X} / {commit_end:X}"
        );
        assert!(
            captured >= commit_end,
            "write {v}: the capture {captured:X} is before its commit record's end {commit_end:X}"
        );
    }
}

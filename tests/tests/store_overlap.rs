//! The scope store's round trip is hidden behind the read when the request's own floor lets a
//! replica serve at once — and never at the price of a stale read: when the store holds a
//! newer floor (another instance wrote the scope), the overlapped result is discarded and the
//! read is routed again. Real Postgres (one replica, 300 ms behind) and a real Redis.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/tables.rs"]
mod tables;

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::store::RedisStore;
use ryw::store::ScopeStore;
use ryw::{Postgres, Router, RouterConfig, RywContext, ScopeKey};
use ryw_testkit::{PgTopology, RedisServer, Topology};

const ROUNDS: i64 = 10;

async fn write(router: &Router<Postgres>, v: i64) {
    router
        .write(&ScopeKey::of("user_id", 1), async move |conn| {
            diesel::sql_query(format!("UPDATE t SET v = {v} WHERE id = 1"))
                .execute(conn)
                .await
                .map_err(ryw::Error::from_diesel)
        })
        .await
        .unwrap();
}

async fn read(router: &Router<Postgres>) -> i64 {
    router
        .read(&ScopeKey::of("user_id", 1), async |conn| {
            diesel::select(sql::<BigInt>("(SELECT v FROM t WHERE id = 1)"))
                .get_result::<i64>(conn)
                .await
                .map_err(ryw::Error::from_diesel)
        })
        .await
        .unwrap()
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_round_trip_overlaps_the_read_and_a_newer_stored_floor_redoes_it() {
    let topo = PgTopology::start(1).await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES (1, 0)",
    )
    .await;
    topo.set_lag(0, Duration::from_millis(300)).await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let store =
        || -> Arc<dyn ScopeStore> { Arc::new(RedisStore::from_url(&redis.url(), "ryw:").unwrap()) };
    let config = RouterConfig::default();
    let a = common::router(&topo, Postgres::new(), config, store()).await;
    let c = common::router(&topo, Postgres::new(), config, store()).await;
    let mut replica = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();

    // A session on C writes and, once the replica has it, reads: the replica serves while
    // the store answers, and the result is kept.
    let session = RywContext::new();
    session.clone().run(write(&c, 1)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let floor = session
        .required(c.cluster(), &ScopeKey::of("user_id", 1))
        .unwrap()
        .unwrap();
    while !c.replica_status()[0]
        .1
        .applied
        .as_ref()
        .is_some_and(|p| p.covers(&floor).unwrap())
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(session.clone().run(read(&c)).await, 1);
    assert_eq!(c.stats().store_overlapped_reads, 1, "{:?}", c.stats());

    // Another instance writes the scope; the session's token floor is older and the replica
    // covers it, so the read starts on the replica — where the new value is not yet visible
    // — while the store returns the newer floor: the result is thrown away and the read
    // routed again, to wait for the replica.
    let mut stale_on_replica = 0;
    for v in 2..2 + ROUNDS {
        write(&a, v).await;
        let plain: i64 = diesel::select(sql::<BigInt>("(SELECT v FROM t WHERE id = 1)"))
            .get_result(&mut replica)
            .await
            .unwrap();
        stale_on_replica += i64::from(plain < v);
        assert_eq!(
            session.clone().run(read(&c)).await,
            v,
            "a read missed the other instance's write"
        );
    }
    let stats = c.stats();
    eprintln!(
        "overlapped and kept: {}, redone: {}, plain replica reads stale: {stale_on_replica}/{ROUNDS}",
        stats.store_overlapped_reads, stats.store_overlap_redone
    );
    assert!(stale_on_replica > 0, "the lag did not show");
    assert_eq!(
        stats.store_overlap_redone, ROUNDS as u64,
        "each read after the other instance's write must be redone"
    );
}

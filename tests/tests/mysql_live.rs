//! What only Oracle MySQL has, live on MySQL 9.7: the dialect detected from the server,
//! tagged GTIDs (`SET gtid_next = 'AUTOMATIC:tag'`) in captured floors and fences, and
//! multi-source GTID sets after a switchover, where a floor captured before it still fences a
//! lagging replica (the cluster is named: the leader's `server_uuid` changes on failover).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use mysql_async::prelude::Queryable;
use ryw::position::GtidSet;
use ryw::position::Position;
use ryw::store::MemoryStore;
use ryw::{Dialect, Mysql, Router, RouterConfig, ServedBy};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{MysqlTopology, Topology};

mod common;
#[path = "common/tables.rs"]
mod tables;

#[path = "common/my.rs"]
#[allow(dead_code)]
mod my;

async fn version_of(router: &Router<Mysql>, id: i64) -> i64 {
    router
        .read(&ScopeKey::of("user_id", id), async move |conn| {
            diesel::select(sql::<BigInt>(&format!(
                "(SELECT v FROM tagged WHERE id = {id})"
            )))
            .get_result::<i64>(conn)
            .await
            .map_err(ryw::Error::from_diesel)
        })
        .await
        .unwrap()
        .value
}

/// A router over every replica of `topo`, its floors in an in-process store.
async fn live_router(topo: &MysqlTopology, backend: Mysql) -> Router<Mysql> {
    common::router(
        topo,
        backend,
        RouterConfig::default(),
        Arc::new(MemoryStore::new(100)),
    )
    .await
}

/// Sets `v` of row 1 through `router` in `session`; returns the GTID set the write captured
/// as its floor.
async fn write_v(session: &RywContext, router: &Router<Mysql>, v: i64) -> GtidSet {
    let w = session
        .clone()
        .run(
            router.write(&ScopeKey::of("user_id", 1), async move |conn| {
                diesel::sql_query(format!("UPDATE tagged SET v = {v} WHERE id = 1"))
                    .execute(conn)
                    .await
                    .map_err(ryw::Error::from_diesel)
            }),
        )
        .await
        .unwrap();
    let Some(Position::GtidSet(floor)) = w.position.clone() else {
        panic!("no GTID set captured: {:?}", w.position);
    };
    floor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_and_multi_source_gtid_sets_fence_reads() {
    let topo = MysqlTopology::start(2).await.expect("start");
    tables::create_everywhere(
        &topo,
        "CREATE TABLE tagged (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO tagged VALUES (1, 0), (2, 0)",
    )
    .await;
    let backend = Mysql::new().with_cluster_name("mysql-live");
    let router = live_router(&topo, backend.clone()).await;
    assert_eq!(
        backend.dialect(),
        Some(Dialect::Mysql8),
        "detected from VERSION()"
    );
    assert_eq!(router.cluster().as_str(), "mysql:mysql-live");

    // Tagged transactions on the leader (outside the router: gtid_next is a session setting
    // that cannot change inside the router's transaction), then a routed write: its floor is
    // the leader's whole executed set, tags included.
    let mut leader = my::conn(&topo.primary_url()).await;
    leader
        .query_drop(
            "SET gtid_next = 'AUTOMATIC:ryw_tag'; UPDATE tagged SET v = 5 WHERE id = 2; \
             SET gtid_next = 'AUTOMATIC'",
        )
        .await
        .unwrap();
    for r in 0..2 {
        topo.set_lag(r, Duration::from_millis(700)).await.unwrap();
    }
    let session = RywContext::new();
    let floor = write_v(&session, &router, 1).await;
    assert!(floor.to_string().contains(":ryw_tag:"), "{floor}");
    // Naive replica read: stale. Routed read in the session: fresh.
    let mut naive = my::conn(&topo.replica_urls()[0]).await;
    assert_eq!(my::count(&mut naive, "tagged", 1).await, 1);
    let stale: Option<i64> = naive
        .query_first("SELECT v FROM tagged WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(stale, Some(0), "the replica was not stale: nothing to show");
    assert_eq!(session.clone().run(version_of(&router, 1)).await, 1);

    // Switch the leader: the sets become multi-source (old and new server_uuid). A floor from
    // before the switch still fences the replica that follows the new leader.
    topo.switchover(1).await.unwrap();
    let after = live_router(&topo, Mysql::new().with_cluster_name("mysql-live")).await;
    topo.set_lag(0, Duration::from_millis(700)).await.unwrap();
    let floor = write_v(&session, &after, 2).await;
    assert!(
        floor.parts().count() >= 3,
        "expected two sources and a tag: {floor}"
    );
    let stale: Option<i64> = naive
        .query_first("SELECT v FROM tagged WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(stale, Some(1), "the replica was not stale after the switch");
    let user = ScopeKey::of("user_id", 1);
    let read = session
        .clone()
        .run(async {
            after
                .read(&user, async |conn| {
                    diesel::select(sql::<BigInt>("(SELECT v FROM tagged WHERE id = 1)"))
                        .get_result::<i64>(conn)
                        .await
                        .map_err(ryw::Error::from_diesel)
                })
                .await
                .unwrap()
        })
        .await;
    assert_eq!(read.value, 2, "stale read from {:?}", read.served_by);
    assert!(matches!(
        read.served_by,
        ServedBy::Replica(_) | ServedBy::Leader
    ));
}

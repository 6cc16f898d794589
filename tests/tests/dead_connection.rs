//! Replica pools skip the per-checkout `SELECT 1`, so a pooled connection the server has
//! closed can reach a read. The read must not fail for it: the dead connection is dropped
//! (with the pool's idle ones) and the read runs once more on a fresh one. A read that fails
//! on a live connection keeps its own error and is not run again. A read whose replica dies
//! under it (no fresh connection either) runs again on the leader.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use mysql_async::prelude::Queryable;
use ryw::ScopeKey;
use ryw::backend::ReplicationBackend;
use ryw::{
    Error, Mysql, PoolConfig, Postgres, ReplicatedPool, Router, RouterConfig, TrackerConfig,
};
use ryw_testkit::{MariaDbTopology, PgTopology, Topology};

/// A read of a table that does not exist: it fails on a live connection.
const MISSING: &str = "(SELECT v FROM no_such_table)";

/// MariaDB's error for `KILL` of a connection id the server no longer knows (`ER_NO_SUCH_THREAD`).
const UNKNOWN_THREAD_ID: u16 = 1094;

/// A router over the topology's leader and its one replica, with one connection per replica
/// (the read is sure to meet the one that dies) and a tracker that stays away from it
/// meanwhile.
async fn one_connection_router<B: ReplicationBackend>(
    topo: &impl Topology,
    backend: B,
) -> Router<B> {
    let slow = Duration::from_secs(600);
    let tracker = TrackerConfig::default()
        .with_idle_interval(slow)
        .with_pending_interval(slow);
    let pool = ReplicatedPool::builder(backend, topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .config(PoolConfig::default().with_max_size(1))
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default().with_tracker(tracker))
        .await
        .unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    router
}

/// Reads the one `BIGINT` that `query` selects, routed for a scope with no writes (a replica).
async fn read_one<B: ReplicationBackend>(
    router: &Router<B>,
    query: &'static str,
) -> Result<ryw::Routed<i64>, Error>
where
    for<'a> diesel::dsl::select<diesel::expression::SqlLiteral<BigInt>>:
        diesel_async::methods::LoadQuery<'a, B::Connection, i64>,
{
    router
        .read(&ScopeKey::of("user_id", 9), async |conn| {
            diesel::select(sql::<BigInt>(query))
                .get_result::<i64>(conn)
                .await
                .map_err(Error::from_diesel)
        })
        .await
}

/// Closes, on the MariaDB server at `url`, every client connection but the one it uses
/// itself; returns their ids. A connection listed but closed before its `KILL`
/// reached the server (error 1094, unknown thread id) is gone already, which is what the
/// `KILL` was for: it counts among them. Any other error fails the test.
async fn kill_other_mariadb_clients(url: &str) -> Vec<u64> {
    let mut admin = mysql_async::Conn::from_url(url).await.unwrap();
    let ids: Vec<u64> = admin
        .query(
            "SELECT id FROM information_schema.PROCESSLIST \
             WHERE id <> CONNECTION_ID() AND user <> 'system user' AND command <> 'Daemon'",
        )
        .await
        .unwrap();
    for id in &ids {
        match admin.query_drop(format!("KILL {id}")).await {
            Ok(()) => {}
            Err(mysql_async::Error::Server(e)) if e.code == UNKNOWN_THREAD_ID => {}
            Err(e) => panic!("KILL {id}: {e}"),
        }
    }
    admin.disconnect().await.unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_reads_survive_a_killed_pooled_connection() {
    const ONE: &str = "CAST(1 AS SIGNED)";
    let topo = MariaDbTopology::start(1).await.unwrap();
    let router = one_connection_router(&topo, Mysql::new()).await;
    let first = read_one(&router, ONE).await.unwrap();
    assert!(!first.served_by.is_leader());

    // The server closes every client connection but ours; the driver does not notice.
    let ids = kill_other_mariadb_clients(&topo.replica_urls()[0]).await;
    assert!(
        !ids.is_empty(),
        "the router's connection is not on the replica"
    );
    // The pooled connection is dead indeed: a plain checkout of it fails its first query.
    let again = read_one(&router, ONE).await.unwrap();
    assert!(!again.served_by.is_leader(), "{again:?}");
    assert_eq!(again.value, 1);
    assert_eq!(router.stats().dead_connections_retried, 1);

    // A query that fails on a live connection keeps its error and runs once.
    let err = read_one(&router, MISSING).await.unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    assert_eq!(router.stats().dead_connections_retried, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_survive_a_terminated_pooled_connection() {
    const ONE: &str = "1::bigint";
    let topo = PgTopology::start(1).await.unwrap();
    let router = one_connection_router(&topo, Postgres::new()).await;
    assert!(!read_one(&router, ONE).await.unwrap().served_by.is_leader());

    let mut admin = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();
    let killed: i64 = diesel::select(sql::<BigInt>(
        "(SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
          WHERE pid <> pg_backend_pid() AND backend_type = 'client backend')",
    ))
    .get_result(&mut admin)
    .await
    .unwrap();
    assert!(killed > 0, "the router's connection is not on the replica");
    // Postgres tells the client its session ended, so the pool may drop the connection at
    // checkout already; either way the read is served by the replica, without an error.
    let again = read_one(&router, ONE).await.unwrap();
    assert!(!again.served_by.is_leader(), "{again:?}");
    assert!(router.stats().dead_connections_retried <= 1);
    let err = read_one(&router, MISSING).await.unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_replica_killed_under_a_read_is_rerun_on_the_leader() {
    // Half a second on the server: long enough to kill the replica under it.
    const SLOW: &str = "(SELECT 1::bigint FROM pg_sleep(0.5))";
    let topo = PgTopology::start(1).await.unwrap();
    let router = one_connection_router(&topo, Postgres::new()).await;
    assert!(
        !read_one(&router, "1::bigint")
            .await
            .unwrap()
            .served_by
            .is_leader()
    );

    let read = tokio::spawn({
        let router = router.clone();
        async move { read_one(&router, SLOW).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    topo.kill_replica(0).await.unwrap();
    // Its connection dies under the read and no fresh one can be had: the leader runs the
    // read again, as it does for a replica read that overran its deadline.
    let read = read.await.unwrap().unwrap();
    assert_eq!(read.value, 1);
    assert!(read.served_by.is_leader(), "{read:?}");
    assert_eq!(read.fallback, Some(ryw::FallbackReason::ReplicaLost));
    assert_eq!(router.stats().reads_rerun_on_leader, 1);
}

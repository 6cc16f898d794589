//! The testkit's harsher faults against real servers: a frozen replica answers nothing until
//! thawed, a crash restart of the primary keeps committed rows and replication, killing the
//! primary's client connections breaks an open one, and a Postgres switchover moves the
//! leader without losing a write (the multi-host URL follows it).
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a test failure"
)]

use std::time::Duration;

use mysql_async::prelude::Queryable;
use ryw_testkit::{Faults, MariaDbTopology, PgTopology, Topology};
use tokio_postgres::{Client, NoTls};

async fn pg(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

async fn pg_count(c: &Client) -> i64 {
    c.query_one("SELECT count(*) FROM f", &[])
        .await
        .expect("count")
        .get(0)
}

const ANSWER: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_faults_and_switchover() {
    let topo = PgTopology::start(2).await.expect("start");
    topo.execute_on_primary("CREATE TABLE f (id int); INSERT INTO f VALUES (1)")
        .await
        .expect("setup");
    topo.wait_caught_up(0, Duration::from_secs(20))
        .await
        .expect("caught up");
    let r0 = pg(&topo.replica_urls()[0]).await;

    // Frozen: no answer within the deadline; thawed: answers again.
    topo.freeze_replica(0).await.expect("freeze");
    let frozen = tokio::time::timeout(ANSWER, pg_count(&r0)).await;
    assert!(frozen.is_err(), "a frozen replica answered");
    topo.thaw_replica(0).await.expect("thaw");
    let thawed = tokio::time::timeout(Duration::from_secs(10), pg_count(&r0)).await;
    assert_eq!(thawed.expect("answers after thaw"), 1);

    // Killing client connections breaks an open one.
    let victim = pg(&topo.primary_url()).await;
    let killed = topo.kill_primary_connections().await.expect("kill");
    assert!(killed >= 1, "killed {killed}");
    assert!(victim.simple_query("SELECT 1").await.is_err());

    // Crash restart keeps committed rows and replication.
    topo.restart_primary_immediate()
        .await
        .expect("crash restart");
    topo.execute_on_primary("INSERT INTO f VALUES (2)")
        .await
        .expect("write after crash");
    topo.wait_caught_up(1, Duration::from_secs(20))
        .await
        .expect("replicates");

    // Switchover to replica 0: every row is there, replica 1 follows the new leader, and a
    // client on the multi-host URL writes to it.
    topo.set_lag(0, Duration::from_millis(300))
        .await
        .expect("lag");
    topo.switchover(0).await.expect("switchover");
    assert!(!topo.is_replica(0) && topo.is_replica(1));
    assert_eq!(topo.primary_url(), topo.replica_urls()[0]);
    let leader = pg(&topo.leader_url()).await;
    assert_eq!(pg_count(&leader).await, 2, "a write was lost");
    leader
        .simple_query("INSERT INTO f VALUES (3)")
        .await
        .expect("write on the new leader");
    topo.wait_caught_up(1, Duration::from_secs(20))
        .await
        .expect("replica 1 follows the new leader");
    let r1 = pg(&topo.replica_urls()[1]).await;
    assert_eq!(pg_count(&r1).await, 3);
    assert!(topo.freeze_replica(0).await.is_err(), "froze the leader");
    assert!(topo.switchover(1).await.is_err(), "a second switchover");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_faults() {
    let topo = MariaDbTopology::start(1).await.expect("start");
    topo.execute_on_primary("CREATE TABLE f (id int); INSERT INTO f VALUES (1)")
        .await
        .expect("setup");
    topo.wait_caught_up(0, Duration::from_secs(20))
        .await
        .expect("caught up");
    let mut r0 = mysql_async::Conn::from_url(&topo.replica_urls()[0])
        .await
        .expect("connect replica");

    topo.freeze_replica(0).await.expect("freeze");
    let frozen = tokio::time::timeout(ANSWER, r0.query_first::<i64, _>("SELECT count(*) FROM f"));
    assert!(frozen.await.is_err(), "a frozen replica answered");
    topo.thaw_replica(0).await.expect("thaw");
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        r0.query_first::<i64, _>("SELECT count(*) FROM f"),
    )
    .await
    .expect("answers after thaw")
    .expect("query");
    assert_eq!(n, Some(1));

    let mut victim = mysql_async::Conn::from_url(&topo.primary_url())
        .await
        .expect("connect primary");
    let killed = topo.kill_primary_connections().await.expect("kill");
    assert!(killed >= 1, "killed {killed}");
    assert!(victim.query_drop("SELECT 1").await.is_err());

    topo.restart_primary_immediate()
        .await
        .expect("crash restart");
    topo.execute_on_primary("INSERT INTO f VALUES (2)")
        .await
        .expect("write after crash");
    topo.wait_caught_up(0, Duration::from_secs(20))
        .await
        .expect("replicates");
}

//! Tests of the Oracle MySQL topology of ryw-testkit, against real servers (MySQL 9.7 from
//! the sid root `.ci/install-mysql` builds).
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a test failure"
)]

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use ryw_testkit::{Faults, MysqlTopology, Topology};

#[path = "common/my.rs"]
mod my;
use my::{conn, count, setup_table, wait_visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_and_pause_make_a_replica_stale_then_fresh() {
    let topo = MysqlTopology::shared(2).await.expect("start");
    eprintln!(
        "startup: mysql {} primary + 2 replicas in {:?}",
        topo.version().await.expect("version"),
        topo.started_in()
    );
    setup_table(topo, "lag_t").await;
    let mut primary = conn(&topo.primary_url()).await;
    let mut replica = conn(&topo.replica_urls()[0]).await;

    topo.set_lag(0, Duration::from_millis(500))
        .await
        .expect("lag");
    primary
        .query_drop("INSERT INTO lag_t VALUES (1)")
        .await
        .expect("insert");
    assert_eq!(
        count(&mut replica, "lag_t", 1).await,
        0,
        "must be stale under lag"
    );
    let took = wait_visible(&mut replica, "lag_t", 1, Duration::from_secs(10)).await;
    eprintln!("row visible on the replica {took:?} after the commit (lag 500 ms)");
    topo.set_lag(0, Duration::ZERO).await.expect("lag 0");

    let mut other = conn(&topo.replica_urls()[1]).await;
    topo.pause_replay(1).await.expect("pause");
    primary
        .query_drop("INSERT INTO lag_t VALUES (2)")
        .await
        .expect("insert");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(&mut other, "lag_t", 2).await,
        0,
        "paused replica applied"
    );
    assert!(
        topo.wait_caught_up(1, Duration::from_millis(300))
            .await
            .is_err(),
        "wait_caught_up must time out while paused"
    );
    topo.resume_replay(1).await.expect("resume");
    wait_visible(&mut other, "lag_t", 2, Duration::from_secs(5)).await;
    // Replicas refuse writes, even from root.
    assert!(
        other
            .query_drop("INSERT INTO lag_t VALUES (3)")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_restart_freeze_and_switch_the_leader() {
    let topo = MysqlTopology::start(2).await.expect("start");
    setup_table(&topo, "kill_t").await;
    let url = topo.replica_urls()[0].clone();

    topo.kill_replica(0).await.expect("kill");
    assert!(
        Conn::new(Opts::from_url(&url).expect("url")).await.is_err(),
        "killed replica still accepts connections"
    );
    topo.execute_on_primary("INSERT INTO kill_t VALUES (1)")
        .await
        .expect("insert");
    let t0 = Instant::now();
    topo.restart_replica(0).await.expect("restart replica");
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("caught up");
    eprintln!("mysql replica restart + catch-up in {:?}", t0.elapsed());
    assert_eq!(count(&mut conn(&url).await, "kill_t", 1).await, 1);

    let t0 = Instant::now();
    topo.restart_primary_immediate()
        .await
        .expect("crash primary");
    eprintln!("mysql primary crash + restart in {:?}", t0.elapsed());
    topo.execute_on_primary("INSERT INTO kill_t VALUES (2)")
        .await
        .expect("insert after primary restart");
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("caught up after primary restart");

    // A frozen replica answers nothing until thawed.
    topo.freeze_replica(1).await.expect("freeze");
    let frozen = tokio::time::timeout(
        Duration::from_millis(500),
        Conn::new(Opts::from_url(&topo.replica_urls()[1]).expect("url")),
    )
    .await;
    assert!(frozen.is_err(), "a frozen replica answered");
    topo.thaw_replica(1).await.expect("thaw");

    // Client connections of the leader die; replication does not.
    let mut victim = conn(&topo.primary_url()).await;
    assert!(
        topo.kill_primary_connections()
            .await
            .expect("kill connections")
            >= 1
    );
    assert!(
        victim.query_drop("SELECT 1").await.is_err(),
        "connection survived"
    );

    let t0 = Instant::now();
    topo.switchover(1).await.expect("switchover");
    eprintln!("mysql switchover in {:?}", t0.elapsed());
    assert_eq!(topo.primary_url(), topo.replica_urls()[1]);
    topo.execute_on_primary("INSERT INTO kill_t VALUES (3)")
        .await
        .expect("insert on the new leader");
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("the other replica follows the new leader");
    assert_eq!(count(&mut conn(&url).await, "kill_t", 3).await, 1);
}

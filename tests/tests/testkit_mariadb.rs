//! Tests of the MariaDB topology of ryw-testkit, against real servers.
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a test failure"
)]

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use ryw_testkit::{MariaDbTopology, Topology};

#[path = "common/my.rs"]
mod my;
use my::{conn, count, setup_table, wait_visible};

#[tokio::test]
async fn lag_makes_replica_stale_then_visible() {
    let topo = MariaDbTopology::shared(2).await.expect("start");
    eprintln!(
        "startup: mariadb primary + 2 replicas in {:?}",
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count(&mut replica, "lag_t", 1).await,
        0,
        "still stale at 200 ms"
    );
    let took = wait_visible(&mut replica, "lag_t", 1, Duration::from_secs(10)).await;
    eprintln!("row visible {took:?} after the 200 ms check (lag 500 ms)");

    topo.set_lag(0, Duration::ZERO).await.expect("lag 0");
    primary
        .query_drop("INSERT INTO lag_t VALUES (2)")
        .await
        .expect("insert");
    let took = wait_visible(&mut replica, "lag_t", 2, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_millis(450),
        "no lag, yet took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_keeps_write_invisible_until_resume() {
    let topo = MariaDbTopology::shared(2).await.expect("start");
    setup_table(topo, "pause_t").await;
    let mut primary = conn(&topo.primary_url()).await;
    let mut replica = conn(&topo.replica_urls()[1]).await;

    topo.pause_replay(1).await.expect("pause");
    primary
        .query_drop("INSERT INTO pause_t VALUES (1)")
        .await
        .expect("insert");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(&mut replica, "pause_t", 1).await,
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
    wait_visible(&mut replica, "pause_t", 1, Duration::from_secs(5)).await;
    topo.wait_caught_up(1, Duration::from_secs(5))
        .await
        .expect("caught up");
}

#[tokio::test]
async fn kill_restart_replica_and_primary() {
    let topo = MariaDbTopology::start(1).await.expect("start");
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
    eprintln!("mariadb replica restart + catch-up in {:?}", t0.elapsed());
    assert_eq!(count(&mut conn(&url).await, "kill_t", 1).await, 1);

    let t0 = Instant::now();
    topo.restart_primary().await.expect("restart primary");
    eprintln!("mariadb primary restart in {:?}", t0.elapsed());
    topo.execute_on_primary("INSERT INTO kill_t VALUES (2)")
        .await
        .expect("insert after primary restart");
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("caught up after primary restart");
    assert_eq!(count(&mut conn(&url).await, "kill_t", 2).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topologies_at_once() {
    let (a, b) = tokio::join!(MariaDbTopology::start(1), MariaDbTopology::start(1));
    let (a, b) = (a.expect("start a"), b.expect("start b"));
    eprintln!(
        "startup: two mariadb primary + 1 replica in parallel: {:?} / {:?}",
        a.started_in(),
        b.started_in()
    );
    let mut urls = vec![a.primary_url(), b.primary_url()];
    urls.extend(a.replica_urls());
    urls.extend(b.replica_urls());
    let mut dedup = urls.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), urls.len(), "port clash: {urls:?}");
    setup_table(&a, "two_t").await;
    setup_table(&b, "two_t").await;
    a.execute_on_primary("INSERT INTO two_t VALUES (1)")
        .await
        .expect("insert a");
    a.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("a");
    b.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("b");
    assert_eq!(
        count(&mut conn(&a.replica_urls()[0]).await, "two_t", 1).await,
        1
    );
    assert_eq!(
        count(&mut conn(&b.replica_urls()[0]).await, "two_t", 1).await,
        0
    );
    let dir = a.dir().to_path_buf();
    drop(a);
    assert!(!dir.exists(), "drop must remove {}", dir.display());
}

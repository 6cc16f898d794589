//! Tests of the Postgres topology of ryw-testkit, against real servers.
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a test failure"
)]

use std::time::{Duration, Instant};

use ryw_testkit::{PgTopology, Topology};
use tokio_postgres::{Client, NoTls};

async fn client(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

async fn count(c: &Client, table: &str, id: i32) -> i64 {
    c.query_one(
        &format!("SELECT count(*) FROM {table} WHERE id = $1"),
        &[&id],
    )
    .await
    .expect("count")
    .get(0)
}

/// Polls (bounded) until the row is visible; returns the time it took.
async fn wait_visible(c: &Client, table: &str, id: i32, bound: Duration) -> Duration {
    let t0 = Instant::now();
    while count(c, table, id).await == 0 {
        assert!(
            t0.elapsed() < bound,
            "row {id} of {table} not visible after {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t0.elapsed()
}

async fn setup_table(topo: &impl Topology, table: &str) {
    topo.execute_on_primary(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int primary key)"
    ))
    .await
    .expect("create table");
    for r in 0..topo.replica_count() {
        topo.wait_caught_up(r, Duration::from_secs(10))
            .await
            .expect("caught up");
    }
}

#[tokio::test]
async fn lag_makes_replica_stale_then_visible() {
    let topo = PgTopology::shared(2).await.expect("start");
    eprintln!(
        "startup: postgres primary + 2 replicas in {:?}",
        topo.started_in()
    );
    setup_table(topo, "lag_t").await;
    let primary = client(&topo.primary_url()).await;
    let replica = client(&topo.replica_urls()[0]).await;

    topo.set_lag(0, Duration::from_millis(500))
        .await
        .expect("lag");
    primary
        .execute("INSERT INTO lag_t VALUES (1)", &[])
        .await
        .expect("insert");
    assert_eq!(
        count(&replica, "lag_t", 1).await,
        0,
        "must be stale under lag"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count(&replica, "lag_t", 1).await,
        0,
        "still stale at 200 ms"
    );
    let took = wait_visible(&replica, "lag_t", 1, Duration::from_secs(10)).await;
    eprintln!("row visible {took:?} after the 200 ms check (lag 500 ms)");

    topo.set_lag(0, Duration::ZERO).await.expect("lag 0");
    primary
        .execute("INSERT INTO lag_t VALUES (2)", &[])
        .await
        .expect("insert");
    let took = wait_visible(&replica, "lag_t", 2, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_millis(450),
        "no lag, yet took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_keeps_write_invisible_until_resume() {
    let topo = PgTopology::shared(2).await.expect("start");
    setup_table(topo, "pause_t").await;
    let primary = client(&topo.primary_url()).await;
    let replica = client(&topo.replica_urls()[1]).await;

    topo.pause_replay(1).await.expect("pause");
    primary
        .execute("INSERT INTO pause_t VALUES (1)", &[])
        .await
        .expect("insert");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(&replica, "pause_t", 1).await,
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
    wait_visible(&replica, "pause_t", 1, Duration::from_secs(5)).await;
    topo.wait_caught_up(1, Duration::from_secs(5))
        .await
        .expect("caught up");
}

#[tokio::test]
async fn kill_restart_replica_and_primary() {
    let topo = PgTopology::start(1).await.expect("start");
    setup_table(&topo, "kill_t").await;
    let url = topo.replica_urls()[0].clone();

    topo.kill_replica(0).await.expect("kill");
    assert!(
        tokio_postgres::connect(&url, NoTls).await.is_err(),
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
    eprintln!("postgres replica restart + catch-up in {:?}", t0.elapsed());
    assert_eq!(count(&client(&url).await, "kill_t", 1).await, 1);

    let t0 = Instant::now();
    topo.restart_primary().await.expect("restart primary");
    eprintln!("postgres primary restart in {:?}", t0.elapsed());
    topo.execute_on_primary("INSERT INTO kill_t VALUES (2)")
        .await
        .expect("insert after primary restart");
    topo.wait_caught_up(0, Duration::from_secs(10))
        .await
        .expect("caught up after primary restart");
    assert_eq!(count(&client(&url).await, "kill_t", 2).await, 1);
}

#[tokio::test]
async fn promotion_leaves_writable_replica_on_new_timeline() {
    let topo = PgTopology::start(1).await.expect("start");
    setup_table(&topo, "promo_t").await;
    let url = topo.replica_urls()[0].clone();
    let r = client(&url).await;
    assert!(
        r.batch_execute("INSERT INTO promo_t VALUES (1)")
            .await
            .is_err(),
        "a replica must be read-only"
    );
    topo.promote(0).await.expect("promote");
    let r = client(&url).await;
    let in_recovery: bool = r
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .expect("query")
        .get(0);
    assert!(!in_recovery);
    r.batch_execute("INSERT INTO promo_t VALUES (1)")
        .await
        .expect("promoted replica is writable");
    let tli: String = r
        .query_one(
            "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)",
            &[],
        )
        .await
        .expect("timeline")
        .get(0);
    assert_eq!(tli, "00000002", "promoted replica must be on timeline 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topologies_at_once() {
    let (a, b) = tokio::join!(PgTopology::start(1), PgTopology::start(1));
    let (a, b) = (a.expect("start a"), b.expect("start b"));
    eprintln!(
        "startup: two postgres primary + 1 replica in parallel: {:?} / {:?}",
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
        count(&client(&a.replica_urls()[0]).await, "two_t", 1).await,
        1
    );
    assert_eq!(
        count(&client(&b.replica_urls()[0]).await, "two_t", 1).await,
        0
    );
    let dir = a.dir().to_path_buf();
    drop(a);
    assert!(!dir.exists(), "drop must remove {}", dir.display());
}

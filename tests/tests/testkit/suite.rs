//! The suite every backend runs. `testkit_suite!(Backend)` expands its tests in the calling
//! module, for that [`Backend`](crate::backend::Backend).

use std::time::{Duration, Instant};

use ryw_testkit::Topology;

use crate::backend::Backend;
use crate::client::setup_table;
use crate::steps::{
    conn, count, exec, kill_and_restart_replica, paused_then_resumed,
    replicates_after_primary_restart, stale_under_lag, wait_visible,
};

macro_rules! testkit_suite {
    ($backend:ty) => {
        testkit_suite!(@test $backend, lag_makes_replica_stale_then_visible, tokio::test);
        testkit_suite!(@test $backend, pause_keeps_write_invisible_until_resume,
            tokio::test(flavor = "multi_thread", worker_threads = 2));
        testkit_suite!(@test $backend, kill_restart_replica_and_primary, tokio::test);
        testkit_suite!(@test $backend, two_topologies_at_once,
            tokio::test(flavor = "multi_thread", worker_threads = 2));
    };
    (@test $backend:ty, $name:ident, $attr:meta) => {
        #[$attr]
        async fn $name() {
            crate::suite::$name::<$backend>().await;
        }
    };
}

pub(crate) async fn lag_makes_replica_stale_then_visible<B: Backend>() {
    let topo = B::shared(2).await.expect("start");
    eprintln!(
        "startup: {} primary + 2 replicas in {:?}",
        B::NAME,
        B::started_in(topo)
    );
    setup_table(topo, "lag_t").await;
    let mut primary = conn::<B>(&topo.primary_url()).await;
    let mut replica = conn::<B>(&topo.replica_urls()[0]).await;

    stale_under_lag::<B>(topo, &mut primary, &mut replica, "lag_t", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count::<B>(&mut replica, "lag_t", 1).await,
        0,
        "still stale at 200 ms"
    );
    let took = wait_visible::<B>(&mut replica, "lag_t", 1, Duration::from_secs(10)).await;
    eprintln!("row visible {took:?} after the 200 ms check (lag 500 ms)");

    topo.set_lag(0, Duration::ZERO).await.expect("lag 0");
    exec::<B>(&mut primary, "INSERT INTO lag_t VALUES (2)")
        .await
        .expect("insert");
    let took = wait_visible::<B>(&mut replica, "lag_t", 2, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_millis(450),
        "no lag, yet took {took:?}"
    );
}

pub(crate) async fn pause_keeps_write_invisible_until_resume<B: Backend>() {
    let topo = B::shared(2).await.expect("start");
    setup_table(topo, "pause_t").await;
    let mut primary = conn::<B>(&topo.primary_url()).await;
    let mut replica = conn::<B>(&topo.replica_urls()[1]).await;

    paused_then_resumed::<B>(topo, &mut primary, &mut replica, "pause_t", 1).await;
    topo.wait_caught_up(1, Duration::from_secs(5))
        .await
        .expect("caught up");
}

pub(crate) async fn kill_restart_replica_and_primary<B: Backend>() {
    let topo = B::start(1).await.expect("start");
    setup_table(&topo, "kill_t").await;
    let url = topo.replica_urls()[0].clone();
    kill_and_restart_replica::<B>(&topo, &url).await;

    let t0 = Instant::now();
    topo.restart_primary().await.expect("restart primary");
    eprintln!("{} primary restart in {:?}", B::NAME, t0.elapsed());
    replicates_after_primary_restart::<B>(&topo).await;
    assert_eq!(count::<B>(&mut conn::<B>(&url).await, "kill_t", 2).await, 1);
}

pub(crate) async fn two_topologies_at_once<B: Backend>() {
    let (a, b) = tokio::join!(B::start(1), B::start(1));
    let (a, b) = (a.expect("start a"), b.expect("start b"));
    eprintln!(
        "startup: two {} primary + 1 replica in parallel: {:?} / {:?}",
        B::NAME,
        B::started_in(&a),
        B::started_in(&b)
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
        count::<B>(&mut conn::<B>(&a.replica_urls()[0]).await, "two_t", 1).await,
        1
    );
    assert_eq!(
        count::<B>(&mut conn::<B>(&b.replica_urls()[0]).await, "two_t", 1).await,
        0
    );
    let dir = B::dir(&a);
    drop(a);
    assert!(!dir.exists(), "drop must remove {}", dir.display());
}

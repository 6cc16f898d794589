//! Oracle MySQL (9.7 from the sid root `.ci/install-mysql` builds): lag and paused replay on
//! its shared topology, then kills, a crash restart, a frozen replica, killed client
//! connections and a switch of the leader on a topology of its own.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use ryw_testkit::{Faults, MysqlTopology, Topology};

use crate::backend::Mysql;
use crate::client::setup_table;
use crate::steps::{
    conn, count, kill_and_restart_replica, paused_then_resumed, replicates_after_primary_restart,
    stale_under_lag, wait_visible,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_and_pause_make_a_replica_stale_then_fresh() {
    let topo = MysqlTopology::shared(2).await.expect("start");
    eprintln!(
        "startup: mysql {} primary + 2 replicas in {:?}",
        topo.version().await.expect("version"),
        topo.started_in()
    );
    setup_table(topo, "lag_t").await;
    let mut primary = conn::<Mysql>(&topo.primary_url()).await;
    let mut replica = conn::<Mysql>(&topo.replica_urls()[0]).await;

    stale_under_lag::<Mysql>(topo, &mut primary, &mut replica, "lag_t", 1).await;
    let took = wait_visible::<Mysql>(&mut replica, "lag_t", 1, Duration::from_secs(10)).await;
    eprintln!("row visible on the replica {took:?} after the commit (lag 500 ms)");
    topo.set_lag(0, Duration::ZERO).await.expect("lag 0");

    let mut other = conn::<Mysql>(&topo.replica_urls()[1]).await;
    paused_then_resumed::<Mysql>(topo, &mut primary, &mut other, "lag_t", 2).await;
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
    kill_and_restart_replica::<Mysql>(&topo, &url).await;

    let t0 = Instant::now();
    topo.restart_primary_immediate()
        .await
        .expect("crash primary");
    eprintln!("mysql primary crash + restart in {:?}", t0.elapsed());
    replicates_after_primary_restart::<Mysql>(&topo).await;

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
    let mut victim = conn::<Mysql>(&topo.primary_url()).await;
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
    assert_eq!(
        count::<Mysql>(&mut conn::<Mysql>(&url).await, "kill_t", 3).await,
        1
    );
}

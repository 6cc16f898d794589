//! Postgres: the suite, a promotion, and the harsher faults ending in a switchover that moves
//! the leader without losing a write (the multi-host URL follows it).

use std::time::Duration;

use ryw_testkit::{Faults, PgTopology, Topology};

use crate::backend::Postgres;
use crate::client::setup_table;
use crate::steps::{conn, survives_harsh_faults};

testkit_suite!(Postgres);

async fn pg_count(c: &mut tokio_postgres::Client) -> i64 {
    c.query_one("SELECT count(*) FROM f", &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn promotion_leaves_writable_replica_on_new_timeline() {
    let topo = PgTopology::start(1).await.expect("start");
    setup_table(&topo, "promo_t").await;
    let url = topo.replica_urls()[0].clone();
    let r = conn::<Postgres>(&url).await;
    assert!(
        r.batch_execute("INSERT INTO promo_t VALUES (1)")
            .await
            .is_err(),
        "a replica must be read-only"
    );
    topo.promote(0).await.expect("promote");
    let r = conn::<Postgres>(&url).await;
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
async fn faults_and_switchover() {
    let topo = PgTopology::start(2).await.expect("start");
    survives_harsh_faults::<Postgres>(&topo, 1).await;

    // Switchover to replica 0: every row is there, replica 1 follows the new leader, and a
    // client on the multi-host URL writes to it.
    topo.set_lag(0, Duration::from_millis(300))
        .await
        .expect("lag");
    topo.switchover(0).await.expect("switchover");
    assert!(!topo.is_replica(0) && topo.is_replica(1));
    assert_eq!(topo.primary_url(), topo.replica_urls()[0]);
    let mut leader = conn::<Postgres>(&topo.leader_url()).await;
    assert_eq!(pg_count(&mut leader).await, 2, "a write was lost");
    leader
        .simple_query("INSERT INTO f VALUES (3)")
        .await
        .expect("write on the new leader");
    topo.wait_caught_up(1, Duration::from_secs(20))
        .await
        .expect("replica 1 follows the new leader");
    let mut r1 = conn::<Postgres>(&topo.replica_urls()[1]).await;
    assert_eq!(pg_count(&mut r1).await, 3);
    assert!(topo.freeze_replica(0).await.is_err(), "froze the leader");
    assert!(topo.switchover(1).await.is_err(), "a second switchover");
}

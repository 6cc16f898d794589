//! A lossy failover on MySQL and MariaDB: the primary dies, a replica that had not received
//! the last write is promoted. GTIDs name the server that wrote them, so the floor of the
//! lost write names the old primary and no node will ever hold it. ryw splits such a floor
//! into what the new leader holds and what it can never have: the latter is counted lost and
//! dropped, so reads of that scope neither wait their budget nor go to the leader, while the
//! write that survived stays fenced (a lagging replica is shown stale for it first).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Session, eventually, node_version, reached};
use ryw::{Mysql, ReplicatedPool, Router, RouterConfig, TrackerConfig};
use ryw::{Prefer, ReadPolicy, ScopeKey};
use ryw_proof::backends::setup_sql;
use ryw_testkit::{MariaDbTopology, MysqlTopology, Topology};

/// What differs between the two topologies: their URLs and their failover.
trait Lossy: Topology {
    fn leader(&self) -> String;
    async fn fail_over_to(&self, replica: usize);
}

impl Lossy for MysqlTopology {
    fn leader(&self) -> String {
        self.leader_url()
    }
    async fn fail_over_to(&self, replica: usize) {
        self.failover(replica).await.unwrap();
    }
}

impl Lossy for MariaDbTopology {
    fn leader(&self) -> String {
        self.leader_url()
    }
    async fn fail_over_to(&self, replica: usize) {
        self.failover(replica).await.unwrap();
    }
}

async fn lost_gtids_are_counted_and_cost_no_wait(topo: impl Lossy) {
    topo.execute_on_primary(&setup_sql(3)).await.unwrap();
    for r in 0..2 {
        topo.wait_caught_up(r, Duration::from_secs(30))
            .await
            .unwrap();
    }
    let urls = topo.replica_urls();
    let pool = ReplicatedPool::builder(Mysql::new(), topo.leader())
        .replica("r0", &urls[0])
        .replica("r1", &urls[1])
        .build()
        .unwrap();
    // Reads prefer replicas and wait up to 1 s: a floor no node will reach would cost each
    // read that whole second.
    let config = RouterConfig::default()
        .with_policy(ReadPolicy::default().with_prefer(Prefer::Replica))
        .with_tracker(TrackerConfig::default().with_idle_interval(Duration::from_millis(100)));
    let router = Router::new(pool, config).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    // r0 (to be promoted) trails by 1 s, r1 by 3 s.
    topo.set_lag(0, Duration::from_secs(1)).await.unwrap();
    topo.set_lag(1, Duration::from_secs(3)).await.unwrap();
    let (kept, lost, after) = (
        ScopeKey::of("user_id", 1),
        ScopeKey::of("user_id", 2),
        ScopeKey::of("user_id", 3),
    );
    let session = Session::new(&router);
    let write = async |scope: &ScopeKey, id: i64| session.write(scope, id).await;
    let read = async |scope: &ScopeKey, id: i64| session.read(scope, id).await;

    // W1 reaches r0; W2 is acknowledged by the primary but still held back on its way.
    assert!(write(&kept, 1).await.position.is_some());
    let r0 = &urls[0];
    assert!(
        reached::<Mysql>(r0, 1).await,
        "r0 never received the first write"
    );
    // r1 trails by 3 s: a plain read of W1 there is stale.
    assert_eq!(
        node_version::<Mysql>(&urls[1], 1).await,
        Some(0),
        "r1 not stale: nothing to show"
    );
    assert!(write(&lost, 2).await.position.is_some());
    topo.fail_over_to(0).await;

    let leader = topo.leader();
    assert_eq!(
        node_version::<Mysql>(&leader, 2).await,
        Some(0),
        "the write was not lost"
    );
    assert_eq!(node_version::<Mysql>(&leader, 1).await, Some(1));
    // The failover repointed r1 without lag; it trails by 3 s again for the writes below.
    topo.set_lag(1, Duration::from_secs(3)).await.unwrap();

    // The router notices the new leader by itself (its leader poll).
    assert!(
        eventually(Duration::from_secs(15), async || router
            .stats()
            .epoch_changes
            >= 1)
        .await,
        "the router never saw the new leader: {:?}",
        router.stats()
    );
    // W1 survived: still fenced, never read stale.
    let r = read(&kept, 1).await;
    assert_eq!(
        r.value, 1,
        "stale read of a surviving write from {:?}",
        r.served_by
    );
    // r1 catches up with the new leader: what survived of every floor is on it.
    topo.set_lag(1, Duration::ZERO).await.unwrap();
    topo.wait_caught_up(1, Duration::from_secs(30))
        .await
        .unwrap();
    // W2 was lost: counted once, dropped from the floor, and its reads cost no wait.
    let r = read(&lost, 2).await;
    assert_eq!(r.value, 0, "a lost write cannot be read");
    assert!(
        r.waited < Duration::from_millis(900) && r.fallback.is_none(),
        "a lost GTID still fenced its scope: waited {:?} ({:?} on {:?})",
        r.waited,
        r.fallback,
        r.served_by
    );
    let stats = router.stats();
    assert_eq!(stats.lost_floors, 1, "{stats:?}");
    let _ = read(&lost, 2).await;
    assert_eq!(router.stats().lost_floors, 1, "counted again");
    // Writes on the new leader are fenced as usual: r1 is shown stale for one first.
    topo.set_lag(1, Duration::from_secs(3)).await.unwrap();
    assert!(write(&after, 3).await.position.is_some());
    assert_eq!(
        node_version::<Mysql>(&urls[1], 3).await,
        Some(0),
        "r1 not stale after the failover: nothing to show"
    );
    let r = read(&after, 3).await;
    assert_eq!(
        r.value, 1,
        "read after the failover missed its write ({:?})",
        r.served_by
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_gtid_mysql_lossy_failover_counts_and_drops_the_lost_write() {
    lost_gtids_are_counted_and_cost_no_wait(MysqlTopology::start(2).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_gtid_mariadb_lossy_failover_counts_and_drops_the_lost_write() {
    lost_gtids_are_counted_and_cost_no_wait(MariaDbTopology::start(2).await.unwrap()).await;
}

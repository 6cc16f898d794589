//! A frozen replica (SIGSTOP: connections open, nothing answers) neither hangs reads nor keeps
//! receiving them: the tracker marks it offline within one poll deadline, a read caught on it
//! is abandoned at its deadline and run again on the leader (or, under `Fallback::Error`,
//! fails with a retryable error), and new reads are served elsewhere.
//! Postgres and MariaDB; a plain query on the frozen replica is shown to hang first.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::Duration;

use ryw::{Fallback, ReadPolicy, RywContext, ScopeKey};

use ryw::backend::ReplicationBackend;
use ryw::store::MemoryStore;
use ryw::{Error, FallbackReason, ReplicatedPool, Router, RouterConfig, ServedBy, TrackerConfig};
use ryw_proof::backends::{ProofBackend, setup_sql};
use ryw_testkit::{Faults, MariaDbTopology, PgTopology};
use tokio::time::Instant;

/// Far above every deadline configured below: reaching it means something hung.
const HANG: Duration = Duration::from_secs(5);

async fn frozen_replica_costs_one_deadline<B: ProofBackend, T: Faults>(topo: &T, backend: B) {
    topo.execute_on_primary(&setup_sql(1)).await.unwrap();
    for r in 0..2 {
        topo.wait_caught_up(r, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let urls = topo.replica_urls();
    let pool = ReplicatedPool::builder(backend, topo.primary_url())
        .replica("r0", &urls[0])
        .replica("r1", &urls[1])
        .build()
        .unwrap();
    let config = RouterConfig::default()
        .with_tracker(
            TrackerConfig::default()
                .with_idle_interval(Duration::from_millis(100))
                .with_poll_timeout(Duration::from_millis(300)),
        )
        .with_replica_deadlines(Duration::from_millis(300), Duration::from_secs(1));
    let router = Router::with_store(pool, config, Arc::new(MemoryStore::new(100)))
        .await
        .unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    let user = ScopeKey::of("user_id", 1);
    // Warm both replicas' pools.
    for _ in 0..4 {
        read(&router, &user).await.unwrap();
    }

    // A read caught on a replica when it freezes: the closure freezes both, so whichever
    // serves it stops answering mid-read. Under `Fallback::Error` it fails at its deadline.
    let strict = ReadPolicy::default().with_fallback(Fallback::Error);
    let caught = RywContext::new().run(router.read_with(
        &user,
        &strict,
        async |conn: &mut B::Connection| {
            topo.freeze_replica(0).await.unwrap();
            topo.freeze_replica(1).await.unwrap();
            B::version(conn, 1).await
        },
    ));
    let res = tokio::time::timeout(HANG, caught)
        .await
        .expect("a read on a frozen replica hung");
    assert!(
        matches!(
            res,
            Err(Error::Deadline {
                what: "replica read",
                ..
            })
        ),
        "{res:?}"
    );
    topo.thaw_replica(0).await.unwrap();
    topo.thaw_replica(1).await.unwrap();
    let back = Instant::now();
    while router.replica_status().iter().any(|(_, s)| !s.online) && back.elapsed() < HANG {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(router.replica_status().iter().all(|(_, s)| s.online));
    for _ in 0..4 {
        read(&router, &user).await.unwrap();
    }

    // Under the default policy the abandoned read runs again on the leader.
    let caught = RywContext::new().run(router.read(&user, async |conn: &mut B::Connection| {
        topo.freeze_replica(0).await.unwrap();
        topo.freeze_replica(1).await.unwrap();
        B::version(conn, 1).await
    }));
    // Notes when the tracker first reports replica 0 offline.
    let watched = router.clone();
    let offline = tokio::spawn(async move {
        let t0 = Instant::now();
        while watched.replica_status()[0].1.online && t0.elapsed() < HANG {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Instant::now()
    });
    let started = Instant::now();
    let res = tokio::time::timeout(HANG, caught).await;
    let took = started.elapsed();
    let r = res
        .expect("a read on a frozen replica hung")
        .expect("the leader serves a read abandoned on a frozen replica");
    assert_eq!(r.value, 0);
    assert_eq!(r.served_by, ServedBy::Leader);
    assert_eq!(r.fallback, Some(FallbackReason::ReplicaDeadline));
    assert_eq!(router.stats().reads_rerun_on_leader, 1);
    topo.thaw_replica(1).await.unwrap();
    println!("read caught on a frozen replica served by the leader after {took:?}");

    // The plain query on the frozen replica hangs: the fault is real.
    let mut naive = router.pool().replica(0).await;
    if let Ok(conn) = naive.as_mut() {
        let q = tokio::time::timeout(Duration::from_secs(1), B::version(conn, 1)).await;
        assert!(q.is_err(), "the frozen replica answered");
    }
    drop(naive);

    // The tracker marked it offline within its poll deadline (bounded wait, generous).
    let offline_at = offline.await.unwrap();
    assert!(
        !router.replica_status()[0].1.online,
        "the frozen replica is still online"
    );
    println!(
        "frozen replica marked offline {:?} after the freeze",
        offline_at - started
    );

    // New reads while it stays frozen: none hangs, none fails.
    let mut took = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let r = tokio::time::timeout(HANG, read(&router, &user)).await;
        r.expect("a read hung").expect("a read failed");
        took.push(t.elapsed());
    }
    took.sort();
    println!(
        "40 reads during the freeze: p50 {:?}, max {:?}",
        took[20], took[39]
    );
    assert!(router.stats().deadline_hits >= 1);
    topo.thaw_replica(0).await.unwrap();
    // Back online by itself.
    let t0 = Instant::now();
    while !router.replica_status()[0].1.online {
        assert!(t0.elapsed() < Duration::from_secs(15), "never back online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read<B: ProofBackend>(router: &Router<B>, user: &ScopeKey) -> Result<i64, Error> {
    RywContext::new()
        .run(router.read(
            user,
            async |conn: &mut <B as ReplicationBackend>::Connection| B::version(conn, 1).await,
        ))
        .await
        .map(|r| r.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_replica() {
    let topo = PgTopology::start(2).await.unwrap();
    frozen_replica_costs_one_deadline(&topo, ryw::Postgres::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_frozen_replica() {
    let topo = MariaDbTopology::start(2).await.unwrap();
    let backend = ryw::Mysql::new().with_cluster_name("frozen-replica");
    frozen_replica_costs_one_deadline(&topo, backend).await;
}

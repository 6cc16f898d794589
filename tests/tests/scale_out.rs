//! Scale-out: three app instances (three routers) over one Postgres leader with three
//! replicas lagging 10 ms, 200 ms and 2 s, sharing floors through a real Redis Cluster
//! (3 masters). A write through instance A is read fresh through instance C with no token
//! and outside any context; reads go to the caught-up, least-lagged replica; the leader
//! share is reported against the physical minimum measured in the same run.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/tables.rs"]
mod tables;

use std::sync::Arc;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::position::Position;
use ryw::store::RedisStore;
use ryw::store::ScopeStore;
use ryw::{
    Fallback, Postgres, ReadPolicy, ReplicatedPool, Router, RouterConfig, ScopeKey, ServedBy,
};
use ryw_testkit::{PgTopology, RedisCluster, Topology};

const USERS: i64 = 40;
const LAGS_MS: [u64; 3] = [10, 200, 2000];

/// A deterministic generator for think times (one number does not need a crate).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn write(router: &Router<Postgres>, user: i64, v: i64) -> Position {
    router
        .write(&ScopeKey::of("user_id", user), async move |conn| {
            diesel::sql_query(format!("UPDATE accounts SET v = {v} WHERE id = {user}"))
                .execute(conn)
                .await
                .map_err(ryw::Error::from_diesel)
        })
        .await
        .unwrap()
        .position
        .expect("the capture succeeded")
}

/// Reads the user's value; returns it with where it was served.
async fn read(router: &Router<Postgres>, user: i64, policy: &ReadPolicy) -> (i64, ServedBy) {
    let routed = router
        .read_with(&ScopeKey::of("user_id", user), policy, async |conn| {
            diesel::select(sql::<BigInt>(&format!(
                "COALESCE((SELECT v FROM accounts WHERE id = {user}), -1)"
            )))
            .get_result::<i64>(conn)
            .await
            .map_err(ryw::Error::from_diesel)
        })
        .await
        .unwrap();
    (routed.value, routed.served_by)
}

/// Whether the replica behind `conn` has replayed `floor` right now.
async fn replayed(conn: &mut AsyncPgConnection, floor: &Position) -> bool {
    let text: String = diesel::select(sql::<Text>("pg_last_wal_replay_lsn()::text"))
        .get_result(conn)
        .await
        .unwrap();
    let at: Position = Position::Lsn(text.parse().unwrap());
    at.covers(floor).unwrap()
}

fn replica_index(served: &ServedBy) -> Option<usize> {
    match served {
        ServedBy::Replica(name) => name.strip_prefix('r').and_then(|i| i.parse().ok()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_three_replicas_one_redis_cluster() {
    let topo = PgTopology::start(3).await.unwrap();
    let redis = RedisCluster::start(3, 0).await.unwrap();
    tables::create_everywhere(
        &topo,
        &format!(
            "CREATE TABLE accounts (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
             INSERT INTO accounts SELECT g, 0 FROM generate_series(1, {USERS}) g"
        ),
    )
    .await;
    for (i, lag) in LAGS_MS.iter().enumerate() {
        topo.set_lag(i, Duration::from_millis(*lag)).await.unwrap();
    }
    let urls = redis.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let shared = || -> Arc<dyn ScopeStore> {
        Arc::new(RedisStore::cluster_from_urls(&urls, "ryw:").unwrap())
    };
    let config = RouterConfig::default();
    let a = common::router(&topo, Postgres::new(), config, shared()).await;
    let b = common::router(&topo, Postgres::new(), config, shared()).await;
    let c = common::router(&topo, Postgres::new(), config, shared()).await;
    // A fourth instance that keeps floors to itself: what C would be without the shared store.
    let mut pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url());
    for (i, url) in topo.replica_urls().iter().enumerate() {
        pool = pool.replica(format!("r{i}"), url);
    }
    let alone = Router::new(pool.build().unwrap(), config).await.unwrap();
    assert!(alone.ready(Duration::from_secs(10)).await);

    // Phase 1, the default policy: write through A, read through C after 0–300 ms.
    let policy = *config.policy();
    let mut rng = Lcg(7);
    let (mut stale, mut alone_stale, mut leader) = (0, 0, 0);
    let (mut served, mut unfenced) = ([0usize; 3], [0usize; 4]);
    let mut v = 0;
    for user in 1..=USERS {
        v += 1;
        write(&a, user, v).await;
        // Control: an instance that does not share floors reads at once.
        alone_stale += usize::from(read(&alone, user, &policy).await.0 < v);
        v += 1;
        write(&a, user, v).await;
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        let (value, by) = read(&c, user, &policy).await;
        stale += usize::from(value < v);
        match replica_index(&by) {
            Some(i) => served[i] += 1,
            None => leader += 1,
        }
        // Everyone else: B reads a scope nobody wrote (no floor), from the freshest replica.
        let (_, by) = read(&b, 0, &policy).await;
        unfenced[replica_index(&by).unwrap_or(3)] += 1;
    }
    eprintln!(
        "default policy, {USERS} reads through C: stale {stale}, leader {leader}, \
         by replica (lag 10/200/2000 ms) {served:?}; an instance without the shared store: \
         {alone_stale}/{USERS} stale; unfenced reads through B by replica, then leader \
         {unfenced:?}"
    );
    assert!(
        alone_stale > 0,
        "the lag did not show: a non-sharing instance read every write"
    );
    assert_eq!(stale, 0, "a read through C missed A's write");
    assert_eq!(
        served[2], 0,
        "the 2 s replica served a read it cannot have caught up for"
    );
    assert!(
        served[0] > served[1] + leader,
        "the least-lagged replica is not preferred: {served:?}, leader {leader}"
    );
    // Reads without a floor avoid the replica 2 s behind (round-robin would send it a third).
    assert_eq!(
        unfenced[2], 0,
        "unfenced reads went to the 2 s replica: {unfenced:?}"
    );

    // Phase 2, budget 0 (no wait, leader fallback): the leader share against the physical
    // minimum, i.e. reads for which even the 10 ms replica had not replayed the write when
    // the read was routed (probed on its own connection at the same moment).
    let no_wait = ReadPolicy::default()
        .with_wait_budget(Duration::ZERO)
        .with_fallback(Fallback::Leader);
    let mut probe = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();
    let (mut leader, mut physical, mut stale) = (0, 0, 0);
    for user in 1..=USERS {
        v += 1;
        let floor = write(&a, user, v).await;
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        let ((value, by), ready) =
            tokio::join!(read(&c, user, &no_wait), replayed(&mut probe, &floor));
        stale += usize::from(value < v);
        leader += usize::from(by == ServedBy::Leader);
        physical += usize::from(!ready);
    }
    eprintln!(
        "budget 0, {USERS} reads through C: leader share {leader}/{USERS}, physical minimum \
         {physical}/{USERS} (no replica had the write), stale {stale}"
    );
    assert_eq!(stale, 0, "a budget-0 read missed its write");
}

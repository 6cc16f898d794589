//! The shared position feed: with a shared store, one app instance at a time polls each
//! replica and the others read what it published, so the replica's position queries do not
//! grow with the number of instances; when the instance holding a replica's lease dies,
//! another takes over within the lease time, and no read is stale or hangs meanwhile.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::backend::ReplicationBackend;
use ryw::store::ScopeStore;
use ryw::store::{Demand, RedisStore};
use ryw::{Error, Mysql, Postgres, Router, RouterConfig, TrackerConfig};
use ryw::{Prefer, RywContext, ScopeKey};
use ryw_testkit::{MariaDbTopology, PgTopology, RedisServer, Topology};
use tokio::time::Instant;

mod common;
#[path = "common/pg_stats.rs"]
mod pg_stats;
#[path = "common/tables.rs"]
mod tables;

/// Rows per instance: each user writes its own.
const USERS: i64 = 4;

/// What a run of users saw: operations, stale reads, operations that overran 5 s.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    ops: u64,
    stale: u64,
    hung: u64,
}

/// One user of a router of `$backend`: writes its row (the next value) and reads it back in
/// one request context, from the replica once it has the write, until `until`.
macro_rules! user_fn {
    ($name:ident, $backend:ty, $conn:ty) => {
        async fn $name(router: Router<$backend>, id: i64, until: Instant) -> Seen {
            let scope = ScopeKey::of("user_id", id);
            let mut seen = Seen::default();
            let mut v = 0i64;
            while Instant::now() < until {
                v += 1;
                let ctx = RywContext::new();
                let (router, scope) = (router.clone(), scope.clone());
                let op = ctx.run(async move {
                    router
                        .write(&scope, async move |c: &mut $conn| {
                            diesel::sql_query(format!("UPDATE t SET v = {v} WHERE id = {id}"))
                                .execute(c)
                                .await
                                .map_err(Error::from)
                        })
                        .await?;
                    // Replica first, waiting for the replica: reads routed by the fed positions.
                    let policy = router
                        .policy()
                        .with_prefer(Prefer::Replica)
                        .with_wait_budget(Duration::from_millis(500));
                    let read = router.read_with(&scope, &policy, async move |c: &mut $conn| {
                        diesel::select(sql::<BigInt>(&format!("(SELECT v FROM t WHERE id = {id})")))
                            .get_result::<i64>(c)
                            .await
                            .map_err(Error::from)
                    });
                    read.await.map(|r| r.value)
                });
                match tokio::time::timeout(Duration::from_secs(5), op).await {
                    Ok(Ok(got)) => {
                        seen.ops += 1;
                        seen.stale += u64::from(got != v);
                    }
                    Ok(Err(e)) => panic!("user {id}: {e}"),
                    Err(_) => seen.hung += 1,
                }
            }
            seen
        }
    };
}

user_fn!(pg_user, Postgres, AsyncPgConnection);
user_fn!(my_user, Mysql, AsyncMysqlConnection);

/// `USERS` users (`user`) on each router for `run`; the sum of what they saw.
async fn load<B, F, Fut>(routers: &[Router<B>], run: Duration, user: F) -> Seen
where
    B: ReplicationBackend,
    F: Fn(Router<B>, i64, Instant) -> Fut,
    Fut: Future<Output = Seen> + Send + 'static,
{
    let until = Instant::now() + run;
    let mut tasks = Vec::new();
    for (i, r) in routers.iter().enumerate() {
        for u in 0..USERS {
            let id = i64::try_from(i).unwrap() * USERS + u + 1;
            tasks.push(tokio::spawn(user(r.clone(), id, until)));
        }
    }
    let mut all = Seen::default();
    for t in tasks {
        let s = t.await.unwrap();
        all.ops += s.ops;
        all.stale += s.stale;
        all.hung += s.hung;
    }
    all
}

fn queries<B: ReplicationBackend>(routers: &[Router<B>]) -> u64 {
    routers.iter().map(|r| r.stats().position_queries[0]).sum()
}

/// `topo`'s table `t` (64 rows), its replica 100 ms behind, and a Redis.
async fn setup<T: Topology>(topo: &T) -> RedisServer {
    let rows: Vec<String> = (1..=64).map(|i| format!("({i}, 0)")).collect();
    let ddl = format!(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES {}",
        rows.join(",")
    );
    tables::create_everywhere(topo, &ddl).await;
    topo.set_lag(0, Duration::from_millis(100)).await.unwrap();
    RedisServer::start().await.unwrap()
}

/// `n` routers of `backend` on `topo`, each with its own Redis store connection.
async fn routers<B: ReplicationBackend, T: Topology>(
    topo: &T,
    backend: &B,
    redis: &RedisServer,
    n: usize,
    feed: bool,
) -> Vec<Router<B>> {
    let tracker = TrackerConfig::default().with_position_feed(feed);
    routers_with(topo, backend, redis, n, tracker).await
}

async fn routers_with<B: ReplicationBackend, T: Topology>(
    topo: &T,
    backend: &B,
    redis: &RedisServer,
    n: usize,
    tracker: TrackerConfig,
) -> Vec<Router<B>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let config = RouterConfig::default().with_tracker(tracker);
        let store: Arc<dyn ScopeStore> =
            Arc::new(RedisStore::from_url(&redis.url(), "feed:").unwrap());
        out.push(common::router(topo, backend.clone(), config, store).await);
    }
    out
}

/// Position queries the replica answered in `run` under the users of `routers`, per second.
async fn measured<B, F, Fut>(routers: &[Router<B>], run: Duration, user: F) -> (f64, Seen)
where
    B: ReplicationBackend,
    F: Fn(Router<B>, i64, Instant) -> Fut,
    Fut: Future<Output = Seen> + Send + 'static,
{
    let before = queries(routers);
    let seen = load(routers, run, user).await;
    let rate = (queries(routers) - before) as f64 / run.as_secs_f64();
    (rate, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_feed_keeps_replica_polls_flat_as_instances_grow() {
    let topo = PgTopology::start(1).await.unwrap();
    let redis = setup(&topo).await;
    let pg = Postgres::new();
    let run = Duration::from_secs(3);
    let one = routers(&topo, &pg, &redis, 1, true).await;
    let (q1, s1) = measured(&one, run, pg_user).await;
    drop(one);
    let eight = routers(&topo, &pg, &redis, 8, true).await;
    let (q8, s8) = measured(&eight, run, pg_user).await;
    let per: Vec<_> = eight
        .iter()
        .map(|r| {
            (
                r.stats().position_queries[0],
                r.stats().replica_reads,
                r.stats().leader_reads,
            )
        })
        .collect();
    eprintln!("per router: position queries, replica reads, leader reads {per:?}");
    drop(eight);
    let own = routers(&topo, &pg, &redis, 8, false).await;
    let (q8_own, s8_own) = measured(&own, run, pg_user).await;
    eprintln!(
        "replica position queries/s: 1 instance {q1:.0} ({s1:?}); 8 with the feed {q8:.0} \
         ({s8:?}); 8 polling on their own {q8_own:.0} ({s8_own:?})"
    );
    for s in [s1, s8, s8_own] {
        assert!(s.ops > 0, "{s:?}");
        assert_eq!((s.stale, s.hung), (0, 0), "{s:?}");
    }
    assert!(
        q8 <= q1 * 1.5,
        "8 instances on the feed: {q8:.0}/s against {q1:.0}/s for one"
    );
    assert!(
        q8_own >= q8 * 3.0,
        "8 instances polling on their own ({q8_own:.0}/s) should cost several times the feed ({q8:.0}/s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_lease_moves_to_another_instance_when_its_holder_dies() {
    let topo = PgTopology::start(1).await.unwrap();
    let redis = setup(&topo).await;
    let mut all = routers(&topo, &Postgres::new(), &redis, 3, true).await;
    let cluster = all[0].cluster().clone();
    let feed_store = RedisStore::from_url(&redis.url(), "feed:").unwrap();
    let feed = feed_store.feed().unwrap();
    // Under load, one instance polls the replica; the others read the feed.
    let before: Vec<u64> = all.iter().map(|r| r.stats().position_queries[0]).collect();
    let seen = load(&all, Duration::from_secs(1), pg_user).await;
    let grew: Vec<u64> = all
        .iter()
        .zip(&before)
        .map(|(r, b)| r.stats().position_queries[0] - b)
        .collect();
    let holder = (0..grew.len()).max_by_key(|&i| grew[i]).unwrap();
    let others: u64 = grew
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != holder)
        .map(|(_, g)| g)
        .sum();
    eprintln!("position queries in 1 s per instance: {grew:?}; {seen:?}");
    assert!(grew[holder] >= 20 && others * 5 <= grew[holder], "{grew:?}");
    // The holder dies (its trackers stop: no renewal, no publish) while the others serve.
    let dead = all.remove(holder);
    drop(dead);
    let died = SystemTime::now();
    // TrackerConfig's default feed lease (the routers here use the default).
    let lease = Duration::from_secs(1);
    let watch = async {
        let deadline = Instant::now() + lease * 3;
        loop {
            let (entry, _) = feed.read(&cluster, "r0", Demand::Idle).await.unwrap();
            if entry.is_some_and(|e| e.observed_at > died + lease / 2) {
                return SystemTime::now().duration_since(died).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "nobody published after the holder died"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let (took, seen) = tokio::join!(watch, load(&all, lease * 2, pg_user));
    eprintln!("a new holder published {took:?} after the old one died; {seen:?}");
    assert!(seen.ops > 0);
    assert_eq!((seen.stale, seen.hung), (0, 0), "{seen:?}");
    assert!(took <= lease * 2, "took {took:?} (lease {lease:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_feed_keeps_replica_polls_flat_on_mariadb_from_1_to_16_instances() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    let redis = setup(&topo).await;
    let my = Mysql::new();
    let run = Duration::from_secs(3);
    let one = routers(&topo, &my, &redis, 1, true).await;
    let (q1, s1) = measured(&one, run, my_user).await;
    drop(one);
    let sixteen = routers(&topo, &my, &redis, 16, true).await;
    let (q16, s16) = measured(&sixteen, run, my_user).await;
    eprintln!(
        "MariaDB replica position queries/s: 1 instance {q1:.0} ({s1:?}); 16 on the feed \
         {q16:.0} ({s16:?})"
    );
    for s in [s1, s16] {
        assert!(s.ops > 0, "{s:?}");
        assert_eq!((s.stale, s.hung), (0, 0), "{s:?}");
    }
    assert!(
        q16 <= q1 * 1.5,
        "16 instances on the feed: {q16:.0}/s against {q1:.0}/s for one"
    );
}

/// Leader position queries the leader of `topo` answered so far.
async fn leader_polls(topo: &PgTopology) -> i64 {
    pg_stats::calls(&topo.primary_url(), "pg_current_wal_insert_lsn").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_feed_carries_the_leader_position_too() {
    let topo = PgTopology::start(1).await.unwrap();
    topo.execute_on_primary("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    let redis = setup(&topo).await;
    let pg = Postgres::new();
    let idle = Duration::from_secs(3);
    let mut counted = Vec::new();
    for feed in [true, false] {
        let eight = routers(&topo, &pg, &redis, 8, feed).await;
        let before = leader_polls(&topo).await;
        tokio::time::sleep(idle).await;
        counted.push(leader_polls(&topo).await - before);
        drop(eight);
    }
    let (fed, own) = (counted[0], counted[1]);
    eprintln!(
        "leader position queries in {idle:?} from 8 idle instances: {fed} on the feed, {own} polling on their own"
    );
    assert!(
        own >= 30,
        "the instances' own leader polls never showed: {own}"
    );
    assert!(fed * 2 <= own, "on the feed {fed}, on their own {own}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_feed_takes_an_unreachable_replica_offline_for_every_instance() {
    use ryw_testkit::Faults as _;
    let topo = PgTopology::start(1).await.unwrap();
    let redis = setup(&topo).await;
    // A lease (and entry age) of 5 s: only the holder's "unreachable" entry can take the
    // replica offline for the others within a second or so.
    let tracker = TrackerConfig::default().with_feed_lease(Duration::from_secs(5));
    let all = routers_with(&topo, &Postgres::new(), &redis, 3, tracker).await;
    let online = |r: &Router<Postgres>| r.replica_status()[0].1.online;
    assert!(all.iter().all(online));
    topo.freeze_replica(0).await.unwrap();
    let frozen = Instant::now();
    // The holder's poll overruns its deadline and it publishes the replica as unreachable;
    // the others read that at their next look instead of routing to it until the entry ages.
    let deadline = frozen + Duration::from_secs(5);
    while all.iter().any(online) {
        assert!(
            Instant::now() < deadline,
            "an instance kept the frozen replica online"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = frozen.elapsed();
    topo.thaw_replica(0).await.unwrap();
    let polled: Vec<u64> = all.iter().map(|r| r.stats().position_queries[0]).collect();
    eprintln!(
        "every instance took the frozen replica offline after {took:?}; own polls {polled:?}"
    );
    // One poll deadline (500 ms), then at most one idle look (500 ms) by each other instance.
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
}

//! Position queries per replica as app instances grow, with and without the shared position
//! feed, on the testkit's real PostgreSQL 15 (a leader, two replicas 100 ms and 300 ms
//! behind) and a real Redis.
//!
//! N router instances (N = 1, 4, 16, 64), each on its own thread and tokio runtime with its
//! own pools (2 connections each) and its own Redis store connection, serve one user each:
//! an iteration writes the user's row and reads it at once with probability 0.1, else only
//! reads it; think time uniform 0–100 ms. Every read checks staleness. For every N, with the
//! feed (the default with a shared store) and, for N ≤ 16, with each instance polling on its
//! own: the position queries each replica answered per second (counted by the replica,
//! `pg_stat_statements`), the feed's age as readers see it (p50 / p99, sampled every 20 ms
//! from Redis), the p99 of reads right after a write, the leader's share of reads, and the
//! stale reads. Prints a markdown table, and the on-paper figure for 100 instances.
//!
//! Run: `cargo bench -p ryw-integration-tests --bench position_feed` (6 s per run, about two
//! minutes), or `-- 3` for 3 s per run.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::panic
)]

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::{Rng, SeedableRng, rngs::StdRng};
use ryw::store::ScopeStore;
use ryw::store::{Demand, RedisStore};
use ryw::{ClusterId, RywContext, ScopeKey};
use ryw::{Error, PoolConfig, Postgres, ReplicatedPool, Router, RouterConfig, TrackerConfig};
use ryw_testkit::{PgTopology, RedisServer, Topology};
use tokio::time::Instant;

#[path = "../tests/common/pg_stats.rs"]
mod pg_stats;

const USERS: usize = 1;
/// What a replica position poll's statement contains.
const REPLICA_POLL: &str = "pg_last_wal_replay_lsn";
const LAGS_MS: [u64; 2] = [100, 300];

/// What one instance's users saw.
#[derive(Default)]
struct Seen {
    post_write_us: Vec<u64>,
    leader: u64,
    replica: u64,
    stale: u64,
}

fn percentile(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize] as f64
}

/// One user of `router`: row `id`, until `until`.
async fn user(router: Router<Postgres>, id: i64, until: Instant, seed: u64) -> Seen {
    let mut rng = StdRng::seed_from_u64(seed);
    let scope = ScopeKey::of("user_id", id);
    let (mut seen, mut v, ctx) = (Seen::default(), 0i64, RywContext::new());
    while Instant::now() < until {
        let think = Duration::from_millis(rng.random_range(0..100));
        tokio::time::sleep(think).await;
        let write = rng.random_bool(0.1);
        let (router, scope) = (router.clone(), scope.clone());
        let started = Instant::now();
        let op = ctx.clone().run(async move {
            if write {
                router
                    .write(&scope, async move |c: &mut AsyncPgConnection| {
                        diesel::sql_query(format!("UPDATE t SET v = {} WHERE id = {id}", v + 1))
                            .execute(c)
                            .await
                            .map_err(Error::from)
                    })
                    .await?;
            }
            let read_at = Instant::now();
            let r = router
                .read(&scope, async move |c: &mut AsyncPgConnection| {
                    diesel::select(sql::<BigInt>(&format!("(SELECT v FROM t WHERE id = {id})")))
                        .get_result::<i64>(c)
                        .await
                        .map_err(Error::from)
                })
                .await?;
            Ok::<_, Error>((r, read_at))
        });
        let Ok((r, read_at)) = op.await else { continue };
        let _ = started;
        if write {
            v += 1;
            seen.post_write_us
                .push(read_at.elapsed().as_micros() as u64);
        }
        seen.stale += u64::from(r.value < v);
        match r.served_by {
            ryw::ServedBy::Leader => seen.leader += 1,
            ryw::ServedBy::Replica(_) => seen.replica += 1,
        }
    }
    seen
}

/// One instance on its own thread and runtime: builds its router, waits for the others,
/// runs its users for `run`.
fn instance(
    topo: Arc<(String, Vec<String>, String)>,
    i: usize,
    feed: bool,
    prefix: String,
    run: Duration,
    start: Arc<Barrier>,
) -> Seen {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (leader, replicas, redis) = &*topo;
        let built = async {
            let mut pool = ReplicatedPool::builder(Postgres::new(), leader.clone());
            for (r, url) in replicas.iter().enumerate() {
                pool = pool.replica(format!("r{r}"), url.clone());
            }
            let pool = pool
                .config(PoolConfig::default().with_max_size(2))
                .build()
                .ok()?;
            let store: Arc<dyn ScopeStore> = Arc::new(RedisStore::from_url(redis, prefix).ok()?);
            let tracker = TrackerConfig::default().with_position_feed(feed);
            let config = RouterConfig::default().with_tracker(tracker);
            let router = Router::with_store(pool, config, store).await.ok()?;
            router
                .ready(Duration::from_secs(10))
                .await
                .then_some(router)
        };
        let router = built.await;
        // Every instance reaches the barrier, built or not, so the run never hangs on one;
        // this runtime's own thread: blocking it only pauses this instance's tasks.
        start.wait();
        let router = router.unwrap_or_else(|| panic!("instance {i}: no router ready"));
        let until = Instant::now() + run;
        let mut tasks = Vec::new();
        for u in 0..USERS {
            let id = i64::try_from(i * USERS + u + 1).unwrap();
            tasks.push(tokio::spawn(user(
                router.clone(),
                id,
                until,
                id.unsigned_abs(),
            )));
        }
        let mut all = Seen::default();
        for t in tasks {
            let s = t.await.unwrap();
            all.post_write_us.extend(s.post_write_us);
            all.leader += s.leader;
            all.replica += s.replica;
            all.stale += s.stale;
        }
        all
    })
}

struct Row {
    n: usize,
    feed: bool,
    per_s: Vec<f64>,
    age_ms: (f64, f64),
    post_write_p99_ms: f64,
    leader_share: f64,
    stale: u64,
    reads: u64,
}

async fn one(
    topo: &PgTopology,
    redis: &RedisServer,
    cluster: &ClusterId,
    n: usize,
    feed: bool,
    run: Duration,
) -> Row {
    let prefix = format!("pf{n}{feed}:");
    let shared = Arc::new((topo.primary_url(), topo.replica_urls(), redis.url()));
    let start = Arc::new(Barrier::new(n + 1));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (shared, prefix, start) = (Arc::clone(&shared), prefix.clone(), Arc::clone(&start));
            std::thread::spawn(move || instance(shared, i, feed, prefix, run, start))
        })
        .collect();
    tokio::task::block_in_place(|| start.wait());
    let urls = topo.replica_urls();
    let mut before = Vec::new();
    for u in &urls {
        before.push(pg_stats::calls(u, REPLICA_POLL).await);
    }
    let began = Instant::now();
    // The feed's age as a reader sees it, while the users run.
    let sampler = RedisStore::from_url(&redis.url(), prefix).unwrap();
    let mut ages = Vec::new();
    while began.elapsed() < run {
        for r in 0..urls.len() {
            if let Ok((Some(e), _)) = sampler
                .feed()
                .unwrap()
                .read(cluster, &format!("r{r}"), Demand::Idle)
                .await
            {
                ages.push(e.age(SystemTime::now()).as_millis() as u64);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut per_s = Vec::new();
    for (u, b) in urls.iter().zip(&before) {
        per_s.push(
            (pg_stats::calls(u, REPLICA_POLL).await - b) as f64 / began.elapsed().as_secs_f64(),
        );
    }
    let mut all = Seen::default();
    for t in threads {
        let s = tokio::task::block_in_place(|| t.join().unwrap());
        all.post_write_us.extend(s.post_write_us);
        all.leader += s.leader;
        all.replica += s.replica;
        all.stale += s.stale;
    }
    let reads = all.leader + all.replica;
    let age_ms = if feed {
        (percentile(&mut ages, 0.5), percentile(&mut ages, 0.99))
    } else {
        (f64::NAN, f64::NAN)
    };
    Row {
        n,
        feed,
        per_s,
        age_ms,
        post_write_p99_ms: percentile(&mut all.post_write_us, 0.99) / 1000.0,
        leader_share: all.leader as f64 / reads.max(1) as f64,
        stale: all.stale,
        reads,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(6)
        .clamp(1, 60);
    let run = Duration::from_secs(secs);
    let topo = PgTopology::start(2).await.expect("topology");
    let redis = RedisServer::start().await.expect("redis");
    let rows: Vec<String> = (1..=64 * USERS).map(|i| format!("({i}, 0)")).collect();
    topo.execute_on_primary(&format!(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
         CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES {}",
        rows.join(",")
    ))
    .await
    .unwrap();
    for (r, lag) in LAGS_MS.iter().enumerate() {
        topo.wait_caught_up(r, Duration::from_secs(10))
            .await
            .unwrap();
        topo.set_lag(r, Duration::from_millis(*lag)).await.unwrap();
    }
    let cluster = {
        let pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
            .build()
            .unwrap();
        let probe = Router::without_store(pool, RouterConfig::default())
            .await
            .unwrap();
        probe.cluster().clone()
    };
    let mut out = Vec::new();
    for (n, feed) in [
        (1, true),
        (4, true),
        (16, true),
        (64, true),
        (1, false),
        (4, false),
        (16, false),
    ] {
        let row = one(&topo, &redis, &cluster, n, feed, run).await;
        eprintln!("N = {n}, feed {feed}: {:?} position queries/s", row.per_s);
        out.push(row);
    }
    println!(
        "| instances | feed | position queries/s r0 | r1 | feed age p50 / p99 ms | post-write read p99 ms | leader share | reads | stale |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &out {
        let age = if r.feed {
            format!("{:.0} / {:.0}", r.age_ms.0, r.age_ms.1)
        } else {
            "—".into()
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {age} | {:.1} | {:.0}% | {} | {} |",
            r.n,
            if r.feed { "on" } else { "off" },
            r.per_s[0],
            r.per_s[1],
            r.post_write_p99_ms,
            r.leader_share * 100.0,
            r.reads,
            r.stale
        );
    }
    let own_1: f64 = out
        .iter()
        .find(|r| r.n == 1 && !r.feed)
        .map_or(0.0, |r| r.per_s.iter().sum::<f64>() / 2.0);
    let fed_64: f64 = out
        .iter()
        .find(|r| r.n == 64 && r.feed)
        .map_or(0.0, |r| r.per_s.iter().sum::<f64>() / 2.0);
    println!(
        "\nOn paper, 100 instances: each polling on its own ~{:.0} position queries/s per replica \
         (100 × {own_1:.0}); on the feed ~{fed_64:.0}/s (one holder per replica, as at N = 64).",
        100.0 * own_1
    );
}

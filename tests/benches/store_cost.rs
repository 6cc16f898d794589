//! What the scope store costs a fenced read: the same read (a request whose token carries
//! the scope's floor, replica caught up) through routers that differ only in their store —
//! none, in-process, a standalone Redis, a Redis Cluster — interleaved, against one Postgres
//! leader with 2 replicas. Prints latency, ratios to the store-less router, and the Redis
//! commands each read sent (from the servers' own `INFO commandstats`).
//!
//! Run: `cargo bench -p ryw-integration-tests --bench store_cost` (optionally `-- 3000` for
//! the number of iterations per variant).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ryw::store::RedisStore;
use ryw::store::ScopeStore;
use ryw::{Error, Postgres, ReplicatedPool, Router, RouterConfig, RywContext, ScopeKey};
use ryw_testkit::{PgTopology, RedisCluster, RedisServer, Topology};

#[path = "../tests/common/tables.rs"]
mod tables;

/// `INFO commandstats` of one server.
async fn commandstats(port: u16) -> String {
    let mut conn = ryw::store::redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = ryw::store::redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info
}

/// Calls of every Redis command the server has answered, but `INFO` and `CLIENT` (the
/// measuring connection's own setup and query).
async fn redis_calls(port: u16) -> u64 {
    commandstats(port)
        .await
        .lines()
        .filter(|l| {
            l.starts_with("cmdstat_")
                && !l.starts_with("cmdstat_info")
                && !l.starts_with("cmdstat_client")
        })
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

async fn redis_calls_all(ports: &[u16]) -> u64 {
    let mut n = 0;
    for p in ports {
        n += redis_calls(*p).await;
    }
    n
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

struct Variant {
    name: &'static str,
    router: Router<Postgres>,
    redis_ports: Vec<u16>,
    nanos: Vec<u64>,
    redis_calls: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let topo = PgTopology::start(2).await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE TABLE bench (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO bench VALUES (1, 0)",
    )
    .await;
    let redis = RedisServer::start().await.unwrap();
    let cluster = RedisCluster::start(3, 0).await.unwrap();
    let pool = || {
        let urls = topo.replica_urls();
        ReplicatedPool::builder(Postgres::new(), topo.primary_url())
            .replica("r0", &urls[0])
            .replica("r1", &urls[1])
            .build()
            .unwrap()
    };
    let config = RouterConfig::default();
    let cluster_urls = cluster.urls();
    let cluster_refs: Vec<&str> = cluster_urls.iter().map(String::as_str).collect();
    let single: Arc<dyn ScopeStore> = Arc::new(RedisStore::from_url(&redis.url(), "ryw:").unwrap());
    let clustered: Arc<dyn ScopeStore> =
        Arc::new(RedisStore::cluster_from_urls(&cluster_refs, "ryw:").unwrap());
    let mut variants = vec![
        Variant {
            name: "no store (Router::without_store)",
            router: Router::without_store(pool(), config).await.unwrap(),
            redis_ports: vec![],
            nanos: vec![],
            redis_calls: 0,
        },
        Variant {
            name: "in-process store (Router::new)",
            router: Router::new(pool(), config).await.unwrap(),
            redis_ports: vec![],
            nanos: vec![],
            redis_calls: 0,
        },
        Variant {
            name: "RedisStore, one Redis",
            router: Router::with_store(pool(), config, single).await.unwrap(),
            redis_ports: vec![redis.port()],
            nanos: vec![],
            redis_calls: 0,
        },
        Variant {
            name: "RedisStore, Redis Cluster (3)",
            router: Router::with_store(pool(), config, clustered).await.unwrap(),
            redis_ports: cluster_urls.iter().map(|u| port_of(u)).collect(),
            nanos: vec![],
            redis_calls: 0,
        },
    ];
    for v in &variants {
        assert!(v.router.ready(Duration::from_secs(10)).await);
    }
    let scope = ScopeKey::of("user_id", 1);
    let read_sql = "(SELECT v FROM bench WHERE id = 1)";

    for round in 0..iterations + 50 {
        let measure = round >= 50;
        // One write (through the first router) gives every variant's request the same floor.
        let ctx = RywContext::new();
        ctx.clone()
            .run(
                variants[0]
                    .router
                    .write(&scope, async |c: &mut AsyncPgConnection| {
                        Ok::<_, Error>(
                            diesel::sql_query("UPDATE bench SET v = v + 1 WHERE id = 1")
                                .execute(c)
                                .await?,
                        )
                    }),
            )
            .await
            .unwrap();
        let floor = ctx
            .required(variants[0].router.cluster(), &scope)
            .unwrap()
            .unwrap();
        // Every router's trackers see the write, so each read measures the caught-up path.
        for v in &variants {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !v.router.replica_status().iter().all(|(_, s)| {
                s.applied
                    .as_ref()
                    .is_some_and(|a| a.covers(&floor).unwrap())
            }) {
                assert!(Instant::now() < deadline, "trackers never saw the write");
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        // Rotate which variant reads first, so no variant always follows the write.
        let n = variants.len();
        for k in 0..n {
            let v = &mut variants[(round + k) % n];
            let calls = redis_calls_all(&v.redis_ports).await;
            let t = Instant::now();
            let r = ctx
                .clone()
                .run(v.router.read(&scope, async |c: &mut AsyncPgConnection| {
                    Ok::<i64, Error>(
                        diesel::select(sql::<BigInt>(read_sql))
                            .get_result(c)
                            .await?,
                    )
                }))
                .await
                .unwrap();
            let nanos = t.elapsed().as_nanos() as u64;
            assert!(!r.served_by.is_leader(), "{}: served by the leader", v.name);
            if measure {
                v.nanos.push(nanos);
                // The INFO call itself is not counted (filtered out above).
                v.redis_calls += redis_calls_all(&v.redis_ports).await - calls;
            }
        }
    }

    println!();
    println!(
        "fenced read (token carries the floor, replica caught up), {iterations} iterations each, interleaved"
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>14} {:>8}",
        "store", "mean µs", "p50 µs", "p99 µs", "redis cmds/op", "ratio"
    );
    let mut base = None;
    for v in &mut variants {
        v.nanos.sort_unstable();
        let n = v.nanos.len();
        let mean = v.nanos.iter().sum::<u64>() as f64 / n as f64 / 1000.0;
        let pct = |p: f64| v.nanos[((n as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
        let base_mean = *base.get_or_insert(mean);
        println!(
            "{:<34} {mean:>9.1} {:>9.1} {:>9.1} {:>14.2} {:>8.2}",
            v.name,
            pct(0.5),
            pct(0.99),
            v.redis_calls as f64 / n as f64,
            mean / base_mean
        );
    }
    for v in &variants {
        for port in &v.redis_ports {
            let stats = commandstats(*port).await;
            let calls: Vec<String> = stats
                .lines()
                .filter_map(|l| {
                    let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                    Some(format!(
                        "{name}={}",
                        rest.split("calls=").nth(1)?.split(',').next()?
                    ))
                })
                .collect();
            println!("{} (port {port}): {}", v.name, calls.join(" "));
        }
    }
}

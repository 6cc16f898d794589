//! Side-by-side cost of read-your-writes routing against real Postgres and MariaDB primaries
//! with 2 replicas each
//! (no injected lag): prints a table of latency and statements sent per operation.
//!
//! Run: `cargo bench -p ryw-integration-tests --bench routing` (optionally `-- 3000` for the
//! number of iterations per variant).
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::store::MemoryStore;
use ryw::{Error, Mysql, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

#[path = "../tests/common/tables.rs"]
mod tables;

/// Statements started on any diesel connection of this process.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

fn statements() -> u64 {
    // `RunQueryDsl::load` would shadow the method call syntax.
    AtomicU64::load(&STATEMENTS, Ordering::Relaxed)
}

struct Count;

impl Instrumentation for Count {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn count() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(Count))
}

#[derive(Default)]
struct Sample {
    nanos: Vec<u64>,
    statements: u64,
}

impl Sample {
    fn percentile(&mut self, p: f64) -> f64 {
        self.nanos.sort_unstable();
        let i = ((self.nanos.len() as f64 - 1.0) * p).round() as usize;
        self.nanos[i] as f64 / 1000.0
    }

    fn mean(&self) -> f64 {
        self.nanos.iter().sum::<u64>() as f64 / self.nanos.len() as f64 / 1000.0
    }
}

async fn timed<F: AsyncFnMut()>(s: &mut Sample, mut f: F) {
    let before = statements();
    let t = Instant::now();
    f().await;
    s.nanos.push(t.elapsed().as_nanos() as u64);
    s.statements += statements() - before;
}

macro_rules! bench_backend {
    ($label:expr, $topology:expr, $backend:expr, $conn:ty, $iterations:expr) => {{
    let iterations: usize = $iterations;
    let topo = $topology.await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE TABLE bench (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO bench (id, v) VALUES (1, 0), (2, 0)",
    )
    .await;
    let urls = topo.replica_urls();
    let pool = ReplicatedPool::builder($backend, topo.primary_url())
        .replica("r0", &urls[0])
        .replica("r1", &urls[1])
        .build()
        .unwrap();
    let router = Router::with_store(
        pool.clone(),
        RouterConfig::default(),
        Arc::new(MemoryStore::new(1000)),
    )
    .await
    .unwrap();
    assert!(router.ready(Duration::from_secs(5)).await);
    let scope = ScopeKey::of("user_id", 1);
    let ctx = RywContext::new();

    let read_sql = "(SELECT v FROM bench WHERE id = 1)";
    let write_sql = "UPDATE bench SET v = v + 1 WHERE id = 1";
    let (mut plain_read, mut fenced_read, mut plain_write, mut routed_write) = (
        Sample::default(),
        Sample::default(),
        Sample::default(),
        Sample::default(),
    );
    let polls_before: u64 = router.stats().position_queries.iter().sum();
    let started = Instant::now();

    // Warm up pools and statement caches, then interleave the variants so drift hits all alike.
    for round in 0..iterations + 50 {
        let measure = round >= 50;
        let mut scratch = Sample::default();
        // Plain write: a leader transaction, no capture.
        timed(
            if measure {
                &mut plain_write
            } else {
                &mut scratch
            },
            async || {
                let mut conn = pool.leader().await.unwrap();
                (*conn)
                    .transaction(
                        async |c: &mut $conn| -> Result<usize, diesel::result::Error> {
                            diesel::sql_query(write_sql).execute(c).await
                        },
                    )
                    .await
                    .unwrap();
            },
        )
        .await;
        // Routed write: the same transaction, then the position capture.
        timed(
            if measure {
                &mut routed_write
            } else {
                &mut scratch
            },
            async || {
                ctx.clone()
                    .run(router.write(
                        &scope,
                        async |c: &mut $conn| -> Result<usize, Error> {
                            Ok(diesel::sql_query(write_sql).execute(c).await?)
                        },
                    ))
                    .await
                    .unwrap();
            },
        )
        .await;
        // Let the replicas and the trackers catch up so the fenced read measures the
        // caught-up path (no wait), which is what the cached-position design promises.
        let floor = ctx.required(router.cluster(), &scope).unwrap().unwrap();
        while !router.replica_status().iter().all(|(_, s)| {
            s.applied
                .as_ref()
                .is_some_and(|a| a.covers(&floor).unwrap())
        }) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        timed(
            if measure {
                &mut plain_read
            } else {
                &mut scratch
            },
            async || {
                let mut conn = pool.replica(0).await.unwrap();
                let _: i64 = diesel::select(sql::<BigInt>(read_sql))
                    .get_result(&mut *conn)
                    .await
                    .unwrap();
            },
        )
        .await;
        timed(
            if measure {
                &mut fenced_read
            } else {
                &mut scratch
            },
            async || {
                let r = ctx
                    .clone()
                    .run(router.read(
                        &scope,
                        async |c: &mut $conn| -> Result<i64, Error> {
                            Ok(diesel::select(sql::<BigInt>(read_sql))
                                .get_result(c)
                                .await?)
                        },
                    ))
                    .await
                    .unwrap();
                assert!(r.waited < Duration::from_millis(5) && !r.served_by.is_leader());
            },
        )
        .await;
    }
    let polls = router.stats().position_queries.iter().sum::<u64>() - polls_before;
    let elapsed = started.elapsed();

    println!();
    println!(
        "{}: primary + 2 replicas on loopback, {iterations} iterations each, interleaved",
        $label
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>11} {:>8}",
        "operation", "mean µs", "p50 µs", "p99 µs", "stmts/op", "ratio"
    );
    let mut rows = [
        ("plain replica read", &mut plain_read, None),
        ("fenced read, caught-up replica", &mut fenced_read, Some(0)),
        ("plain write (leader transaction)", &mut plain_write, None),
        ("write + position capture", &mut routed_write, Some(2)),
    ];
    let base: Vec<f64> = rows.iter().map(|r| r.1.mean()).collect();
    for (i, (name, s, baseline)) in rows.iter_mut().enumerate() {
        let mean = s.mean();
        let ratio = baseline.map_or("1.00 (base)".to_owned(), |b| {
            format!("{:.2}", mean / base[b])
        });
        let stmts = s.statements as f64 / s.nanos.len() as f64;
        println!(
            "{name:<34} {mean:>9.1} {:>9.1} {:>9.1} {stmts:>11.2} {ratio:>8}",
            s.percentile(0.5),
            s.percentile(0.99)
        );
        let _ = i;
    }
    println!(
        "tracker position queries in the background: {polls} over {:.1} s ({:.1}/s for 2 replicas)",
        elapsed.as_secs_f64(),
        polls as f64 / elapsed.as_secs_f64()
    );
    }};
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    diesel::connection::set_default_instrumentation(count).unwrap();
    println!(
        "ryw routing bench; statements include the pool's liveness check (`SELECT 1`) on every checkout"
    );
    bench_backend!(
        "PostgreSQL 15",
        PgTopology::start(2),
        Postgres::new(),
        AsyncPgConnection,
        iterations
    );
    bench_backend!(
        "MariaDB 10.11",
        MariaDbTopology::start(2),
        Mysql::new().with_cluster_name("bench"),
        AsyncMysqlConnection,
        iterations
    );
    bench_backend!(
        "Oracle MySQL 9.7",
        MysqlTopology::start(2),
        Mysql::new().with_cluster_name("bench"),
        AsyncMysqlConnection,
        iterations
    );
}

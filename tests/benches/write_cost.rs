//! What ryw costs a write: the same `UPDATE` by primary key, on Postgres 15, MariaDB 10.11
//! and Oracle MySQL 9.7 (each a leader and one replica from the testkit), in four variants
//! run interleaved in a seeded random order:
//!
//! * a plain transaction on a default diesel-async deadpool pool (`SELECT 1` at checkout);
//! * the same transaction through `Router::write`;
//! * a plain autocommit `UPDATE` on that pool;
//! * the same through `Router::write_autocommit`.
//!
//! Prints p50 / p99 per variant, the ratio of each ryw variant's p50 to its plain one, and the
//! statements per write the server counted for that variant alone (Postgres:
//! `pg_stat_statements` calls; MySQL and MariaDB: the `Questions` status counter).
//! `tests/round_trips.rs` counts the round trips of the same operations on the wire.
//!
//! Run: `cargo bench -p ryw-integration-tests --bench write_cost` (optionally `-- 3000`
//! iterations per variant; default 2000, at most 100,000).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::{Error, Mysql, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

#[path = "../tests/common/tables.rs"]
mod tables;

diesel::table! {
    costed (id) {
        id -> BigInt,
        v -> BigInt,
    }
}

const VARIANTS: [&str; 4] = [
    "plain transaction",
    "ryw write",
    "plain autocommit",
    "ryw autocommit",
];
/// Writes per variant for the server's statement count (each variant alone).
const COUNTED: u64 = 200;

/// Tiny deterministic generator (splitmix64) for the interleaving order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

/// One backend's rows: per variant, p50 / p99 µs and statements per write.
fn print_rows(backend: &str, lat: &mut [Vec<Duration>; 4], statements: [f64; 4]) {
    let p50: Vec<f64> = lat
        .iter_mut()
        .map(|l| {
            l.sort_unstable();
            pct(l, 0.5)
        })
        .collect();
    for (i, name) in VARIANTS.iter().enumerate() {
        let base = p50[i - i % 2];
        println!(
            "| {backend} | {name} | {:.0} | {:.0} | {:.2} | {:.2} |",
            p50[i],
            pct(&lat[i], 0.99),
            p50[i] / base,
            statements[i]
        );
    }
}

/// The four variants as closures on one backend, measured interleaved, then counted.
macro_rules! bench_backend {
    ($name:expr, $topo:expr, $backend:expr, $conn:ty, $n:expr, $count:expr) => {{
        let (name, topo, n) = ($name, $topo, $n);
        tables::create_everywhere(
            &topo,
            "CREATE TABLE costed (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
             INSERT INTO costed VALUES (1, 0)",
        )
        .await;
        let pool = ReplicatedPool::builder($backend, topo.primary_url())
            .replica("r0", &topo.replica_urls()[0])
            .build()
            .unwrap();
        let router = Router::new(pool, RouterConfig::default()).await.unwrap();
        let plain_pool: Pool<$conn> = Pool::builder(AsyncDieselConnectionManager::<$conn>::new(
            topo.primary_url(),
        ))
        .build()
        .unwrap();
        let user = ScopeKey::of("user_id", 1);
        let run = async |variant: usize, v: i64| {
            let update = diesel::update(costed::table.find(1)).set(costed::v.eq(v));
            match variant {
                0 => {
                    let mut c = plain_pool.get().await.unwrap();
                    c.transaction::<_, diesel::result::Error, _>(async |c| update.execute(c).await)
                        .await
                        .unwrap();
                }
                1 => {
                    router
                        .write(&user, async move |c: &mut $conn| {
                            update.execute(c).await.map_err(Error::from_diesel)
                        })
                        .await
                        .unwrap();
                }
                2 => {
                    let mut c = plain_pool.get().await.unwrap();
                    update.execute(&mut *c).await.unwrap();
                }
                _ => {
                    let keys = std::slice::from_ref(&user);
                    router
                        .write_autocommit(keys, async move |c: &mut $conn| {
                            update.execute(c).await.map_err(Error::from_diesel)
                        })
                        .await
                        .unwrap();
                }
            };
        };
        let mut lat: [Vec<Duration>; 4] = Default::default();
        let mut rng = Rng(0x5EED);
        let mut v = 0_i64;
        RywContext::new()
            .run(async {
                for variant in 0..4 {
                    for _ in 0..50 {
                        v += 1;
                        run(variant, v).await;
                    }
                }
                for _ in 0..n {
                    let mut order = [0, 1, 2, 3];
                    rng.shuffle(&mut order);
                    for variant in order {
                        v += 1;
                        let t = Instant::now();
                        run(variant, v).await;
                        lat[variant].push(t.elapsed());
                    }
                }
            })
            .await;
        let mut statements = [0.0; 4];
        let mut admin = <$conn>::establish(&topo.primary_url()).await.unwrap();
        for (variant, s) in statements.iter_mut().enumerate() {
            let before = $count(&mut admin).await;
            RywContext::new()
                .run(async {
                    for _ in 0..COUNTED {
                        v += 1;
                        run(variant, v).await;
                    }
                })
                .await;
            let after = $count(&mut admin).await;
            *s = (after - before) as f64 / COUNTED as f64;
        }
        print_rows(name, &mut lat, statements);
    }};
}

/// Statements the Postgres leader ran so far (`pg_stat_statements`, less the counting
/// connection's own, which all name the view).
async fn pg_statements(c: &mut AsyncPgConnection) -> i64 {
    diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(c)
        .await
        .unwrap();
    diesel::select(sql::<BigInt>(
        "(SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements \
         WHERE query NOT LIKE '%pg_stat_statements%')",
    ))
    .get_result(c)
    .await
    .unwrap()
}

/// Statements the MySQL-family leader answered so far (`Questions`), less the counting
/// connection's own: the global counter minus the session's, in one statement.
/// `information_schema` on MariaDB (whose `performance_schema` is off by default),
/// `performance_schema` on MySQL (which dropped the `information_schema` tables).
async fn my_statements(c: &mut AsyncMysqlConnection) -> i64 {
    let mariadb: bool = diesel::select(sql::<diesel::sql_types::Bool>(
        "(SELECT VERSION() LIKE '%MariaDB%')",
    ))
    .get_result(c)
    .await
    .unwrap();
    let schema = if mariadb {
        (
            "information_schema.GLOBAL_STATUS",
            "information_schema.SESSION_STATUS",
        )
    } else {
        (
            "performance_schema.global_status",
            "performance_schema.session_status",
        )
    };
    diesel::select(sql::<BigInt>(&format!(
        "(SELECT CAST(g.VARIABLE_VALUE AS SIGNED) - CAST(s.VARIABLE_VALUE AS SIGNED) \
         FROM {} g, {} s WHERE g.VARIABLE_NAME = 'Questions' AND s.VARIABLE_NAME = 'Questions')",
        schema.0, schema.1
    )))
    .get_result(c)
    .await
    .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000)
        .clamp(10, 100_000);
    println!(
        "ryw write cost: {n} iterations per variant, interleaved in a seeded random order; \
         ratio = p50 / the plain variant's p50\n"
    );
    println!("| backend | variant | p50 µs | p99 µs | ratio | statements/write |");
    println!("|---|---|---:|---:|---:|---:|");
    {
        let topo = PgTopology::start(1).await.expect("postgres");
        bench_backend!(
            "postgres",
            topo,
            Postgres::new(),
            AsyncPgConnection,
            n,
            pg_statements
        );
    }
    {
        let topo = MariaDbTopology::start(1).await.expect("mariadb");
        let backend = Mysql::new();
        bench_backend!(
            "mariadb",
            topo,
            backend,
            AsyncMysqlConnection,
            n,
            my_statements
        );
    }
    {
        let topo = MysqlTopology::start(1).await.expect("mysql");
        let backend = Mysql::new();
        bench_backend!(
            "mysql",
            topo,
            backend,
            AsyncMysqlConnection,
            n,
            my_statements
        );
    }
}

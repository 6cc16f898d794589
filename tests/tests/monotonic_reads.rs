//! Monotonic reads on real replicas. A counter rises on the leader all along; one replica
//! is current, the other 1.5 s behind. A session reads the counter (served by the current
//! replica, the fresher one), then reads again while the current replica is busy with
//! another read — the router prefers the idle one, which is behind. Without the guarantee the
//! second read goes back in time; with `ReadPolicy::with_monotonic(true)` the first read raised
//! the session floor to the position its replica had applied, and the second never reads
//! older than the first.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use ryw::backend::ReplicationBackend;
use ryw::{Error, Mysql, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

#[path = "common/tables.rs"]
mod tables;

#[derive(QueryableByName)]
struct V {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

const ROUNDS: usize = 8;
const LAG: Duration = Duration::from_millis(1500);

/// Reads the counter `ROUNDS` times in pairs as described above; returns how many second
/// reads saw less than the first.
macro_rules! went_back {
    ($router:expr, $policy:expr, $read_sql:expr, $slow_sql:expr) => {{
        let (router, policy) = ($router, $policy);
        let read = async |sql: &'static str, user: i64| {
            router
                .read_with(&ScopeKey::of("reader", user), &policy, async move |c| {
                    diesel::sql_query(sql)
                        .get_result::<V>(c)
                        .await
                        .map(|r| r.v)
                        .map_err(Error::from_diesel)
                })
                .await
                .unwrap()
        };
        let mut back = 0;
        RywContext::new()
            .run(async {
                for _ in 0..ROUNDS {
                    let first = read($read_sql, 1).await;
                    // Another request keeps the first replica busy for a moment.
                    let busy = RywContext::new().run(read($slow_sql, 2));
                    let second = async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        read($read_sql, 1).await
                    };
                    let (_, second) = tokio::join!(busy, second);
                    println!(
                        "first {} on {:?}, second {} on {:?}",
                        first.value, first.served_by, second.value, second.served_by
                    );
                    back += usize::from(second.value < first.value);
                }
            })
            .await;
        back
    }};
}

/// Bumps the counter every 20 ms until `stop` (at most 60 s).
fn writer(
    exec: impl Fn(String) -> tokio::task::JoinHandle<()> + Send + 'static,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for _ in 0..3000 {
            if AtomicBool::load(&stop, Ordering::SeqCst) {
                break;
            }
            exec("UPDATE mono SET v = v + 1 WHERE id = 1".to_owned())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Runs the counter, lags the second replica and checks both kinds of sessions; `slow_sql`
/// reads the counter slowly, to keep a replica busy.
async fn sessions_never_read_back_in_time<B, T>(topo: T, backend: B, slow_sql: &'static str)
where
    B: ReplicationBackend,
    T: Topology + 'static,
    for<'a> diesel::query_builder::SqlQuery: diesel_async::methods::LoadQuery<'a, B::Connection, V>,
{
    let topo = Arc::new(topo);
    tables::create_everywhere(
        &*topo,
        "CREATE TABLE mono (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO mono VALUES (1, 0)",
    )
    .await;
    topo.set_lag(1, LAG).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let t = Arc::clone(&topo);
    let w = writer(
        move |sql| {
            let t = Arc::clone(&t);
            tokio::spawn(async move { t.execute_on_primary(&sql).await.unwrap() })
        },
        Arc::clone(&stop),
    );
    tokio::time::sleep(LAG).await;
    let pool = ReplicatedPool::builder(backend, topo.primary_url())
        .replica("current", &topo.replica_urls()[0])
        .replica("behind", &topo.replica_urls()[1])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    let read_sql = "SELECT v FROM mono WHERE id = 1";
    let plain = went_back!(&router, router.policy(), read_sql, slow_sql);
    let monotonic = went_back!(
        &router,
        router.policy().with_monotonic(true),
        read_sql,
        slow_sql
    );
    AtomicBool::store(&stop, true, Ordering::SeqCst);
    w.await.unwrap();
    println!("went back: {plain} of {ROUNDS} plain, {monotonic} monotonic");
    assert!(
        plain > 0,
        "no read went back without the guarantee: the test proves nothing"
    );
    assert_eq!(monotonic, 0);
    assert_eq!(router.stats().monotonic_misses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_never_read_back_in_time() {
    Box::pin(sessions_never_read_back_in_time(
        PgTopology::start(2).await.unwrap(),
        Postgres::new(),
        "SELECT v FROM mono, pg_sleep(0.3) WHERE id = 1",
    ))
    .await;
}

/// The MySQL family: MariaDB and MySQL, one slow read.
const MYSQL_SLOW_SQL: &str = "SELECT v FROM mono WHERE id = 1 AND SLEEP(0.3) = 0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_sessions_never_read_back_in_time() {
    let topo = MariaDbTopology::start(2).await.unwrap();
    Box::pin(sessions_never_read_back_in_time(
        topo,
        Mysql::new(),
        MYSQL_SLOW_SQL,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_sessions_never_read_back_in_time() {
    let topo = MysqlTopology::start(2).await.unwrap();
    Box::pin(sessions_never_read_back_in_time(
        topo,
        Mysql::new(),
        MYSQL_SLOW_SQL,
    ))
    .await;
}

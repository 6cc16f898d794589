//! What ryw puts on the wire, counted with diesel's instrumentation (every statement any
//! connection of this process starts, and every statement it prepares):
//!
//! * a fenced read on a caught-up replica is exactly the closure's one statement — no
//!   liveness `SELECT 1` at checkout, no position query — and prepares nothing once warm, so
//!   it is one round trip;
//! * a write through the router is exactly one statement more than the same write in a plain
//!   transaction on the same pool (the capture), also prepared only once;
//! * writes do not make the trackers poll (no position query per write).
//!
//! One test per binary: the counters are process-wide.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ryw::backend::ReplicationBackend;
use ryw::{
    Error, Mysql, PoolConfig, Postgres, ReplicatedPool, Router, RouterConfig, TrackerConfig,
};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{MariaDbTopology, PgTopology, Topology};

#[path = "common/tables.rs"]
mod tables;

diesel::table! {
    counted (id) {
        id -> BigInt,
        v -> BigInt,
    }
}

static STARTED: AtomicU64 = AtomicU64::new(0);
static PREPARED: AtomicU64 = AtomicU64::new(0);

struct Count;

impl Instrumentation for Count {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                STARTED.fetch_add(1, Ordering::SeqCst);
            }
            InstrumentationEvent::CacheQuery { .. } => {
                PREPARED.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

fn counts() -> (u64, u64) {
    (
        AtomicU64::load(&STARTED, Ordering::SeqCst),
        AtomicU64::load(&PREPARED, Ordering::SeqCst),
    )
}

const N: u64 = 20;

/// One connection per node, shared by the tracker and the reads: statements are prepared
/// per connection, so a second connection would prepare the read again once — the
/// driver's cost, not ryw's.
fn one_connection() -> PoolConfig {
    PoolConfig::default().with_max_size(1)
}

/// Trackers that poll only when a reader starts waiting (the warm-up), never on their own
/// during the measurement.
fn quiet() -> RouterConfig {
    let slow = Duration::from_secs(600);
    // Replica first: the fenced read measured is the one a caught-up replica serves.
    let policy = ryw::ReadPolicy::default().with_prefer(ryw::Prefer::Replica);
    RouterConfig::default().with_policy(policy).with_tracker(
        TrackerConfig::default()
            .with_idle_interval(slow)
            .with_pending_interval(slow)
            .with_busy_interval(slow),
    )
}

/// The read and the write measured, the same on every backend (a macro: the diesel bounds
/// of a generic function would be longer than its body).
macro_rules! measure {
    ($name:expr, $router:expr) => {{
        let (name, router) = ($name, $router);
        let user = ScopeKey::of("user_id", 1);
        let read = async || {
            let r = router
                .read(&user, async |conn| {
                    counted::table
                        .find(1)
                        .select(counted::v)
                        .first::<i64>(conn)
                        .await
                        .map_err(Error::from_diesel)
                })
                .await
                .unwrap();
            (r.value, r.served_by.is_leader())
        };
        let write = async |v: i64| {
            router
                .write(&user, async move |conn| {
                    diesel::update(counted::table.find(1))
                        .set(counted::v.eq(v))
                        .execute(conn)
                        .await
                        .map_err(Error::from_diesel)
                })
                .await
                .unwrap();
        };
        let plain = async |v: i64| {
            let mut conn = router.pool().leader().await.unwrap();
            conn.transaction::<_, diesel::result::Error, _>(async |c| {
                diesel::update(counted::table.find(1))
                    .set(counted::v.eq(v))
                    .execute(c)
                    .await
            })
            .await
            .unwrap();
        };
        RywContext::new()
            .run(async {
                // Warm up: connections open, statements prepared, the replica seen past the
                // floor.
                write(1).await;
                let mut on_replica = false;
                for _ in 0..100 {
                    let (v, leader) = read().await;
                    assert_eq!(v, 1, "{name}: a fenced read missed its write");
                    if !leader {
                        on_replica = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(on_replica, "{name}: the replica never caught up");

                // Fenced reads on the caught-up replica.
                let polls = router.stats().position_queries.iter().sum::<u64>();
                let (s0, p0) = counts();
                for _ in 0..N {
                    let (v, leader) = read().await;
                    assert!(v == 1 && !leader, "{name}");
                }
                let (s1, p1) = counts();
                let polled = router.stats().position_queries.iter().sum::<u64>() - polls;
                println!("{name}: {N} fenced reads: {} statements, {} prepared, {polled} polls", s1 - s0, p1 - p0);
                assert_eq!(s1 - s0, N, "{name}: a fenced read is one statement");
                assert_eq!(p1 - p0, 0, "{name}: nothing prepared again");

                // The same write, plain and through the router.
                plain(2).await;
                let (s0, p0) = counts();
                for v in 0..N {
                    plain(3 + i64::try_from(v).unwrap()).await;
                }
                let (s1, p1) = counts();
                for v in 0..N {
                    write(100 + i64::try_from(v).unwrap()).await;
                }
                let (s2, p2) = counts();
                let (plain_st, ryw_st) = (s1 - s0, s2 - s1);
                println!(
                    "{name}: {N} writes: plain {plain_st} statements, ryw {ryw_st}; prepared {} / {}",
                    p1 - p0,
                    p2 - p1
                );
                assert_eq!(ryw_st, plain_st + N, "{name}: the capture is the one statement more");
                assert_eq!(p2 - p1, p1 - p0, "{name}: the capture is prepared once, not per write");
                // No tracker polled because of the writes (nor for the reads).
                let after = router.stats().position_queries.iter().sum::<u64>();
                assert_eq!(after, polls, "{name}: the trackers polled");
            })
            .await;
    }};
}

/// Creates the `counted` table and returns a ready router over the topology's one replica,
/// with [`one_connection`] pools and [`quiet`] trackers.
async fn router<B: ReplicationBackend>(topo: &impl Topology, backend: B) -> Router<B> {
    tables::create_everywhere(
        topo,
        "CREATE TABLE counted (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO counted VALUES (1, 0)",
    )
    .await;
    let pool = ReplicatedPool::builder(backend, topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .config(one_connection())
        .build()
        .unwrap();
    let router = Router::new(pool, quiet()).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    router
}

async fn pg() {
    let topo = PgTopology::start(1).await.unwrap();
    measure!("postgres", router(&topo, Postgres::new()).await);
}

async fn mariadb() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    measure!("mariadb", router(&topo, Mysql::new()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_one_statement_and_writes_one_more() {
    set_default_instrumentation(|| Some(Box::new(Count))).unwrap();
    pg().await;
    mariadb().await;
}

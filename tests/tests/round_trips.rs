//! Round trips, counted on the wire by the testkit's counting relay (`RoundTrips`: every
//! server answer is held back 15 ms, so what a client pipelines leaves before any answer and
//! counts once; what it sends after an answer counts again), per operation on warm
//! connections, on Postgres, MariaDB and Oracle MySQL:
//!
//! * a plain transaction on a default diesel-async deadpool pool: the pool's `SELECT 1`,
//!   BEGIN, the UPDATE (two: diesel never caches an UPDATE's prepared statement, so each one
//!   is prepared, then executed — the driver's cost, the same for both), COMMIT: 5;
//! * the same write through the router: one fewer on Postgres (no `SELECT 1` per checkout:
//!   BEGIN retries on a dead connection; COMMIT and the capture pipelined in one); as many on
//!   MySQL and MariaDB (the capture takes the round trip the `SELECT 1` took);
//! * a single-statement write without a transaction: plain, the ping and the UPDATE (on
//!   Postgres one more: the driver closes the unnamed statement after the call, a message of
//!   its own); through the router (`write_autocommit`), the UPDATE and the capture (the
//!   close travels with the capture);
//! * a fenced read on a caught-up replica: one round trip, on the replica, none on the leader.
//!
//! MySQL-family URLs carry `prefer_socket=false`: the driver would otherwise move a loopback
//! connection to the server's Unix socket, around the relay.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::{
    Error, Mysql, PoolConfig, Postgres, Prefer, ReadPolicy, ReplicatedPool, Router, RouterConfig,
    TrackerConfig,
};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{HOLD, MariaDbTopology, MysqlTopology, PgTopology, RoundTrips, Topology};

#[path = "common/tables.rs"]
mod tables;

diesel::table! {
    trips (id) {
        id -> BigInt,
        v -> BigInt,
    }
}

/// Keeps a MySQL-family connection on TCP (through the relay).
const NO_SOCKET: &str = "?prefer_socket=false";

/// How many times each operation is measured (the count must be the same every time).
const N: u64 = 5;

/// Round trips expected per operation on one backend.
struct Expected {
    plain_write: u64,
    ryw_write: u64,
    plain_autocommit: u64,
    ryw_autocommit: u64,
}

/// Replica first (the measured read is the one a caught-up replica serves), no idle polls
/// (the leader poll would cross the leader's relay). The trackers still poll the replica
/// after writes and while reads wait: those polls are counted by the router and taken off
/// the replica's count.
fn quiet() -> RouterConfig {
    RouterConfig::default()
        .with_policy(ReadPolicy::default().with_prefer(Prefer::Replica))
        .with_tracker(TrackerConfig::default().with_idle_interval(Duration::from_secs(600)))
}

/// The round trips `op` costs on `relay`, the same on each of `N` runs.
macro_rules! each_costs {
    ($name:expr, $what:expr, $relay:expr, $op:expr) => {{
        let mut seen = Vec::new();
        for _ in 0..N {
            // Settled first and after: a driver sends some messages after a call returned
            // without waiting for an answer (Postgres: closing an unnamed statement), which
            // belong to the call that left them.
            tokio::time::sleep(HOLD * 4).await;
            let before = $relay.count();
            $op;
            tokio::time::sleep(HOLD * 4).await;
            seen.push($relay.count() - before);
        }
        println!("{}: {}: {:?} round trips", $name, $what, seen);
        assert!(
            seen.iter().all(|&n| n == seen[0]),
            "{}: {} costs {:?}",
            $name,
            $what,
            seen
        );
        seen[0]
    }};
}

macro_rules! measure {
    ($name:expr, $topo:expr, $backend:expr, $conn:ty, $expected:expr, $params:expr) => {{
        let (name, topo, expected): (&str, _, Expected) = ($name, $topo, $expected);
        let url = |relay: &RoundTrips, url: &str| format!("{}{}", relay.url(url), $params);
        tables::create_everywhere(
            &topo,
            "CREATE TABLE trips (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
             INSERT INTO trips VALUES (1, 0)",
        )
        .await;
        let leader = RoundTrips::in_front_of(&topo.primary_url()).unwrap();
        let replica = RoundTrips::in_front_of(&topo.replica_urls()[0]).unwrap();
        let pool = ReplicatedPool::builder($backend, url(&leader, &topo.primary_url()))
            .replica("r0", url(&replica, &topo.replica_urls()[0]))
            .config(PoolConfig::default().with_max_size(1))
            .build()
            .unwrap();
        let router = Router::new(pool, quiet()).await.unwrap();
        assert!(router.ready(Duration::from_secs(10)).await);
        // The baseline: a default diesel-async deadpool pool, through the same relay.
        let manager = AsyncDieselConnectionManager::<$conn>::new(url(&leader, &topo.primary_url()));
        let plain_pool: Pool<$conn> = Pool::builder(manager).max_size(1).build().unwrap();
        let user = ScopeKey::of("user_id", 1);

        let plain = async |v: i64| {
            let mut conn = plain_pool.get().await.unwrap();
            conn.transaction::<_, diesel::result::Error, _>(async |c| {
                diesel::update(trips::table.find(1))
                    .set(trips::v.eq(v))
                    .execute(c)
                    .await
            })
            .await
            .unwrap();
        };
        let write = async |v: i64| {
            router
                .write(&user, async move |c: &mut $conn| {
                    diesel::update(trips::table.find(1))
                        .set(trips::v.eq(v))
                        .execute(c)
                        .await
                        .map_err(Error::from_diesel)
                })
                .await
                .unwrap();
        };
        let plain_autocommit = async |v: i64| {
            let mut conn = plain_pool.get().await.unwrap();
            diesel::update(trips::table.find(1))
                .set(trips::v.eq(v))
                .execute(&mut *conn)
                .await
                .unwrap();
        };
        let autocommit = async |v: i64| {
            router
                .write_autocommit(std::slice::from_ref(&user), async move |c: &mut $conn| {
                    diesel::update(trips::table.find(1))
                        .set(trips::v.eq(v))
                        .execute(c)
                        .await
                        .map_err(Error::from_diesel)
                })
                .await
                .unwrap();
        };
        let read = async || {
            let r = router
                .read(&user, async |c: &mut $conn| {
                    trips::table
                        .find(1)
                        .select(trips::v)
                        .first::<i64>(c)
                        .await
                        .map_err(Error::from_diesel)
                })
                .await
                .unwrap();
            (r.value, r.served_by.is_leader())
        };

        RywContext::new()
            .run(async {
                // Warm: connections open, statements prepared (the pools' `SELECT 1` at the
                // second checkout), the replica seen past the floor.
                for _ in 0..2 {
                    plain(1).await;
                    plain_autocommit(1).await;
                    write(1).await;
                    autocommit(1).await;
                }
                let mut on_replica = false;
                for _ in 0..200 {
                    let (v, leader) = read().await;
                    assert_eq!(v, 1, "{name}: a fenced read missed its write");
                    if !leader {
                        on_replica = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(on_replica, "{name}: the replica never caught up");

                let plain_trips = each_costs!(name, "plain transaction", leader, plain(2).await);
                let ryw_trips = each_costs!(name, "ryw write", leader, write(3).await);
                assert_eq!(
                    plain_trips, expected.plain_write,
                    "{name}: plain transaction"
                );
                assert_eq!(ryw_trips, expected.ryw_write, "{name}: ryw write");
                let plain_auto =
                    each_costs!(name, "plain autocommit", leader, plain_autocommit(2).await);
                let ryw_auto =
                    each_costs!(name, "ryw autocommit write", leader, autocommit(3).await);
                assert_eq!(
                    plain_auto, expected.plain_autocommit,
                    "{name}: plain autocommit"
                );
                assert_eq!(
                    ryw_auto, expected.ryw_autocommit,
                    "{name}: ryw autocommit write"
                );

                // Fenced reads of that write, once the replica has it.
                for _ in 0..200 {
                    if read().await == (3, false) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let before = leader.count();
                let polls = || router.stats().position_queries.iter().sum::<u64>();
                let mut reads = Vec::new();
                for _ in 0..N {
                    tokio::time::sleep(HOLD * 4).await;
                    let (trips, polled) = (replica.count(), polls());
                    assert_eq!(read().await, (3, false), "{name}: {:?}", router.stats());
                    tokio::time::sleep(HOLD * 4).await;
                    reads.push((replica.count() - trips) - (polls() - polled));
                }
                println!("{name}: fenced read: {reads:?} round trips on the replica");
                assert!(
                    reads.iter().all(|&n| n == 1),
                    "{name}: a fenced read is one round trip: {reads:?}"
                );
                assert_eq!(
                    leader.count(),
                    before,
                    "{name}: a fenced read never asks the leader"
                );
            })
            .await;
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_postgres_write_costs_one_fewer_than_a_plain_transaction() {
    let topo = PgTopology::start(1).await.unwrap();
    let expected = Expected {
        plain_write: 5,
        ryw_write: 4,
        plain_autocommit: 4,
        ryw_autocommit: 3,
    };
    measure!(
        "postgres",
        topo,
        Postgres::new(),
        AsyncPgConnection,
        expected,
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_mariadb_write_costs_what_a_plain_transaction_costs() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    let expected = Expected {
        plain_write: 5,
        ryw_write: 5,
        plain_autocommit: 3,
        ryw_autocommit: 3,
    };
    let backend = Mysql::new();
    measure!(
        "mariadb",
        topo,
        backend,
        AsyncMysqlConnection,
        expected,
        NO_SOCKET
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_mysql_write_costs_what_a_plain_transaction_costs() {
    let topo = MysqlTopology::start(1).await.unwrap();
    let expected = Expected {
        plain_write: 5,
        ryw_write: 5,
        plain_autocommit: 3,
        ryw_autocommit: 3,
    };
    let backend = Mysql::new();
    measure!(
        "mysql",
        topo,
        backend,
        AsyncMysqlConnection,
        expected,
        NO_SOCKET
    );
}

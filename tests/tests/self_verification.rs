//! Online self-verification catches a broken router. The break: a backend whose capture
//! keeps returning the first position it saw (a stale capture cache), so every later floor
//! is too low and the router serves replicas that miss the write. With every read sampled
//! (`with_verification(1)`) and `read_verified` comparing with the leader, each stale read the
//! broken router serves is counted as a mismatch; the honest router on the same servers serves
//! none and counts none.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::backend::Decorator;
use ryw::backend::{Captured, ReplicationBackend};
use ryw::{Error, Mysql, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

/// A backend whose capture is stuck at the first position it captured.
#[derive(Clone)]
struct StuckCapture<B> {
    inner: B,
    first: Arc<Mutex<Option<Captured>>>,
}

impl<B: ReplicationBackend> Decorator for StuckCapture<B> {
    type Inner = B;

    fn inner(&self) -> &B {
        &self.inner
    }

    async fn capture(&self, conn: &mut B::Connection) -> Result<Captured, Error> {
        let now = self.inner.capture(conn).await?;
        Ok(self.first.lock().unwrap().get_or_insert(now).clone())
    }
}

#[derive(QueryableByName)]
struct V {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

const LAG: Duration = Duration::from_millis(300);
const ROUNDS: i64 = 5;

/// Writes then reads (verified) `ROUNDS` times; returns the stale reads the caller got.
macro_rules! rounds {
    ($router:expr, $conn:ty) => {{
        let router = $router;
        let user = ScopeKey::of("user_id", 1);
        let mut stale = 0;
        for v in 1..=ROUNDS {
            let read = RywContext::new()
                .run(async {
                    router
                        .write(&user, async move |c: &mut $conn| {
                            diesel::sql_query(format!("UPDATE verified SET v = {v} WHERE id = 1"))
                                .execute(c)
                                .await
                                .map_err(Error::from_diesel)
                        })
                        .await
                        .unwrap();
                    router
                        .read_verified(
                            &user,
                            &router.policy(),
                            async |c: &mut $conn| {
                                diesel::sql_query("SELECT v FROM verified WHERE id = 1")
                                    .get_result::<V>(c)
                                    .await
                                    .map(|r| r.v)
                                    .map_err(Error::from_diesel)
                            },
                            |replica, leader| replica == leader,
                        )
                        .await
                        .unwrap()
                })
                .await;
            stale += i64::from(read.value < v);
            // Let the replica catch up before the next round.
            tokio::time::sleep(LAG * 2).await;
        }
        stale
    }};
}

fn stuck<B>(inner: B) -> StuckCapture<B> {
    StuckCapture {
        inner,
        first: Arc::new(Mutex::new(None)),
    }
}

macro_rules! verify_both {
    ($name:expr, $topo:expr, $backend:expr, $conn:ty) => {{
        let topo = $topo;
        topo.execute_on_primary(
            "CREATE TABLE verified (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO verified VALUES (1, 0)",
        )
        .await
        .unwrap();
        topo.wait_caught_up(0, Duration::from_secs(30)).await.unwrap();
        topo.set_lag(0, LAG).await.unwrap();
        // Replica first: verification samples the reads replicas serve (latency first,
        // the default, would read the leader right after each write).
        let policy = ryw::ReadPolicy::default().with_prefer(ryw::Prefer::Replica);
        let config = RouterConfig::default().with_verification(1).with_policy(policy);
        macro_rules! pool {
            ($b:expr) => {
                ReplicatedPool::builder($b, topo.primary_url())
                    .replica("r0", &topo.replica_urls()[0])
                    .build()
                    .unwrap()
            };
        }
        let honest = Router::new(pool!($backend), config).await.unwrap();
        assert!(honest.ready(Duration::from_secs(10)).await);
        let clean = rounds!(&honest, $conn);
        let h = honest.stats();
        println!("{}: honest {clean} stale, {:?}", $name, (h.verified_reads, h.verify_mismatches, h.verify_unchecked));
        assert_eq!((clean, h.verify_mismatches), (0, 0), "{}", $name);
        assert!(h.verified_reads > 0, "{}: nothing was verified: {h:?}", $name);

        let broken = Router::new(pool!(stuck($backend)), config).await.unwrap();
        assert!(broken.ready(Duration::from_secs(10)).await);
        let bad = rounds!(&broken, $conn);
        let b = broken.stats();
        println!("{}: broken {bad} stale, {:?}", $name, (b.verified_reads, b.verify_mismatches, b.verify_unchecked));
        assert!(bad > 0, "{}: the broken router served no stale read: the test proves nothing", $name);
        assert_eq!(b.verify_mismatches, u64::try_from(bad).unwrap(), "{}: {b:?}", $name);
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_verification_catches_a_broken_router() {
    let topo = PgTopology::start(1).await.unwrap();
    verify_both!("postgres", &topo, Postgres::new(), AsyncPgConnection);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_verification_catches_a_broken_router() {
    let topo = MariaDbTopology::start(1).await.unwrap();
    verify_both!("mariadb", &topo, Mysql::new(), AsyncMysqlConnection);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_verification_catches_a_broken_router() {
    let topo = MysqlTopology::start(1).await.unwrap();
    verify_both!("mysql", &topo, Mysql::new(), AsyncMysqlConnection);
}

//! A repository written with `#[read_your_writes]`, against real lagging replicas on both
//! backends: a user's write then read is fresh; another user's read does not wait.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use ryw::RywContext;
use ryw::store::MemoryStore;
use ryw::{Mysql, Postgres, Router, RouterConfig, RywRepository, read_your_writes};
use ryw_testkit::{MariaDbTopology, MysqlTopology, PgTopology, Topology};

mod common;
#[path = "common/tables.rs"]
mod tables;

include!("../ui/shared/db_error.rs");

// The repository trait stays plain (and mockable); the annotated impl fulfils it.
include!("../ui/shared/balances.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Balances for PgBalances {
    #[write]
    async fn set_balance(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        cents: i64,
    ) -> Result<(), AppError> {
        diesel::sql_query(format!(
            "UPDATE balances SET cents = {cents} WHERE id = {user_id}"
        ))
        .execute(conn)
        .await?;
        Ok(())
    }

    #[read]
    async fn balance(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let q = format!("(SELECT cents FROM balances WHERE id = {user_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }
}

/// The MariaDB repository is the same code on `AsyncMysqlConnection`, reaching its router
/// through `RywRepository` instead of a field argument.
struct MariaBalances {
    router: Router<Mysql>,
}

impl RywRepository for MariaBalances {
    type Backend = Mysql;
    fn ryw_router(&self) -> &Router<Mysql> {
        &self.router
    }
}

#[read_your_writes(scope = "user_id")]
impl Balances for MariaBalances {
    #[write]
    async fn set_balance(
        &self,
        conn: &mut AsyncMysqlConnection,
        user_id: i64,
        cents: i64,
    ) -> Result<(), AppError> {
        diesel::sql_query(format!(
            "UPDATE balances SET cents = {cents} WHERE id = {user_id}"
        ))
        .execute(conn)
        .await?;
        Ok(())
    }

    #[read]
    async fn balance(
        &self,
        conn: &mut AsyncMysqlConnection,
        user_id: i64,
    ) -> Result<i64, AppError> {
        let q = format!("(SELECT cents FROM balances WHERE id = {user_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }
}

async fn prepare<T: Topology>(topo: &T) {
    tables::create_everywhere(
        topo,
        "CREATE TABLE balances (id BIGINT PRIMARY KEY, cents BIGINT NOT NULL); \
         INSERT INTO balances (id, cents) VALUES (1, 0), (2, 0)",
    )
    .await;
    for r in 0..topo.replica_count() {
        topo.set_lag(r, Duration::from_millis(500)).await.unwrap();
    }
}

async fn check<R: Balances, T: Topology>(repo: &R, topo: &T, naive_stale: impl AsyncFn() -> i64) {
    RywContext::new()
        .run(async {
            repo.set_balance(1, 100).await.unwrap();
            assert_eq!(
                naive_stale().await,
                0,
                "a plain replica read must be stale (lag is real)"
            );
            assert_eq!(
                repo.balance(1).await.unwrap(),
                100,
                "the user's own read sees the write"
            );
            let t = Instant::now();
            assert_eq!(repo.balance(2).await.unwrap(), 0);
            assert!(
                t.elapsed() < Duration::from_millis(100),
                "user 2 waited {:?}",
                t.elapsed()
            );
        })
        .await;
    let _ = topo;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_repository_reads_its_writes() {
    let topo = PgTopology::start(2).await.unwrap();
    prepare(&topo).await;
    let router = common::router(
        &topo,
        Postgres::new(),
        RouterConfig::default(),
        std::sync::Arc::new(MemoryStore::new(100)),
    )
    .await;
    let repo = PgBalances { router };
    check(&repo, &topo, async || {
        let mut c = repo.router.pool().replica(0).await.unwrap();
        diesel::select(sql::<BigInt>("(SELECT cents FROM balances WHERE id = 1)"))
            .get_result(&mut *c)
            .await
            .unwrap()
    })
    .await;
}

/// The MySQL-protocol repository (one `#[read_your_writes]` impl) on a MariaDB or MySQL
/// topology.
async fn mysql_family_repository_reads_its_writes<T: Topology>(topo: T, backend: Mysql) {
    prepare(&topo).await;
    let router = common::router(
        &topo,
        backend,
        RouterConfig::default(),
        std::sync::Arc::new(MemoryStore::new(100)),
    )
    .await;
    let repo = MariaBalances { router };
    check(&repo, &topo, async || {
        let mut c = repo.router.pool().replica(0).await.unwrap();
        diesel::select(sql::<BigInt>("(SELECT cents FROM balances WHERE id = 1)"))
            .get_result(&mut *c)
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_repository_reads_its_writes() {
    let topo = MariaDbTopology::start(2).await.unwrap();
    mysql_family_repository_reads_its_writes(topo, Mysql::new().with_cluster_name("macro-test"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_repository_reads_its_writes() {
    let topo = MysqlTopology::start(2).await.unwrap();
    mysql_family_repository_reads_its_writes(topo, Mysql::new()).await;
}

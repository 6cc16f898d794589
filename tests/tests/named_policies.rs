//! Budgets chosen by each deployment at run time: a repository method names a policy
//! (`#[read(policy = "balance")]`), the router defines it from configuration, and redefining
//! it changes the next call. Real Postgres, one replica 300 ms behind.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ryw::{
    Fallback, Postgres, Prefer, ReadPolicy, ReplicatedPool, Router, RouterConfig, read_your_writes,
};
use ryw_testkit::{PgTopology, Topology};

#[path = "common/tables.rs"]
mod tables;

include!("../ui/shared/db_error.rs");

struct Accounts {
    router: Router<Postgres>,
}

#[read_your_writes(scope = "user_id", router = "router")]
impl Accounts {
    #[write]
    async fn set(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        v: i64,
    ) -> Result<(), AppError> {
        diesel::sql_query(format!("UPDATE t SET v = {v} WHERE id = {user_id}"))
            .execute(conn)
            .await?;
        Ok(())
    }

    #[read(policy = "balance")]
    async fn get(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
        let q = format!("(SELECT v FROM t WHERE id = {user_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }

    #[read(policy = "undefined")]
    async fn get_undefined(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
    ) -> Result<i64, AppError> {
        let q = format!("(SELECT v FROM t WHERE id = {user_id})");
        Ok(diesel::select(sql::<BigInt>(&q)).get_result(conn).await?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_policy_is_defined_and_redefined_at_run_time() {
    let topo = PgTopology::start(1).await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES (1, 0)",
    )
    .await;
    topo.set_lag(0, Duration::from_millis(300)).await.unwrap();
    let pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url())
        .replica("r0", &topo.replica_urls()[0])
        .build()
        .unwrap();
    let router = Router::new(pool, RouterConfig::default()).await.unwrap();
    assert!(router.ready(Duration::from_secs(10)).await);
    let accounts = Accounts {
        router: router.clone(),
    };

    // This deployment: balances must not wait.
    router.define_policy(
        "balance",
        ReadPolicy::default()
            .with_wait_budget(Duration::ZERO)
            .with_fallback(Fallback::Leader),
    );
    accounts.set(1, 1).await.unwrap();
    let before = router.stats();
    assert_eq!(accounts.get(1).await.unwrap(), 1);
    let after = router.stats();
    assert_eq!(
        after.leader_reads - before.leader_reads,
        1,
        "budget 0: straight to the leader"
    );

    // Redefined (say, a configuration reload): the next call waits for the replica instead.
    router.define_policy(
        "balance",
        ReadPolicy::default()
            .with_wait_budget(Duration::from_secs(5))
            .with_prefer(Prefer::Replica),
    );
    accounts.set(1, 2).await.unwrap();
    let before = router.stats();
    assert_eq!(accounts.get(1).await.unwrap(), 2);
    let after = router.stats();
    assert_eq!(
        after.replica_reads - before.replica_reads,
        1,
        "a 5 s budget waits out 300 ms"
    );
    assert_eq!(after.leader_reads, before.leader_reads);

    // A name nobody defined is a typed error naming the ones that exist.
    match accounts.get_undefined(1).await {
        Err(AppError::Ryw(ryw::Error::UnknownPolicy { name, defined })) => {
            assert_eq!(name, "undefined");
            assert_eq!(defined, vec!["balance".to_owned()]);
        }
        other => panic!("expected UnknownPolicy, got {other:?}"),
    }
}

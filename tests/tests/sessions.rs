//! Read-your-writes across the boundaries of one request: a background job that carries the
//! token, and a second app instance that shares the Redis scope store but gets no token.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ryw::store::RedisStore;
use ryw::store::{MemoryStore, ScopeStore};
use ryw::{Error, Postgres, Router, RouterConfig};
use ryw::{KeyRing, RywContext, ScopeKey, TokenCodec};
use ryw_testkit::{PgTopology, RedisServer, Topology};

mod common;
#[path = "common/tables.rs"]
mod tables;

async fn topology() -> PgTopology {
    let topo = PgTopology::start(2).await.unwrap();
    tables::create_everywhere(
        &topo,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES (1, 0)",
    )
    .await;
    for r in 0..2 {
        topo.set_lag(r, Duration::from_millis(500)).await.unwrap();
    }
    topo
}

/// One "app instance": its own pools and router over the shared topology.
async fn instance(topo: &PgTopology, store: Arc<dyn ScopeStore>) -> Router<Postgres> {
    common::router(topo, Postgres::new(), RouterConfig::default(), store).await
}

fn user() -> ScopeKey {
    ScopeKey::of("user_id", 1)
}

async fn write(router: &Router<Postgres>, v: i64) {
    router
        .write(
            &user(),
            async move |c: &mut AsyncPgConnection| -> Result<usize, Error> {
                Ok(
                    diesel::sql_query(format!("UPDATE t SET v = {v} WHERE id = 1"))
                        .execute(c)
                        .await?,
                )
            },
        )
        .await
        .unwrap();
}

async fn read(router: &Router<Postgres>) -> ryw::Routed<i64> {
    router
        .read(
            &user(),
            async |c: &mut AsyncPgConnection| -> Result<i64, Error> {
                Ok(
                    diesel::select(sql::<BigInt>("(SELECT v FROM t WHERE id = 1)"))
                        .get_result(c)
                        .await?,
                )
            },
        )
        .await
        .unwrap()
}

async fn naive(router: &Router<Postgres>) -> i64 {
    let mut c = router.pool().replica(0).await.unwrap();
    diesel::select(sql::<BigInt>("(SELECT v FROM t WHERE id = 1)"))
        .get_result(&mut *c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_job_resumes_the_context_from_a_token() {
    let topo = topology().await;
    // No shared store: the token in the job payload is the only carrier.
    let router = instance(&topo, Arc::new(MemoryStore::new(10))).await;
    let worker_router = instance(&topo, Arc::new(MemoryStore::new(10))).await;
    let codec = TokenCodec::new(KeyRing::new(1, &[42; 32]).unwrap());

    let payload = RywContext::new()
        .run(async {
            write(&router, 5).await;
            RywContext::current().unwrap().export_token(&codec).unwrap()
        })
        .await;
    assert_eq!(naive(&router).await, 0, "lag must be real");

    let codec2 = codec.clone();
    let job = tokio::spawn(async move {
        // The worker has no task-local context of its own: it resumes the one in the payload.
        assert!(RywContext::current().is_none());
        let ctx = RywContext::from_token(&codec2, &payload).unwrap();
        ctx.run(async { read(&worker_router).await }).await
    });
    let seen = job.await.unwrap();
    assert_eq!(seen.value, 5, "the job sees the request's write");
    assert!(seen.position.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_sharing_redis_reads_fresh_without_a_token() {
    let topo = topology().await;
    let redis = RedisServer::start().await.unwrap();
    let store_a: Arc<dyn ScopeStore> =
        Arc::new(RedisStore::from_url(&redis.url(), "app:").unwrap());
    let store_b: Arc<dyn ScopeStore> =
        Arc::new(RedisStore::from_url(&redis.url(), "app:").unwrap());
    let a = instance(&topo, store_a).await;
    let b = instance(&topo, store_b).await;

    RywContext::new().run(async { write(&a, 9).await }).await;
    assert_eq!(naive(&b).await, 0, "lag must be real");
    // Instance B, a fresh request carrying no token: the floor comes from Redis.
    let seen = RywContext::new().run(async { read(&b).await }).await;
    assert_eq!(seen.value, 9);
    assert!(
        seen.position.is_some(),
        "B must have found the floor in Redis"
    );

    // Without the shared store the same read on a third instance is not fenced (and stale).
    let c = instance(&topo, Arc::new(MemoryStore::new(10))).await;
    RywContext::new().run(async { write(&a, 10).await }).await;
    let unfenced = RywContext::new().run(async { read(&c).await }).await;
    assert!(unfenced.position.is_none());
    assert!(
        unfenced.value < 10,
        "without the shared store the read is stale, got {}",
        unfenced.value
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_degrades_to_the_context_and_counts_it() {
    let topo = topology().await;
    let redis = RedisServer::start().await.unwrap();
    let store: Arc<dyn ScopeStore> = Arc::new(RedisStore::from_url(&redis.url(), "app:").unwrap());
    let a = instance(&topo, store).await;
    redis.kill().await;
    // The request still works: the write commits, its own context carries the floor.
    let seen = RywContext::new()
        .run(async {
            write(&a, 3).await;
            read(&a).await
        })
        .await;
    assert_eq!(seen.value, 3);
    assert!(
        a.stats().store_errors >= 2,
        "store failures are counted: {:?}",
        a.stats()
    );
    redis.restart().await.unwrap();
    let errors = a.stats().store_errors;
    RywContext::new().run(async { write(&a, 4).await }).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let before = a.stats().store_errors;
        let seen = RywContext::new().run(async { read(&a).await }).await;
        if a.stats().store_errors == before && seen.position.is_some() {
            assert_eq!(seen.value, 4);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "store never recovered ({errors} errors)"
        );
        write(&a, 4).await;
    }
}

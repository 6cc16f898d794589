//! A scope store that forgets: Redis killed and restarted empty between a write on one
//! device and a token-less read on another. The store's floor is gone; a router that trusts
//! the store alone reads a lagging replica and misses the write. ryw notices the store's new
//! life (no generation key) and fences reads by the leader's position until every replica
//! has passed it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::store::RedisStore;
use ryw::store::ScopeStore;
use ryw::{Error, Postgres, Router, RouterConfig};
use ryw::{RywContext, ScopeKey};
use ryw_testkit::{PgTopology, RedisServer, Topology};
use tokio::time::Instant;

mod common;
#[path = "common/tables.rs"]
mod tables;

const PAIRS: i64 = 100;

fn scope(id: i64) -> ScopeKey {
    ScopeKey::of("user_id", id)
}

async fn write(router: &Router<Postgres>, id: i64) {
    router
        .write(&scope(id), async move |c: &mut AsyncPgConnection| {
            diesel::sql_query(format!("UPDATE t SET v = 1 WHERE id = {id}"))
                .execute(c)
                .await
                .map_err(Error::from)
        })
        .await
        .unwrap();
}

fn select(id: i64) -> diesel::expression::SqlLiteral<BigInt> {
    sql::<BigInt>(&format!("(SELECT v FROM t WHERE id = {id})"))
}

async fn read(router: &Router<Postgres>, id: i64) -> ryw::Routed<i64> {
    router
        .read(&scope(id), async move |c: &mut AsyncPgConnection| {
            diesel::select(select(id))
                .get_result::<i64>(c)
                .await
                .map_err(Error::from)
        })
        .await
        .unwrap()
}

/// Waits (bounded) until `store` answers again after a restart.
async fn answering(store: &RedisStore, cluster: &ryw::ClusterId) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.lookup(cluster, &scope(0)).await.is_err() {
        assert!(Instant::now() < deadline, "redis never answered again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_loss_redis_restarted_empty_between_devices_is_never_read_stale() {
    let topo = PgTopology::start(1).await.unwrap();
    let rows: Vec<String> = (1..=PAIRS).map(|i| format!("({i}, 0)")).collect();
    tables::create_everywhere(
        &topo,
        &format!(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES {}",
            rows.join(",")
        ),
    )
    .await;
    topo.set_lag(0, Duration::from_secs(1)).await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let store = |()| Arc::new(RedisStore::from_url(&redis.url(), "app:").unwrap());
    let (store_a, store_b) = (store(()), store(()));
    let a_store = store_a.clone();
    let a = common::router(&topo, Postgres::new(), RouterConfig::default(), store_a).await;
    let b_store: Arc<dyn ScopeStore> = store_b.clone();
    let b = common::router(&topo, Postgres::new(), RouterConfig::default(), b_store).await;
    let cluster = b.cluster().clone();
    let mut replica = AsyncPgConnection::establish(&topo.replica_urls()[0])
        .await
        .unwrap();

    let (mut naive_stale, mut stale, mut fenced) = (0i64, 0i64, 0i64);
    for id in 1..=PAIRS {
        // Device 1 writes through instance A (its own token; the floor also goes to Redis,
        // once A's connection to it is back: a raise on the broken one is a store error).
        answering(&a_store, &cluster).await;
        RywContext::new().run(write(&a, id)).await;
        assert!(
            store_b.get(&cluster, &scope(id)).await.unwrap().is_some(),
            "the floor never reached the store: {:?}",
            a.stats()
        );
        redis.restart().await.unwrap();
        answering(&store_b, &cluster).await;
        // A router that trusts the store alone: no floor, so any replica will do.
        let naive_floor = store_b.get(&cluster, &scope(id)).await.unwrap();
        assert!(
            naive_floor.is_none(),
            "redis kept the floor across the restart"
        );
        let naive: i64 = diesel::select(select(id))
            .get_result(&mut replica)
            .await
            .unwrap();
        naive_stale += i64::from(naive != 1);
        // Device 2 reads through instance B with no token.
        let r = RywContext::new().run(read(&b, id)).await;
        stale += i64::from(r.value != 1);
        fenced += i64::from(r.position.is_some());
    }
    let stats = b.stats();
    eprintln!(
        "{PAIRS} pairs: store-only router stale {naive_stale}, ryw stale {stale}, fenced {fenced}; {stats:?}"
    );
    assert!(naive_stale > 0, "lag never showed: nothing was tested");
    assert_eq!(stale, 0, "a read after the store lost its floor was stale");
    assert_eq!(fenced, PAIRS, "every read fenced by the store-loss guard");
    assert!(stats.store_losses >= 1, "{stats:?}");
}

//! `RedisStore` tells when it lost its data: every lookup reports when the store's current
//! life began. A flush or a restart without persistence removes the generation key (a new
//! life at once); a restart or a Redis Cluster master failover changes the servers'
//! identities (a new life within the identity check's period). Nothing else does.
#![cfg(feature = "redis")]
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime};

use ryw_core::position::Lsn;
use ryw_core::store::RedisStore;
use ryw_core::{ClusterId, ScopeKey, ScopeStore};
use ryw_testkit::{RedisCluster, RedisServer};

const TTL: Duration = Duration::from_secs(600);

fn key(i: u64) -> (ClusterId, ScopeKey) {
    (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", i))
}

/// The life a lookup of scope `i` reports (bounded retries while the store comes back).
async fn life(store: &RedisStore, i: u64) -> SystemTime {
    let (c, s) = key(i);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.lookup(&c, &s).await {
            Ok(found) => return found.life_began.expect("a redis store reports its life"),
            Err(e) => assert!(Instant::now() < deadline, "store never answered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Looks up scopes until a lookup reports a life that began after `after` (bounded).
async fn new_life_after(store: &RedisStore, after: SystemTime, within: Duration) -> SystemTime {
    let deadline = Instant::now() + within;
    for i in 0.. {
        let began = life(store, i % 64).await;
        if began > after {
            return began;
        }
        assert!(
            Instant::now() < deadline,
            "no new life reported within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_loss_flush_and_restart_begin_new_lives_and_nothing_else_does() {
    let server = RedisServer::start().await.unwrap();
    let store =
        RedisStore::from_url_with_timeout(&server.url(), "t:", Duration::from_secs(2)).unwrap();
    let first = life(&store, 1).await;
    // Writes, reads and time do not begin a new life (past one identity check too).
    let (c, s) = key(1);
    store
        .raise(&c, &s, &Lsn::new(10).into(), TTL)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for i in 0..5 {
        assert_eq!(life(&store, i).await, first);
    }
    // Another instance of the same store sees the same life, dated when it began.
    let other = RedisStore::from_url(&server.url(), "t:").unwrap();
    assert_eq!(life(&other, 1).await, first);

    // A flush: the generation key is gone, the next lookup begins a new life.
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let flushed = life(&store, 1).await;
    assert!(flushed > first, "a flush went unnoticed");
    // The other instance sees a generation it did not know: a new life for it too.
    assert!(life(&other, 1).await > first);

    // A restart without persistence.
    let before = SystemTime::now();
    server.restart().await.unwrap();
    new_life_after(&store, before, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_loss_cluster_master_failover_begins_a_new_life() {
    let cluster = RedisCluster::start(3, 1).await.unwrap();
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let store = RedisStore::cluster_from_urls(&urls, "ryw:")
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    // Learn every master's identity and a generation in several slots.
    let mut first = SystemTime::UNIX_EPOCH;
    for i in 0..16 {
        first = first.max(life(&store, i).await);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for i in 0..16 {
        assert!(life(&store, i).await <= first, "a new life without a loss");
    }
    let before = SystemTime::now();
    let masters = cluster.master_ports().await.unwrap();
    cluster.failover(masters[0]).await.unwrap();
    new_life_after(&store, before, Duration::from_secs(15)).await;
}

//! The position feed in Redis (standalone and Cluster): one holder at a time per replica, a
//! lease that moves when its holder stops renewing it, a fenced ex-holder that cannot publish
//! over its successor, and the readers' demand reaching the holder.
#![cfg(feature = "redis")]
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use ryw_core::position::{Lsn, Position};
use ryw_core::redis;
use ryw_core::store::{Demand, FeedEntry, Lease, Published, RedisStore};
use ryw_core::{ClusterId, ScopeStore};
use ryw_testkit::{RedisCluster, RedisServer, RoundTrips};

fn entry(lsn: u64) -> FeedEntry {
    FeedEntry::new(Position::Lsn(Lsn::new(lsn)), Some(1), SystemTime::now())
}

async fn lease_moves_and_fences(store: &RedisStore) {
    let feed = store.feed().expect("a redis store carries a feed");
    let c = ClusterId::new("pg:1:1");
    let ttl = Duration::from_millis(300);
    let a = feed
        .acquire(&c, "r0", "a", ttl)
        .await
        .unwrap()
        .expect("a free lease");
    // Held: another instance cannot take it; its holder renews it with the same token.
    assert_eq!(feed.acquire(&c, "r0", "b", ttl).await.unwrap(), None);
    assert_eq!(feed.acquire(&c, "r0", "a", ttl).await.unwrap(), Some(a));
    // Replicas have a lease each.
    assert!(feed.acquire(&c, "r1", "b", ttl).await.unwrap().is_some());
    assert_eq!(
        feed.publish(&c, "r0", a, &entry(100), ttl).await.unwrap(),
        Published::Stored(Demand::Idle)
    );
    let (seen, demand) = feed.read(&c, "r0", Demand::Idle).await.unwrap();
    let seen = seen.unwrap();
    assert_eq!(demand, Demand::Idle);
    assert_eq!(seen.position, Position::Lsn(Lsn::new(100)));
    assert_eq!(seen.epoch, Some(1));
    // The holder stalls past the TTL: the lease moves, with a larger token.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let b = feed
        .acquire(&c, "r0", "b", ttl)
        .await
        .unwrap()
        .expect("an expired lease");
    assert!(b > a, "{b:?} after {a:?}");
    assert_eq!(
        feed.publish(&c, "r0", b, &entry(200), ttl).await.unwrap(),
        Published::Stored(Demand::Idle)
    );
    // The paused ex-holder comes back with an older observation: fenced, nothing stored.
    assert_eq!(
        feed.publish(&c, "r0", a, &entry(150), ttl).await.unwrap(),
        Published::Fenced
    );
    assert_eq!(
        feed.publish(&c, "r0", Lease(b.0 + 1), &entry(150), ttl)
            .await
            .unwrap(),
        Published::Fenced
    );
    let seen = feed.read(&c, "r0", Demand::Idle).await.unwrap().0.unwrap();
    assert_eq!(seen.position, Position::Lsn(Lsn::new(200)));
    // An unreachable replica: the last position seen, marked, read back marked.
    let off = FeedEntry::unreachable(Position::Lsn(Lsn::new(205)), Some(1), SystemTime::now());
    feed.publish(&c, "r0", b, &off, ttl).await.unwrap();
    let seen = feed.read(&c, "r0", Demand::Idle).await.unwrap().0.unwrap();
    assert!(!seen.online);
    assert_eq!(seen.position, Position::Lsn(Lsn::new(205)));
    // Readers' demand reaches the holder with its next publish, the highest one winning.
    feed.read(&c, "r0", Demand::Pending).await.unwrap();
    feed.read(&c, "r0", Demand::Waiting).await.unwrap();
    // A holder checking while it sleeps sees it too.
    assert_eq!(
        feed.read(&c, "r0", Demand::Pending).await.unwrap().1,
        Demand::Waiting
    );
    assert_eq!(
        feed.publish(&c, "r0", b, &entry(210), ttl).await.unwrap(),
        Published::Stored(Demand::Waiting)
    );
    // ... and lapses when nobody renews it.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        feed.publish(&c, "r0", b, &entry(220), ttl).await.unwrap(),
        Published::Stored(Demand::Idle)
    );
    // Nothing published for another cluster.
    assert_eq!(
        feed.read(&ClusterId::new("pg:2:1"), "r0", Demand::Idle)
            .await
            .unwrap()
            .0,
        None
    );
}

#[tokio::test]
async fn feed_lease_moves_when_its_holder_stalls_and_fences_it_on_standalone_redis() {
    let redis = RedisServer::start().await.expect("start redis");
    let store = RedisStore::from_url(&redis.url(), "ryw:").unwrap();
    lease_moves_and_fences(&store).await;
}

#[tokio::test]
async fn feed_lease_moves_when_its_holder_stalls_and_fences_it_on_a_redis_cluster() {
    let cluster = RedisCluster::start(3, 0)
        .await
        .expect("start a redis cluster");
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let store = RedisStore::cluster_from_urls(&urls, "ryw:").unwrap();
    lease_moves_and_fences(&store).await;
}

#[tokio::test]
async fn position_feed_entries_from_another_writer_are_errors_not_panics() {
    let redis = RedisServer::start().await.expect("start redis");
    let store = RedisStore::from_url(&redis.url(), "ryw:").unwrap();
    let feed = store.feed().unwrap();
    let c = ClusterId::new("pg:1:1");
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for junk in ["nonsense", "L:0/10|soon", "X:1|5"] {
        let _: () = redis::cmd("SET")
            .arg("ryw:f6:pg:1:1:replica:r0")
            .arg(junk)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(feed.read(&c, "r0", Demand::Idle).await.is_err(), "{junk}");
    }
}

#[tokio::test]
async fn position_feed_entries_come_back_with_a_floor_lookup_in_one_round_trip() {
    let redis = RedisServer::start().await.expect("start redis");
    let store = RedisStore::from_url(&redis.url(), "ryw:").unwrap();
    let feed = store.feed().unwrap();
    let c = ClusterId::new("pg:1:1");
    let scope = ryw_core::ScopeKey::of("user_id", 7);
    let ttl = Duration::from_secs(5);
    store
        .raise(&c, &scope, &Position::Lsn(Lsn::new(50)), ttl)
        .await
        .unwrap();
    let lease = feed.acquire(&c, "r1", "a", ttl).await.unwrap().unwrap();
    feed.publish(&c, "r1", lease, &entry(40), ttl)
        .await
        .unwrap();
    // Counted on the wire: the floor and both entries, one round trip.
    let relay = RoundTrips::start(redis.port()).unwrap();
    let counted =
        RedisStore::from_url(&format!("redis://127.0.0.1:{}", relay.port()), "ryw:").unwrap();
    counted.lookup(&c, &scope).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = relay.count();
    let (floor, fed) = counted.lookup_fed(&c, &scope, &["r0", "r1"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        relay.count() - before,
        1,
        "round trips of a lookup with the feed"
    );
    assert_eq!(floor.position, Some(Position::Lsn(Lsn::new(50))));
    assert_eq!(fed.len(), 2);
    assert_eq!(fed[0], None);
    assert_eq!(
        fed[1].as_ref().map(|e| e.position.clone()),
        Some(Position::Lsn(Lsn::new(40)))
    );
}

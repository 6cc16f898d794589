//! Store entries carry the epoch they were raised on: the in-process store and Redis (its
//! Lua merge, its compare-and-set path) keep the same rules — the later epoch labels a merge,
//! a held floor of an earlier epoch is lowered to its epoch's end before merging when the
//! raiser knows it, and entries of the older, epoch-less format still read.
#![cfg(feature = "redis")]
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ryw_core::position::{Lsn, Position};
use ryw_core::store::RedisStore;
use ryw_core::{
    ClusterId, EpochHistory, EpochStamp, MemoryStore, ScopeKey, ScopeStore, StoredFloor,
};
use ryw_testkit::RedisServer;

const TTL: Duration = Duration::from_secs(600);

fn lsn(n: u64) -> Position {
    Position::Lsn(Lsn::new(n))
}

fn key() -> (ClusterId, ScopeKey) {
    (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", 7))
}

async fn raise(store: &dyn ScopeStore, at: u64, epoch: Option<u32>, h: Option<&EpochHistory>) {
    let (c, s) = key();
    let scopes = std::slice::from_ref(&s);
    store
        .raise_stamped(&c, scopes, &lsn(at), EpochStamp::new(epoch, h), TTL)
        .await
        .unwrap();
}

async fn held(store: &dyn ScopeStore) -> (Option<Position>, Option<u32>) {
    let (c, s) = key();
    let StoredFloor {
        position, epoch, ..
    } = store.lookup(&c, &s).await.unwrap();
    (position, epoch)
}

/// The same sequence on any store.
async fn epochs_merge_by_the_rules(store: &dyn ScopeStore) {
    let (c, _) = key();
    // Timeline 1 ended at 0/5000; the leader is on 2.
    let history = EpochHistory::new(2).with_end(1, lsn(0x5000));
    raise(store, 0x6000, Some(1), None).await;
    assert_eq!(held(store).await, (Some(lsn(0x6000)), Some(1)));
    // A later raise on the same epoch: the max, same epoch.
    raise(store, 0x6100, Some(1), None).await;
    assert_eq!(held(store).await, (Some(lsn(0x6100)), Some(1)));
    // A raise on epoch 2 without a history: the position is kept (never lowered on a
    // guess), labelled with the later epoch.
    raise(store, 0x5800, Some(2), None).await;
    assert_eq!(held(store).await, (Some(lsn(0x6100)), Some(2)));

    // Again from an epoch-1 floor, now with the history: the held floor is lowered to the
    // end of timeline 1 (what survived) and merged with the epoch-2 write.
    let (c2, s2) = (c.clone(), ScopeKey::of("user_id", 9));
    let one = std::slice::from_ref(&s2);
    let stamp = |e, h| EpochStamp::new(Some(e), h);
    store
        .raise_stamped(&c2, one, &lsn(0x6000), stamp(1, None), TTL)
        .await
        .unwrap();
    store
        .raise_stamped(&c2, one, &lsn(0x5800), stamp(2, Some(&history)), TTL)
        .await
        .unwrap();
    let got = store.lookup(&c2, &s2).await.unwrap();
    assert_eq!((got.position, got.epoch), (Some(lsn(0x5800)), Some(2)));
    // A floor inside the new history is not lowered.
    let s3 = ScopeKey::of("user_id", 10);
    let one = std::slice::from_ref(&s3);
    store
        .raise_stamped(&c2, one, &lsn(0x4000), stamp(1, None), TTL)
        .await
        .unwrap();
    store
        .raise_stamped(&c2, one, &lsn(0x3000), stamp(2, Some(&history)), TTL)
        .await
        .unwrap();
    let got = store.lookup(&c2, &s3).await.unwrap();
    assert_eq!((got.position, got.epoch), (Some(lsn(0x4000)), Some(2)));
    // No epoch (a backend without epochs): as before, no label.
    let s4 = ScopeKey::of("user_id", 11);
    store.raise(&c2, &s4, &lsn(0x10), TTL).await.unwrap();
    let got = store.lookup(&c2, &s4).await.unwrap();
    assert_eq!((got.position, got.epoch), (Some(lsn(0x10)), None));
}

#[tokio::test]
async fn store_epochs_memory_store_merges_by_the_rules() {
    epochs_merge_by_the_rules(&MemoryStore::new(100)).await;
}

#[tokio::test]
async fn store_epochs_redis_lua_merge_keeps_the_same_rules() {
    let server = RedisServer::start().await.unwrap();
    let store = RedisStore::from_url(&server.url(), "t:").unwrap();
    epochs_merge_by_the_rules(&store).await;
}

#[tokio::test]
async fn store_epochs_redis_reads_and_merges_entries_of_the_older_format() {
    let server = RedisServer::start().await.unwrap();
    let store = RedisStore::from_url(&server.url(), "t:").unwrap();
    let (c, s) = key();
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // A floor written before store entries carried epochs.
    let _: () = redis::cmd("SET")
        .arg(store.key(&c, &s))
        .arg("L:0/6000")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held(&store).await, (Some(lsn(0x6000)), None));
    // Merged with an epoch-2 raise (with a history): no epoch to settle by, so it is kept.
    let history = EpochHistory::new(2).with_end(1, lsn(0x5000));
    raise(&store, 0x5800, Some(2), Some(&history)).await;
    assert_eq!(held(&store).await, (Some(lsn(0x6000)), Some(2)));
    let raw: String = redis::cmd("GET")
        .arg(store.key(&c, &s))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(raw, "L:0/6000@2");
    // An unreadable epoch is a store error, not a guess.
    let _: () = redis::cmd("SET")
        .arg(store.key(&c, &s))
        .arg("L:0/6000@two")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(store.lookup(&c, &s).await.is_err());
}

//! `RedisStore` on a real Redis Cluster (3 masters, 1 replica each, started by `ryw-testkit`
//! on free loopback ports): every position kind, one-slot lookups, scopes spread over the
//! masters, and the atomic max-merge while slots move between masters and a master fails
//! over — no read ever sees a floor lower than one already acknowledged, errors are counted.
#![cfg(feature = "redis")]
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ryw_core::position::{Lsn, Position};
use ryw_core::store::RedisStore;
use ryw_core::{ClusterId, ScopeKey, ScopeStore};
use ryw_testkit::RedisCluster;

const TTL: Duration = Duration::from_secs(600);

fn store(cluster: &RedisCluster) -> RedisStore {
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    RedisStore::cluster_from_urls(&urls, "ryw:")
        .unwrap()
        .with_timeout(Duration::from_secs(2))
}

fn lsn(p: &Position) -> u64 {
    match p {
        Position::Lsn(l) => l.as_u64(),
        other => panic!("not an LSN: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_merges_and_a_lookup_is_one_slot() {
    let cluster = RedisCluster::start(3, 1).await.unwrap();
    let store = store(&cluster);
    assert!(store.is_cluster());
    let c = ClusterId::new("pg:1");
    let s = ScopeKey::of("user_id", "{braces}in:the}value{");

    store
        .raise(&c, &s, &Lsn::new(200).into(), TTL)
        .await
        .unwrap();
    store
        .raise(&c, &s, &Lsn::new(100).into(), TTL)
        .await
        .unwrap();
    assert_eq!(store.get(&c, &s).await.unwrap(), Some(Lsn::new(200).into()));

    // The mark lives under its own key; the lookup reads both with one MGET, which stays one
    // command to one master only when both keys hash to one slot (else the client splits it).
    let port = cluster.nodes().await.unwrap()[0].port;
    for scope in [
        s.clone(),
        ScopeKey::of("user_id", 42),
        ScopeKey::of("a", "}{"),
    ] {
        let (floor, mark) = (store.key(&c, &scope), store.mark_key(&c, &scope));
        assert_eq!(
            keyslot(port, &floor).await,
            keyslot(port, &mark).await,
            "{floor} / {mark}"
        );
    }
    store.mark_unfenced(&c, &s, TTL).await.unwrap();
    let found = store.lookup(&c, &s).await.unwrap();
    assert_eq!(found.position, Some(Lsn::new(200).into()));
    assert!(found.unfenced_since.is_some());

    let m = ScopeKey::of("org_id", 7);
    let list = |t: &str| Position::GtidList(t.parse().unwrap());
    store
        .raise(&c, &m, &list("0-1-10,1-2-5"), TTL)
        .await
        .unwrap();
    store
        .raise(&c, &m, &list("0-1-9,1-2-8"), TTL)
        .await
        .unwrap();
    assert_eq!(store.get(&c, &m).await.unwrap(), Some(list("0-1-10,1-2-8")));

    let g = ScopeKey::of("team_id", 3);
    let uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    let set = |t: &str| Position::GtidSet(format!("{uuid}:{t}").parse().unwrap());
    store.raise(&c, &g, &set("1-5"), TTL).await.unwrap();
    store.raise(&c, &g, &set("7-9"), TTL).await.unwrap();
    assert_eq!(store.get(&c, &g).await.unwrap(), Some(set("1-5:7-9")));

    // Scopes spread over the masters: 300 scopes land on every one of the three.
    for i in 0..300 {
        let scope = ScopeKey::of("spread", i);
        store
            .raise(&c, &scope, &Lsn::new(1).into(), TTL)
            .await
            .unwrap();
    }
    let masters = cluster.master_ports().await.unwrap();
    assert_eq!(masters.len(), 3);
    for port in masters {
        let keys = dbsize(port).await;
        assert!(keys > 20, "master {port} holds only {keys} of 303 keys");
    }
}

async fn keyslot(port: u16, key: &str) -> i64 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut node(port).await)
        .await
        .unwrap()
}

async fn dbsize(port: u16) -> i64 {
    redis::cmd("DBSIZE")
        .query_async(&mut node(port).await)
        .await
        .unwrap()
}

/// A plain connection to one node (no redirections).
async fn node(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    raises: AtomicUsize,
    reads: AtomicUsize,
    errors: AtomicUsize,
    lowered: AtomicUsize,
}

/// Writers raise random LSNs on a set of scopes and record the highest acknowledged one;
/// readers check each read against what was acknowledged before it started.
async fn client(
    store: Arc<RedisStore>,
    acked: Arc<Vec<AtomicU64>>,
    tally: Arc<Tally>,
    seed: u64,
    stop: Arc<Mutex<bool>>,
) {
    let c = ClusterId::new("pg:1");
    let mut rng = StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + Duration::from_secs(120);
    for _ in 0..200_000 {
        if *stop.lock().unwrap() || Instant::now() > deadline {
            break;
        }
        let i = rng.random_range(0..acked.len());
        let scope = ScopeKey::of("user_id", i);
        if rng.random_bool(0.5) {
            let v = rng.random_range(1..1_000_000_000u64);
            match store.raise(&c, &scope, &Lsn::new(v).into(), TTL).await {
                Ok(()) => {
                    acked[i].fetch_max(v, Ordering::SeqCst);
                    tally.raises.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        } else {
            let before = acked[i].load(Ordering::SeqCst);
            match store.get(&c, &scope).await {
                Ok(found) => {
                    tally.reads.fetch_add(1, Ordering::Relaxed);
                    if found.as_ref().map_or(0, lsn) < before {
                        tally.lowered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_floor_is_lowered_while_slots_move_and_a_master_fails_over() {
    let cluster = RedisCluster::start(3, 1).await.unwrap();
    let store = Arc::new(store(&cluster));
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..64).map(|_| AtomicU64::new(0)).collect());
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(Mutex::new(false));
    let clients: Vec<_> = (0..8)
        .map(|seed| {
            tokio::spawn(client(
                store.clone(),
                acked.clone(),
                tally.clone(),
                seed,
                stop.clone(),
            ))
        })
        .collect();

    let masters = cluster.master_ports().await.unwrap();
    let mut progress = HashMap::new();
    let mut settle = async |label: &'static str| {
        // Let the clients run on the new layout before the next step.
        let before = tally.raises.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tally.raises.load(Ordering::Relaxed) < before + 500 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        progress.insert(label, tally.raises.load(Ordering::Relaxed) - before);
    };
    settle("start").await;
    cluster
        .move_slots(masters[0], masters[1], 2000)
        .await
        .unwrap();
    settle("after reshard").await;
    let promoted = cluster.failover(masters[1]).await.unwrap();
    settle("after failover").await;
    *stop.lock().unwrap() = true;
    for c in clients {
        c.await.unwrap();
    }

    let t = &tally;
    let (raises, reads, errors, lowered) = (
        t.raises.load(Ordering::Relaxed),
        t.reads.load(Ordering::Relaxed),
        t.errors.load(Ordering::Relaxed),
        t.lowered.load(Ordering::Relaxed),
    );
    eprintln!(
        "cluster run: {raises} raises, {reads} reads, {errors} store errors, {lowered} lowered; \
         raises per phase {progress:?}; master {} failed over to {promoted}",
        masters[1]
    );
    assert_eq!(lowered, 0, "a read saw a floor below an acknowledged raise");
    for phase in ["start", "after reshard", "after failover"] {
        assert!(
            progress[phase] >= 500,
            "clients stalled {phase}: {progress:?}"
        );
    }
    // Every scope ends at the highest acknowledged raise: nothing was lost or lowered. A
    // lookup may still fail while the clients' view of the new master settles (counted,
    // like any store error); it is asked again within a bound.
    let c = ClusterId::new("pg:1");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut retried = 0;
    for (i, a) in acked.iter().enumerate() {
        let want = a.load(Ordering::SeqCst);
        let got = loop {
            match store.get(&c, &ScopeKey::of("user_id", i)).await {
                Ok(found) => break found.as_ref().map_or(0, lsn),
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "scope {i}: the store never answered: {e}"
                    );
                    retried += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        assert!(got >= want, "scope {i}: stored {got} < acknowledged {want}");
    }
    eprintln!("final check: 64 scopes, {retried} lookups retried");
}

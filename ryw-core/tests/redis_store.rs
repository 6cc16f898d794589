//! `RedisStore` on a real Redis (started by `ryw-testkit` on a free port): atomic max-merge
//! under concurrency, kind mismatch, TTL, key prefix, and Redis going away and coming back.
#![cfg(feature = "redis")]
#![allow(missing_docs)]
// Helpers outside `#[test]` functions are test code too (clippy.toml only covers the latter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use ryw_core::position::{
    GtidInterval, GtidList, GtidSet, LogPosition, Lsn, MariaGtid, Position, PositionKind, Uuid,
};
use ryw_core::store::RedisStore;
use ryw_core::{ClusterId, RywError, ScopeKey, ScopeStore};
use ryw_testkit::RedisServer;

const LONG: Duration = Duration::from_secs(600);
/// Generous deadline for tests that are not about failure (the machine may be loaded).
const PATIENT: Duration = Duration::from_secs(5);

fn key() -> (ClusterId, ScopeKey) {
    (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", 42))
}

fn store(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::from_url_with_timeout(&server.url(), prefix, PATIENT).unwrap()
}

async fn redis_conn(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn raw_get(server: &RedisServer, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut redis_conn(server).await)
        .await
        .unwrap()
}

async fn pttl(server: &RedisServer, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut redis_conn(server).await)
        .await
        .unwrap()
}

fn list(s: &str) -> Position {
    Position::GtidList(s.parse().unwrap())
}

fn set(s: &str) -> Position {
    Position::GtidSet(s.parse().unwrap())
}

const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
const U2: &str = "0a11fa47-71ca-11e1-9e33-c80aa9429562";

#[tokio::test]
async fn get_empty_raise_get_and_never_lower() {
    let server = RedisServer::start().await.unwrap();
    let store = store(&server, "t:");
    let c = ClusterId::new("pg:1:1");
    assert_eq!(store.name(), "redis");

    // LSN, including values whose halves matter and values beyond 2^53.
    let s = ScopeKey::of("lsn", 1);
    assert_eq!(store.get(&c, &s).await.unwrap(), None);
    let steps: [(u64, u64); 7] = [
        (0xFFFF_FFFF, 0xFFFF_FFFF),
        (0x1_0000_0000, 0x1_0000_0000),
        (0xFFFF_FFFF, 0x1_0000_0000),
        (0x16_B374_D848, 0x16_B374_D848),
        (0x16_B374_D847, 0x16_B374_D848),
        ((1 << 53) + 1, (1 << 53) + 1),
        (1 << 53, (1 << 53) + 1),
    ];
    for (raise, expect) in steps {
        store
            .raise(&c, &s, &Lsn::new(raise).into(), LONG)
            .await
            .unwrap();
        assert_eq!(
            store.get(&c, &s).await.unwrap(),
            Some(Position::Lsn(Lsn::new(expect))),
            "after raising to {raise:#x}"
        );
    }
    store
        .raise(&c, &s, &Lsn::new(u64::MAX).into(), LONG)
        .await
        .unwrap();
    store
        .raise(&c, &s, &Lsn::new(u64::MAX - 1).into(), LONG)
        .await
        .unwrap();
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(u64::MAX)))
    );
    assert_eq!(
        raw_get(&server, &store.key(&c, &s)).await.as_deref(),
        Some("L:FFFFFFFF/FFFFFFFF")
    );

    // MariaDB GTID list: per-domain max, sequence numbers beyond 2^53 compared exactly.
    let s = ScopeKey::of("list", 1);
    assert_eq!(store.get(&c, &s).await.unwrap(), None);
    let steps = [
        ("0-1-100,1-2-5", "0-1-100,1-2-5"),
        ("0-1-99", "0-1-100,1-2-5"),
        ("0-1-101,2-3-7", "0-1-101,1-2-5,2-3-7"),
        ("1-9-4", "0-1-101,1-2-5,2-3-7"),
        (
            "5-1-9007199254740993",
            "0-1-101,1-2-5,2-3-7,5-1-9007199254740993",
        ),
        (
            "5-1-9007199254740992",
            "0-1-101,1-2-5,2-3-7,5-1-9007199254740993",
        ),
        (
            "5-1-18446744073709551615",
            "0-1-101,1-2-5,2-3-7,5-1-18446744073709551615",
        ),
        (
            "5-1-18446744073709551614,10-1-1",
            "0-1-101,1-2-5,2-3-7,5-1-18446744073709551615,10-1-1",
        ),
    ];
    for (raise, expect) in steps {
        store.raise(&c, &s, &list(raise), LONG).await.unwrap();
        assert_eq!(
            store.get(&c, &s).await.unwrap(),
            Some(list(expect)),
            "after raising with {raise}"
        );
    }

    // MySQL GTID set: union.
    let s = ScopeKey::of("set", 1);
    assert_eq!(store.get(&c, &s).await.unwrap(), None);
    let steps = [
        (format!("{U1}:1-5"), format!("{U1}:1-5")),
        (format!("{U1}:2-3"), format!("{U1}:1-5")),
        (format!("{U1}:7-9"), format!("{U1}:1-5:7-9")),
        (format!("{U1}:6,{U2}:1"), format!("{U2}:1,{U1}:1-9")),
        (format!("{U1}:tag:1-2"), format!("{U2}:1,{U1}:1-9:tag:1-2")),
        (format!("{U2}:1"), format!("{U2}:1,{U1}:1-9:tag:1-2")),
    ];
    for (raise, expect) in steps {
        store.raise(&c, &s, &set(&raise), LONG).await.unwrap();
        assert_eq!(
            store.get(&c, &s).await.unwrap(),
            Some(set(&expect)),
            "after raising with {raise}"
        );
    }
}

/// The Lua merge of GTID lists must agree with `GtidList::merge`, including its tie-break on
/// the server id when two lists have the same sequence number in a domain.
#[tokio::test]
async fn lua_gtid_list_merge_agrees_with_rust() {
    let server = RedisServer::start().await.unwrap();
    let store = store(&server, "t:");
    let c = ClusterId::new("maria:1");
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..40 {
        let s = ScopeKey::of("round", round);
        let mut expect: Option<GtidList> = None;
        for _ in 0..8 {
            let l = GtidList::from_gtids((0..rng.random_range(0..4)).map(|_| MariaGtid {
                domain: rng.random_range(0..5),
                server: rng.random_range(1..4),
                seq: if rng.random_bool(0.3) {
                    u64::MAX - rng.random_range(0..3)
                } else {
                    rng.random_range(1..6)
                },
            }));
            expect = Some(expect.map_or(l.clone(), |e| e.merge(&l)));
            store.raise(&c, &s, &l.into(), LONG).await.unwrap();
        }
        let got = store.get(&c, &s).await.unwrap();
        assert_eq!(got, expect.map(Position::GtidList), "round {round}");
    }
}

/// Runs `tasks` tasks that each raise their share of `values` (in random order) and check,
/// after every raise, that the floor covers what they raised. Returns the final floor.
async fn raise_concurrently(store: Arc<RedisStore>, values: Vec<Position>, tasks: usize) {
    let (c, s) = key();
    let mut handles = Vec::new();
    for chunk in values.chunks(values.len().div_ceil(tasks)) {
        let (store, c, s, chunk) = (store.clone(), c.clone(), s.clone(), chunk.to_vec());
        handles.push(tokio::spawn(async move {
            for v in chunk {
                store.raise(&c, &s, &v, LONG).await.unwrap();
                let now = store.get(&c, &s).await.unwrap().unwrap();
                assert!(
                    now.covers(&v).unwrap(),
                    "floor {now} lost a raise to {v} it should cover"
                );
                tokio::task::yield_now().await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lsn_raises_end_at_the_max() {
    let server = RedisServer::start().await.unwrap();
    for round in 0..3u64 {
        let store = Arc::new(store(&server, &format!("lsn{round}:")));
        let mut rng = StdRng::seed_from_u64(round);
        // Spread over both 32-bit halves so the Lua comparison of halves is exercised.
        let mut values: Vec<u64> = (0..400)
            .map(|_| (rng.random_range(0..4u64) << 32) | rng.random_range(0..u64::from(u32::MAX)))
            .collect();
        let max = *values.iter().max().unwrap();
        values.shuffle(&mut rng);
        let positions = values.into_iter().map(|v| Lsn::new(v).into()).collect();
        raise_concurrently(store.clone(), positions, 8).await;
        let (c, s) = key();
        assert_eq!(
            store.get(&c, &s).await.unwrap(),
            Some(Position::Lsn(Lsn::new(max))),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gtid_list_raises_end_at_the_merge() {
    let server = RedisServer::start().await.unwrap();
    let store = Arc::new(store(&server, "list:"));
    let mut rng = StdRng::seed_from_u64(3);
    let values: Vec<GtidList> = (0..400)
        .map(|_| {
            GtidList::from_gtids([MariaGtid {
                domain: rng.random_range(0..4),
                server: 1,
                seq: rng.random_range(1..1_000_000),
            }])
        })
        .collect();
    let expect = values.iter().fold(GtidList::default(), |a, b| a.merge(b));
    let positions = values.into_iter().map(Position::GtidList).collect();
    raise_concurrently(store.clone(), positions, 8).await;
    let (c, s) = key();
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::GtidList(expect))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gtid_set_raises_end_at_the_union() {
    let server = RedisServer::start().await.unwrap();
    let store = Arc::new(store(&server, "set:"));
    let mut rng = StdRng::seed_from_u64(5);
    let uuids: [Uuid; 2] = [U1.parse().unwrap(), U2.parse().unwrap()];
    let values: Vec<GtidSet> = (0..400)
        .map(|_| {
            let start = rng.random_range(1..2000);
            GtidSet::from_parts([(
                uuids[rng.random_range(0..2)],
                String::new(),
                vec![GtidInterval {
                    start,
                    end: start + rng.random_range(0..3),
                }],
            )])
            .unwrap()
        })
        .collect();
    let expect = values.iter().fold(GtidSet::default(), |a, b| a.merge(b));
    let positions = values.into_iter().map(Position::GtidSet).collect();
    raise_concurrently(store.clone(), positions, 8).await;
    let (c, s) = key();
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::GtidSet(expect))
    );
}

/// Polls until the floor is gone; panics after `deadline`.
async fn wait_gone(store: &RedisStore, c: &ClusterId, s: &ScopeKey, deadline: Duration) {
    let until = Instant::now() + deadline;
    while store.get(c, s).await.unwrap().is_some() {
        assert!(
            Instant::now() < until,
            "floor still there after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ttl_expires_and_raises_extend_it() {
    let server = RedisServer::start().await.unwrap();
    let store = store(&server, "ttl:");
    let c = ClusterId::new("pg:1:1");

    // Every kind expires.
    let short = Duration::from_millis(300);
    for (i, p) in [
        Position::from(Lsn::new(5)),
        list("0-1-5"),
        set(&format!("{U1}:1-5")),
    ]
    .iter()
    .enumerate()
    {
        let s = ScopeKey::of("short", i);
        store.raise(&c, &s, p, short).await.unwrap();
        assert_eq!(store.get(&c, &s).await.unwrap().as_ref(), Some(p));
        let ms = pttl(&server, &store.key(&c, &s)).await;
        assert!((1..=300).contains(&ms), "pttl {ms}");
        wait_gone(&store, &c, &s, Duration::from_secs(5)).await;
    }

    // A later raise that does not change the floor still extends its TTL...
    let s = ScopeKey::of("extend", 1);
    store
        .raise(&c, &s, &Lsn::new(10).into(), short)
        .await
        .unwrap();
    store
        .raise(&c, &s, &Lsn::new(1).into(), LONG)
        .await
        .unwrap();
    let ms = pttl(&server, &store.key(&c, &s)).await;
    assert!(ms > 500_000, "pttl {ms} not extended");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(10)))
    );
    // ...and a raise with a shorter TTL never shortens it (for the CAS path too).
    store
        .raise(&c, &s, &Lsn::new(20).into(), short)
        .await
        .unwrap();
    let ms = pttl(&server, &store.key(&c, &s)).await;
    assert!(ms > 500_000, "pttl {ms} shortened");
    let s = ScopeKey::of("extend", 2);
    store
        .raise(&c, &s, &set(&format!("{U1}:1")), LONG)
        .await
        .unwrap();
    store
        .raise(&c, &s, &set(&format!("{U1}:2")), short)
        .await
        .unwrap();
    let ms = pttl(&server, &store.key(&c, &s)).await;
    assert!(ms > 500_000, "pttl {ms} shortened");
    // A short TTL followed by an unchanged GTID-set raise with a long one is extended.
    let s = ScopeKey::of("extend", 3);
    let p = set(&format!("{U1}:1-3"));
    store.raise(&c, &s, &p, short).await.unwrap();
    store
        .raise(&c, &s, &set(&format!("{U1}:2")), LONG)
        .await
        .unwrap();
    assert!(pttl(&server, &store.key(&c, &s)).await > 500_000);
    assert_eq!(store.get(&c, &s).await.unwrap(), Some(p));
}

#[tokio::test]
async fn prefixes_and_clusters_are_independent() {
    let server = RedisServer::start().await.unwrap();
    let a = store(&server, "app-a:");
    let b = store(&server, "app-b:");
    let (c, s) = key();
    a.raise(&c, &s, &Lsn::new(100).into(), LONG).await.unwrap();
    assert_eq!(b.get(&c, &s).await.unwrap(), None);
    b.raise(&c, &s, &Lsn::new(5).into(), LONG).await.unwrap();
    assert_eq!(
        a.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(100)))
    );
    assert_eq!(
        b.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(5)))
    );

    // Same scope in another cluster: independent, even of another kind.
    let other = ClusterId::new("maria:7");
    assert_eq!(a.get(&other, &s).await.unwrap(), None);
    a.raise(&other, &s, &list("0-1-3"), LONG).await.unwrap();
    assert_eq!(a.get(&other, &s).await.unwrap(), Some(list("0-1-3")));
    assert_eq!(
        a.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(100)))
    );

    // The key encoding is unambiguous: cluster "pg:1" + scope "1:x" is not
    // cluster "pg:1:1" + scope "x".
    assert_eq!(
        a.key(&ClusterId::new("pg:1:1"), &ScopeKey::new("x")),
        "app-a:6:pg:1:1:x"
    );
    let (c1, s1) = (ClusterId::new("pg:1"), ScopeKey::new("1:x"));
    let (c2, s2) = (ClusterId::new("pg:1:1"), ScopeKey::new("x"));
    assert_ne!(a.key(&c1, &s1), a.key(&c2, &s2));
    a.raise(&c1, &s1, &Lsn::new(9).into(), LONG).await.unwrap();
    assert_eq!(a.get(&c2, &s2).await.unwrap(), None);
}

#[tokio::test]
async fn kind_mismatch_keeps_the_held_floor() {
    let server = RedisServer::start().await.unwrap();
    let store = store(&server, "kind:");
    let c = ClusterId::new("c");
    let held = [
        Position::from(Lsn::new(100)),
        list("0-1-5"),
        set(&format!("{U1}:1-5")),
    ];
    for (i, h) in held.iter().enumerate() {
        let s = ScopeKey::of("s", i);
        store.raise(&c, &s, h, LONG).await.unwrap();
        for offered in &held {
            if offered.kind() == h.kind() {
                continue;
            }
            let err = store.raise(&c, &s, offered, LONG).await.unwrap_err();
            assert_eq!(
                err,
                RywError::ScopeKindMismatch {
                    scope: s.to_string(),
                    held: h.kind(),
                    offered: offered.kind(),
                }
            );
            assert_eq!(store.get(&c, &s).await.unwrap().as_ref(), Some(h));
        }
    }
    assert!(matches!(
        held[0].kind(),
        PositionKind::Lsn // sanity: the first held floor is an LSN
    ));
}

#[tokio::test]
async fn foreign_values_are_store_errors_and_left_alone() {
    let server = RedisServer::start().await.unwrap();
    let store = store(&server, "junk:");
    let (c, s) = key();
    let k = store.key(&c, &s);
    for junk in ["hello", "L:zz/1", "M:0-1", "G:not-a-uuid:1"] {
        let _: () = redis::cmd("SET")
            .arg(&k)
            .arg(junk)
            .query_async(&mut redis_conn(&server).await)
            .await
            .unwrap();
        let err = store.get(&c, &s).await.unwrap_err();
        assert!(
            matches!(err, RywError::Store { store: "redis", .. }),
            "{err}"
        );
        let offered = match &junk[..1] {
            "G" => set(&format!("{U1}:1")),
            "M" => list("0-1-1"),
            _ => Lsn::new(1).into(),
        };
        let err = store.raise(&c, &s, &offered, LONG).await.unwrap_err();
        assert!(
            matches!(err, RywError::Store { store: "redis", .. }),
            "{err}"
        );
        assert_eq!(raw_get(&server, &k).await.as_deref(), Some(junk));
    }
}

/// Every call while Redis is down (or hung) must fail fast with a store error.
async fn assert_fails_fast(store: &RedisStore, c: &ClusterId, s: &ScopeKey) -> Duration {
    let mut slowest = Duration::ZERO;
    for i in 0..5u64 {
        let t = Instant::now();
        let err = store.get(c, s).await.unwrap_err();
        slowest = slowest.max(t.elapsed());
        assert!(
            matches!(err, RywError::Store { store: "redis", .. }),
            "{err}"
        );
        for p in [
            Position::from(Lsn::new(1000 + i)),
            set(&format!("{U1}:{}", i + 1)),
        ] {
            let t = Instant::now();
            let err = store.raise(c, s, &p, LONG).await.unwrap_err();
            slowest = slowest.max(t.elapsed());
            assert!(
                matches!(err, RywError::Store { store: "redis", .. }),
                "{err}"
            );
        }
    }
    assert!(
        slowest < Duration::from_millis(700),
        "a call took {slowest:?}"
    );
    slowest
}

/// Polls until a raise succeeds again; panics after `deadline`.
async fn wait_recovered(store: &RedisStore, c: &ClusterId, s: &ScopeKey, deadline: Duration) {
    let until = Instant::now() + deadline;
    while store.raise(c, s, &Lsn::new(1).into(), LONG).await.is_err() {
        assert!(Instant::now() < until, "store not back after {deadline:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_degrades_fast_and_restart_recovers() {
    let server = RedisServer::start().await.unwrap();
    // Default (short) timeouts: what a request would see.
    let store = RedisStore::from_url(&server.url(), "kill:").unwrap();
    let (c, s) = key();
    let gs = ScopeKey::of("set", 1);
    store
        .raise(&c, &s, &Lsn::new(500).into(), LONG)
        .await
        .unwrap();
    store
        .raise(&c, &gs, &set(&format!("{U1}:1")), LONG)
        .await
        .unwrap();

    server.kill().await;
    let slowest = assert_fails_fast(&store, &c, &s).await;
    eprintln!("redis killed: slowest failing call {slowest:?}");

    server.restart().await.unwrap();
    wait_recovered(&store, &c, &s, Duration::from_secs(10)).await;
    // No persistence: the restarted Redis is empty, and both scripts work again (the script
    // cache is empty too, so this goes through the EVAL fallback).
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(1)))
    );
    store
        .raise(&c, &s, &Lsn::new(700).into(), LONG)
        .await
        .unwrap();
    store
        .raise(&c, &s, &Lsn::new(600).into(), LONG)
        .await
        .unwrap();
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(700)))
    );
    assert_eq!(store.get(&c, &gs).await.unwrap(), None);
    store
        .raise(&c, &gs, &set(&format!("{U1}:2")), LONG)
        .await
        .unwrap();
    assert_eq!(
        store.get(&c, &gs).await.unwrap(),
        Some(set(&format!("{U1}:2")))
    );
}

fn signal(server: &RedisServer, sig: &str) {
    let pid = std::fs::read_to_string(server.dir().join("redis.pid")).unwrap();
    let status = std::process::Command::new("kill")
        .args([sig, pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hung_times_out_fast_and_recovers() {
    let server = RedisServer::start().await.unwrap();
    let store = RedisStore::from_url(&server.url(), "hung:").unwrap();
    let (c, s) = key();
    store
        .raise(&c, &s, &Lsn::new(500).into(), LONG)
        .await
        .unwrap();

    // A stopped Redis accepts TCP connections (the kernel does) but never answers.
    signal(&server, "-STOP");
    let slowest = assert_fails_fast(&store, &c, &s).await;
    signal(&server, "-CONT");
    eprintln!("redis stopped: slowest failing call {slowest:?}");

    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match store.get(&c, &s).await {
            Ok(p) => {
                // The floor survived; raises made while hung may or may not have landed
                // (the script may have run after the client gave up), but never lowered it.
                let p = p.unwrap();
                assert!(p.covers(&Lsn::new(500).into()).unwrap(), "{p}");
                break;
            }
            Err(e) => assert!(Instant::now() < until, "not back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

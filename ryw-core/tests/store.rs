//! `MemoryStore`: atomic max-merge under concurrency, kind mismatch, TTL and size bound.
#![allow(missing_docs)]
// Helpers outside `#[test]` functions are test code too (clippy.toml only covers the latter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use ryw_core::position::{GtidList, LogPosition, Lsn, MariaGtid, Position, PositionKind};
use ryw_core::{ClusterId, MemoryStore, RywError, ScopeKey, ScopeStore};

const LONG: Duration = Duration::from_secs(600);

fn key() -> (ClusterId, ScopeKey) {
    (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", 42))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lsn_raises_end_at_the_max() {
    for round in 0..5u64 {
        let store: Arc<dyn ScopeStore> = Arc::new(MemoryStore::new(1000));
        let (c, s) = key();
        let mut rng = StdRng::seed_from_u64(round);
        let mut values: Vec<u64> = (0..2000).map(|_| rng.random_range(0..1_000_000)).collect();
        let max = *values.iter().max().unwrap();
        values.shuffle(&mut rng);
        let mut tasks = Vec::new();
        for chunk in values.chunks(50) {
            let (store, c, s, chunk) = (store.clone(), c.clone(), s.clone(), chunk.to_vec());
            tasks.push(tokio::spawn(async move {
                for v in chunk {
                    store
                        .raise(&c, &s, &Lsn::new(v).into(), LONG)
                        .await
                        .unwrap();
                    // Never below what this task itself raised.
                    let now = store.get(&c, &s).await.unwrap().unwrap();
                    assert!(now.covers(&Lsn::new(v).into()).unwrap());
                    tokio::task::yield_now().await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            store.get(&c, &s).await.unwrap(),
            Some(Position::Lsn(Lsn::new(max)))
        );
    }
}

#[test]
fn concurrent_lsn_raises_from_threads_end_at_the_max() {
    let store = MemoryStore::new(1000);
    let (c, s) = key();
    let mut rng = StdRng::seed_from_u64(7);
    let mut values: Vec<u64> = (0..4000).map(|_| rng.random()).collect();
    let max = *values.iter().max().unwrap();
    values.shuffle(&mut rng);
    std::thread::scope(|scope| {
        for chunk in values.chunks(500) {
            let (store, c, s) = (&store, &c, &s);
            scope.spawn(move || {
                for &v in chunk {
                    store.raise_now(c, s, &Lsn::new(v).into(), LONG).unwrap();
                }
            });
        }
    });
    assert_eq!(store.get_now(&c, &s), Some(Position::Lsn(Lsn::new(max))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gtid_list_raises_end_at_the_merge() {
    let store = Arc::new(MemoryStore::new(1000));
    let (c, s) = (ClusterId::new("mariadb:1"), ScopeKey::of("user_id", 1));
    let mut rng = StdRng::seed_from_u64(11);
    let lists: Vec<GtidList> = (0..1000)
        .map(|_| {
            let n = rng.random_range(0..4);
            GtidList::from_gtids((0..n).map(|_| MariaGtid {
                domain: rng.random_range(0..4),
                server: rng.random_range(1..3),
                seq: rng.random_range(0..10_000),
            }))
        })
        .collect();
    let expected = lists
        .iter()
        .fold(GtidList::default(), |acc, l| acc.merge(l));
    // Per-domain max seq, computed independently of `merge`.
    let mut per_domain = std::collections::BTreeMap::new();
    for g in lists.iter().flat_map(|l| l.gtids()) {
        let e = per_domain.entry(g.domain).or_insert(g.seq);
        *e = (*e).max(g.seq);
    }
    let mut tasks = Vec::new();
    for chunk in lists.chunks(25) {
        let (store, c, s, chunk) = (store.clone(), c.clone(), s.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for l in chunk {
                store.raise(&c, &s, &l.into(), LONG).await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let Some(Position::GtidList(got)) = store.get(&c, &s).await.unwrap() else {
        panic!("no GTID list stored");
    };
    let got_domains: std::collections::BTreeMap<u32, u64> =
        got.gtids().iter().map(|g| (g.domain, g.seq)).collect();
    assert_eq!(got_domains, per_domain);
    // Merge is commutative and associative exactly, so the race order does not matter.
    assert_eq!(got, expected);
}

#[tokio::test]
async fn raise_never_lowers() {
    let store = MemoryStore::new(100);
    let (c, s) = key();
    assert_eq!(store.get(&c, &s).await.unwrap(), None);
    let mut rng = StdRng::seed_from_u64(3);
    let mut max = 0;
    for _ in 0..500 {
        let v = rng.random_range(0..10_000);
        max = max.max(v);
        store
            .raise(&c, &s, &Lsn::new(v).into(), LONG)
            .await
            .unwrap();
        assert_eq!(
            store.get(&c, &s).await.unwrap(),
            Some(Position::Lsn(Lsn::new(max)))
        );
    }
    // Other keys are independent.
    assert_eq!(
        store.get(&c, &ScopeKey::of("user_id", 43)).await.unwrap(),
        None
    );
    assert_eq!(
        store.get(&ClusterId::new("pg:2:1"), &s).await.unwrap(),
        None
    );
    assert_eq!(store.name(), "memory");
}

#[tokio::test]
async fn kind_mismatch_keeps_the_held_floor() {
    let store = MemoryStore::new(100);
    let (c, s) = key();
    store
        .raise(&c, &s, &Lsn::new(500).into(), LONG)
        .await
        .unwrap();
    let err = store
        .raise(&c, &s, &"0-1-5".parse::<GtidList>().unwrap().into(), LONG)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RywError::ScopeKindMismatch {
            scope: "user_id:42".into(),
            held: PositionKind::Lsn,
            offered: PositionKind::GtidList,
        }
    );
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(500)))
    );
    // Still raisable with the right kind.
    store
        .raise(&c, &s, &Lsn::new(501).into(), LONG)
        .await
        .unwrap();
    assert_eq!(
        store.get(&c, &s).await.unwrap(),
        Some(Position::Lsn(Lsn::new(501)))
    );
}

/// Polls until the key is gone, up to `deadline`; returns when it disappeared.
fn wait_gone(store: &MemoryStore, c: &ClusterId, s: &ScopeKey, deadline: Duration) -> Instant {
    let start = Instant::now();
    loop {
        if store.get_now(c, s).is_none() {
            return Instant::now();
        }
        assert!(
            start.elapsed() < deadline,
            "entry still present {deadline:?} after its ttl"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn entry_expires_after_its_ttl() {
    let store = MemoryStore::new(100);
    let (c, s) = key();
    let ttl = Duration::from_millis(300);
    let raised = Instant::now();
    store.raise_now(&c, &s, &Lsn::new(1).into(), ttl).unwrap();
    let seen = store.get_now(&c, &s);
    if raised.elapsed() < ttl {
        assert_eq!(seen, Some(Position::Lsn(Lsn::new(1))));
    }
    let gone = wait_gone(&store, &c, &s, Duration::from_secs(10));
    assert!(
        gone.duration_since(raised) >= ttl,
        "gone after {:?}, before its ttl",
        gone.duration_since(raised)
    );
    // `len` is approximate: moka purges expired entries on its timer wheel (about 1 s
    // granularity), so poll for it, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.is_empty() {
        assert!(Instant::now() < deadline, "expired entry still counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(store.len(), 0);
    // A long ttl elsewhere is unaffected.
    let other = ScopeKey::of("user_id", 2);
    store
        .raise_now(&c, &other, &Lsn::new(1).into(), LONG)
        .unwrap();
    std::thread::sleep(ttl);
    assert!(store.get_now(&c, &other).is_some());
}

#[test]
fn a_raise_refreshes_the_ttl() {
    let ttl = Duration::from_millis(600);
    // On a loaded machine a step may take longer than planned; then the attempt proves
    // nothing and is repeated. At least one attempt must be conclusive.
    let mut conclusive = false;
    for attempt in 0..5 {
        let store = MemoryStore::new(100);
        let (c, s) = (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", attempt));
        let t0 = Instant::now();
        store.raise_now(&c, &s, &Lsn::new(1).into(), ttl).unwrap();
        std::thread::sleep(ttl / 2);
        let t1 = Instant::now();
        store.raise_now(&c, &s, &Lsn::new(2).into(), ttl).unwrap();
        // Past the first expiry, before the refreshed one.
        let check_at = t0 + ttl + ttl / 4;
        std::thread::sleep(check_at.saturating_duration_since(Instant::now()));
        let seen = store.get_now(&c, &s);
        let checked = Instant::now();
        if t1.duration_since(t0) < ttl && checked < t1 + ttl {
            assert_eq!(
                seen,
                Some(Position::Lsn(Lsn::new(2))),
                "expired at its first ttl although raised again"
            );
            // And the refreshed entry does expire.
            let gone = wait_gone(&store, &c, &s, Duration::from_secs(10));
            assert!(gone.duration_since(t1) >= ttl);
            conclusive = true;
            break;
        }
    }
    assert!(conclusive, "machine too slow for a conclusive TTL check");
}

#[test]
fn a_longer_remaining_ttl_is_not_shortened() {
    let store = MemoryStore::new(100);
    let (c, s) = key();
    store.raise_now(&c, &s, &Lsn::new(1).into(), LONG).unwrap();
    store
        .raise_now(&c, &s, &Lsn::new(2).into(), Duration::from_millis(50))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(store.get_now(&c, &s), Some(Position::Lsn(Lsn::new(2))));
}

#[test]
fn size_is_bounded() {
    let max_entries = 100;
    let store = MemoryStore::new(max_entries);
    let c = ClusterId::new("pg:1:1");
    for i in 0..5_000u64 {
        store
            .raise_now(&c, &ScopeKey::of("user_id", i), &Lsn::new(i).into(), LONG)
            .unwrap();
    }
    // `len` runs moka's pending maintenance; eviction may need more than one pass.
    let mut len = store.len();
    for _ in 0..10 {
        if len <= max_entries {
            break;
        }
        len = store.len();
    }
    assert!(
        len <= max_entries,
        "{len} entries for a bound of {max_entries}"
    );
    assert!(len > 0);
    let live = (0..5_000u64)
        .filter(|&i| store.get_now(&c, &ScopeKey::of("user_id", i)).is_some())
        .count();
    assert!(
        u64::try_from(live).unwrap() <= max_entries,
        "{live} live entries"
    );
}

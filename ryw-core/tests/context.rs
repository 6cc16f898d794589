//! `RywContext`: the task-local, sharing and forking, tokens, and the small flags.
#![allow(missing_docs)]
// Helpers outside `#[test]` functions are test code too (clippy.toml only covers the latter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ryw_core::position::{GtidList, Lsn, Position};
use ryw_core::{ClusterId, Floors, KeyRing, RywContext, RywError, ScopeKey, TokenCodec};

fn codec() -> TokenCodec {
    TokenCodec::new(KeyRing::new(1, &[9u8; 32]).unwrap())
}

fn cs() -> (ClusterId, ScopeKey) {
    (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", 7))
}

fn lsn(v: u64) -> Position {
    Lsn::new(v).into()
}

#[tokio::test]
async fn current_is_none_outside_run() {
    assert!(RywContext::current().is_none());
    RywContext::new()
        .run(async { assert!(RywContext::current().is_some()) })
        .await;
    assert!(RywContext::current().is_none());
}

#[tokio::test]
async fn raise_and_required_inside_run() {
    let (c, s) = cs();
    let outer = RywContext::new();
    let out = outer
        .clone()
        .run(async {
            let ctx = RywContext::current().unwrap();
            assert_eq!(ctx.required(&c, &s).unwrap(), None);
            assert!(ctx.raise(&c, &s, lsn(42)).unwrap());
            assert!(!ctx.raise(&c, &s, lsn(41)).unwrap());
            assert_eq!(ctx.required(&c, &s).unwrap(), Some(lsn(42)));
            tokio::task::yield_now().await;
            // Still there after an await point.
            RywContext::current().unwrap().required(&c, &s).unwrap()
        })
        .await;
    assert_eq!(out, Some(lsn(42)));
    // The handle used for `run` shares the state.
    assert_eq!(outer.required(&c, &s).unwrap(), Some(lsn(42)));
    // Nested runs see the innermost context.
    let inner = RywContext::new();
    outer
        .clone()
        .run(async {
            inner
                .clone()
                .run(async {
                    assert_eq!(
                        RywContext::current().unwrap().required(&c, &s).unwrap(),
                        None
                    );
                })
                .await;
            assert_eq!(
                RywContext::current().unwrap().required(&c, &s).unwrap(),
                Some(lsn(42))
            );
        })
        .await;
}

/// The pitfall the module documents: a plain `tokio::spawn` inside `run` loses the context,
/// so reads there would see no floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_spawn_does_not_inherit_the_context() {
    RywContext::new()
        .run(async {
            assert!(RywContext::current().is_some());
            let seen = tokio::spawn(async { RywContext::current().is_none() })
                .await
                .unwrap();
            assert!(seen, "a plain spawn unexpectedly saw the context");
            let seen = tokio::task::spawn_blocking(|| RywContext::current().is_none())
                .await
                .unwrap();
            assert!(seen);
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handing_the_context_to_a_spawned_task_shares_floors_both_ways() {
    let (c, s) = cs();
    let other = ScopeKey::of("user_id", 8);
    let ctx = RywContext::new();
    ctx.clone()
        .run(async {
            let here = RywContext::current().unwrap();
            here.raise(&c, &s, lsn(10)).unwrap();
            let shared = RywContext::current().unwrap();
            let (c2, s2, o2) = (c.clone(), s.clone(), other.clone());
            tokio::spawn(shared.run(async move {
                let there = RywContext::current().expect("context handed over");
                // The request's floor is visible in the task...
                assert_eq!(there.required(&c2, &s2).unwrap(), Some(lsn(10)));
                // ...and the task's writes raise the request's floors.
                there.raise(&c2, &o2, lsn(20)).unwrap();
                there.raise(&c2, &s2, lsn(15)).unwrap();
            }))
            .await
            .unwrap();
            assert_eq!(here.required(&c, &other).unwrap(), Some(lsn(20)));
            assert_eq!(here.required(&c, &s).unwrap(), Some(lsn(15)));
        })
        .await;
    assert_eq!(ctx.required(&c, &other).unwrap(), Some(lsn(20)));
}

#[test]
fn clones_share_and_forks_are_independent() {
    let (c, s) = cs();
    let a = RywContext::new();
    a.raise(&c, &s, lsn(5)).unwrap();
    let clone = a.clone();
    clone.raise(&c, &s, lsn(6)).unwrap();
    assert_eq!(a.required(&c, &s).unwrap(), Some(lsn(6)));

    let fork = a.fork();
    assert_eq!(fork.floors(), a.floors());
    fork.raise(&c, &s, lsn(100)).unwrap();
    assert_eq!(a.required(&c, &s).unwrap(), Some(lsn(6)));
    a.raise(&c, &ScopeKey::of("user_id", 9), lsn(1)).unwrap();
    assert_eq!(
        fork.required(&c, &ScopeKey::of("user_id", 9)).unwrap(),
        None
    );
    assert_eq!(fork.required(&c, &s).unwrap(), Some(lsn(100)));
}

#[test]
fn token_round_trip() {
    let codec = codec();
    let (c, s) = cs();
    let maria = ClusterId::new("mariadb:x");
    let ctx = RywContext::new();
    ctx.raise(&c, &s, lsn(0x16_B374_D848)).unwrap();
    ctx.raise(
        &maria,
        &s,
        "0-1-5,1-2-9".parse::<GtidList>().unwrap().into(),
    )
    .unwrap();
    let token = ctx.export_token(&codec).unwrap();

    let resumed = RywContext::from_token(&codec, &token).unwrap();
    assert_eq!(resumed.floors(), ctx.floors());

    let other = RywContext::new();
    other
        .raise(&c, &ScopeKey::of("user_id", 1), lsn(3))
        .unwrap();
    other.raise(&c, &s, lsn(1)).unwrap();
    other.import_token(&codec, &token).unwrap();
    assert_eq!(other.required(&c, &s).unwrap(), Some(lsn(0x16_B374_D848)));
    assert_eq!(
        other.required(&c, &ScopeKey::of("user_id", 1)).unwrap(),
        Some(lsn(3))
    );
    assert_eq!(
        other.required(&maria, &s).unwrap(),
        Some("0-1-5,1-2-9".parse::<GtidList>().unwrap().into())
    );

    assert!(RywContext::from_token(&codec, "nope").is_err());
}

#[test]
fn bad_token_import_leaves_context_unchanged() {
    let codec = codec();
    let (c, s) = cs();
    let ctx = RywContext::new();
    ctx.raise(&c, &s, lsn(5)).unwrap();
    let before = ctx.floors();
    let good = RywContext::with_floors({
        let mut f = Floors::default();
        f.raise(&c, &s, lsn(99)).unwrap();
        f
    })
    .export_token(&codec)
    .unwrap();
    let foreign = TokenCodec::new(KeyRing::new(1, &[1u8; 32]).unwrap());
    let tampered = {
        let mut t = good.clone();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        t
    };
    for bad in [
        String::new(),
        "garbage".to_owned(),
        "x".repeat(5000),
        tampered,
        good.clone() + "AAAA",
    ] {
        let err = ctx.import_token(&codec, &bad).unwrap_err();
        assert!(err.is_token_rejection(), "{err:?}");
        assert_eq!(ctx.floors(), before);
    }
    assert!(matches!(
        ctx.import_token(&foreign, &good),
        Err(RywError::TokenBadSignature { .. })
    ));
    assert_eq!(ctx.floors(), before);
    // An expired token is rejected as well.
    let old = codec
        .encode_at(
            &RywContext::new().floors(),
            std::time::SystemTime::now() - Duration::from_secs(86_400),
        )
        .unwrap();
    assert!(matches!(
        ctx.import_token(&codec, &old),
        Err(RywError::TokenExpired { .. })
    ));
    assert_eq!(ctx.floors(), before);
}

#[test]
fn leader_pin_is_taken_once() {
    let ctx = RywContext::new();
    assert!(!ctx.take_leader_pin());
    ctx.pin_next_read_to_leader();
    ctx.pin_next_read_to_leader();
    let clone = ctx.clone();
    assert!(clone.take_leader_pin());
    assert!(!ctx.take_leader_pin());
    assert!(!clone.take_leader_pin());
    ctx.pin_next_read_to_leader();
    assert!(ctx.take_leader_pin());
    assert!(!ctx.take_leader_pin());
}

#[test]
fn unfenced_write_is_cleared_by_a_raise_of_that_scope() {
    let (c, s) = cs();
    let other = ScopeKey::of("user_id", 8);
    let ctx = RywContext::new();
    assert_eq!(ctx.unfenced_since(&c, &s), None);
    let before = std::time::SystemTime::now() - Duration::from_millis(1);
    ctx.mark_unfenced_write(&c, &s);
    let at = ctx.unfenced_since(&c, &s).unwrap();
    assert!(at >= before && at <= std::time::SystemTime::now());
    // A raise of another scope leaves it; another cluster has no mark.
    ctx.raise(&c, &other, lsn(1)).unwrap();
    assert_eq!(ctx.unfenced_since(&c, &s), Some(at));
    assert_eq!(ctx.unfenced_since(&c, &other), None);
    assert_eq!(ctx.unfenced_since(&ClusterId::new("pg:other"), &s), None);
    // A raise of that scope clears it: a position captured after the mark covers the write.
    ctx.raise(&c, &s, lsn(2)).unwrap();
    assert_eq!(ctx.unfenced_since(&c, &s), None);
    // Even a raise that does not change the floor clears it (the write was fenced).
    ctx.mark_unfenced_write(&c, &s);
    assert!(!ctx.raise(&c, &s, lsn(1)).unwrap());
    assert_eq!(ctx.unfenced_since(&c, &s), None);
}

#[test]
fn an_unfenced_mark_travels_in_the_token_until_a_floor_covers_it() {
    let (c, s) = cs();
    let codec = TokenCodec::new(KeyRing::new(1, &[9u8; 32]).unwrap());
    let ctx = RywContext::new();
    ctx.mark_unfenced_write(&c, &s);
    let token = ctx.export_token(&codec).unwrap();
    // The next request (another instance, say) sees the mark.
    let next = RywContext::from_token(&codec, &token).unwrap();
    assert!(next.unfenced_since(&c, &s).is_some());
    // Once a position is known for the scope, the mark leaves the token.
    next.raise(&c, &s, lsn(5)).unwrap();
    let later = RywContext::from_token(&codec, &next.export_token(&codec).unwrap()).unwrap();
    assert_eq!(later.unfenced_since(&c, &s), None);
    assert_eq!(later.required(&c, &s).unwrap(), Some(lsn(5)));
}

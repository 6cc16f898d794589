//! Floors inside tokens over time: ages and epochs survive a round trip, floors past the
//! horizon leave, unfenced marks travel, and a long session keeps a small token.
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ryw_core::position::{Lsn, Position};
use ryw_core::{ClusterId, Floor, Floors, KeyRing, ScopeKey, TokenCodec};

fn codec() -> TokenCodec {
    TokenCodec::new(KeyRing::new(1, &[0xA5; 32]).unwrap())
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn lsn(v: u64) -> Position {
    Lsn::new(v).into()
}

fn pg() -> ClusterId {
    ClusterId::new("pg:7300000000000000001")
}

#[test]
fn ages_epochs_and_marks_survive_a_round_trip() {
    let codec = codec();
    let (c, s, u) = (pg(), ScopeKey::of("user_id", 1), ScopeKey::of("user_id", 2));
    let mut floors = Floors::default();
    let raised = t0() - Duration::from_millis(12_345);
    floors
        .raise_floor(
            &c,
            &s,
            Floor::raised_at(lsn(500), raised).with_epoch(Some(3)),
        )
        .unwrap();
    floors.mark_unfenced(&c, &u, t0() - Duration::from_millis(700));
    let back = codec
        .decode_at(&codec.encode_at(&floors, t0()).unwrap(), t0())
        .unwrap()
        .floors;
    assert_eq!(back, floors);
    let (_, cf) = back.clusters().next().unwrap();
    let (_, f) = cf.scope_floors().next().unwrap();
    assert_eq!(f.raised(), raised, "the age is kept to the millisecond");
    assert_eq!(f.epoch(), Some(3));
    assert_eq!(
        back.unfenced_since(&c, &u),
        Some(t0() - Duration::from_millis(700))
    );
    assert_eq!(back.unfenced_since(&c, &s), None);
}

#[test]
fn floors_past_the_horizon_leave_at_export() {
    let codec = codec().with_floor_horizon(Duration::from_secs(60));
    let c = pg();
    let (old, fresh, marked) = (
        ScopeKey::of("user_id", 1),
        ScopeKey::of("user_id", 2),
        ScopeKey::of("user_id", 3),
    );
    let mut floors = Floors::default();
    floors
        .raise_floor(
            &c,
            &old,
            Floor::raised_at(lsn(10), t0() - Duration::from_secs(61)),
        )
        .unwrap();
    floors
        .raise_floor(
            &c,
            &fresh,
            Floor::raised_at(lsn(20), t0() - Duration::from_secs(59)),
        )
        .unwrap();
    floors.mark_unfenced(&c, &marked, t0() - Duration::from_secs(90));
    let back = codec
        .decode_at(&codec.encode_at(&floors, t0()).unwrap(), t0())
        .unwrap()
        .floors;
    assert_eq!(back.required(&c, &old).unwrap(), None);
    assert_eq!(back.required(&c, &fresh).unwrap(), Some(lsn(20)));
    assert_eq!(back.unfenced_since(&c, &marked), None);
}

/// What the layer does per request: decode the incoming token, raise what the request wrote,
/// encode the outgoing one — here with a clock that advances one second per request.
fn request(
    codec: &TokenCodec,
    token: Option<&str>,
    now: SystemTime,
    write: Option<(ScopeKey, u64)>,
) -> String {
    let mut floors =
        token.map_or_else(Floors::default, |t| codec.decode_at(t, now).unwrap().floors);
    if let Some((scope, pos)) = write {
        floors
            .raise_floor(
                &pg(),
                &scope,
                Floor::raised_at(lsn(pos), now).with_epoch(Some(1)),
            )
            .unwrap();
    }
    codec.encode_at(&floors, now).unwrap()
}

#[test]
fn ten_thousand_requests_on_one_token_keep_it_small() {
    let codec = codec();
    let horizon = codec.floor_horizon().as_secs();
    let empty = request(&codec, None, t0(), None).len();

    // A session that writes to a new scope on every request.
    let mut token = request(&codec, None, t0(), None);
    let mut longest = 0;
    for i in 0..10_000u64 {
        let now = t0() + Duration::from_secs(i);
        token = request(
            &codec,
            Some(&token),
            now,
            Some((ScopeKey::of("order_id", i), 1000 + i)),
        );
        longest = longest.max(token.len());
    }
    let end = t0() + Duration::from_secs(9_999);
    let floors = codec.decode_at(&token, end).unwrap().floors;
    assert!(floors.scope_count() <= codec.max_scopes());
    // Only the last few minutes are left: the oldest floor is inside the horizon.
    let (_, cf) = floors.clusters().next().unwrap();
    for f in cf.scope_floors().map(|(_, f)| f).chain(cf.session_floor()) {
        assert!(end.duration_since(f.raised()).unwrap().as_secs() <= horizon);
    }
    eprintln!("10k writing requests: token at most {longest} chars (empty token {empty})");
    assert!(longest < 450, "{longest}");

    // A session that wrote once and then only reads: the floor leaves after the horizon
    // instead of riding along forever, and the token is back to its empty size.
    let mut token = request(&codec, None, t0(), Some((ScopeKey::of("user_id", 7), 99)));
    let written = token.len();
    for i in 1..10_000u64 {
        token = request(&codec, Some(&token), t0() + Duration::from_secs(i), None);
        let floors = codec
            .decode_at(&token, t0() + Duration::from_secs(i))
            .unwrap()
            .floors;
        let held = floors
            .required(&pg(), &ScopeKey::of("user_id", 7))
            .unwrap()
            .is_some();
        assert_eq!(held, i <= horizon, "request {i}");
    }
    assert_eq!(token.len(), empty, "written token was {written} chars");
}

//! Session tokens: round trip, tamper resistance, expiry, key rotation, folding and size.
#![allow(missing_docs)]
// Helpers outside `#[test]` functions are test code too (clippy.toml only covers the latter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use ryw_core::position::{
    GtidInterval, GtidList, GtidSet, LogPosition, Lsn, MariaGtid, Position, Uuid,
};
use ryw_core::token::{MAX_TOKEN_LEN, MIN_SECRET_LEN, TOKEN_VERSION, TOKEN_VERSION_V1};
use ryw_core::{ClusterId, Floors, KeyRing, RywError, ScopeKey, TokenCodec};
use serde::Serialize;
use sha2::Sha256;

const SECRET_A: [u8; 32] = [0xA5; 32];
const SECRET_B: [u8; 32] = [0x5A; 32];

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn codec() -> TokenCodec {
    TokenCodec::new(KeyRing::new(1, &SECRET_A).unwrap())
}

fn uuid(i: usize) -> Uuid {
    let mut b = [0u8; 16];
    b[0] = 0x3e;
    b[15] = u8::try_from(i).unwrap();
    Uuid(b)
}

fn position_of_kind(kind: u8) -> BoxedStrategy<Position> {
    match kind {
        0 => prop_oneof![
            (0u64..100).prop_map(Lsn::new),
            any::<u64>().prop_map(Lsn::new)
        ]
        .prop_map(Position::from)
        .boxed(),
        1 => prop::collection::vec((0usize..3, 0usize..3, 1u64..1_000_000, 0u64..50), 1..4)
            .prop_map(|items| {
                let tags = ["", "a", "tag_b"];
                Position::from(
                    GtidSet::from_parts(items.into_iter().map(|(u, t, s, l)| {
                        (
                            uuid(u),
                            tags[t].to_owned(),
                            vec![GtidInterval {
                                start: s,
                                end: s + l,
                            }],
                        )
                    }))
                    .unwrap(),
                )
            })
            .boxed(),
        _ => prop::collection::vec((0u32..4, 1u32..3, any::<u64>()), 0..4)
            .prop_map(|items| {
                Position::from(GtidList::from_gtids(items.into_iter().map(
                    |(domain, server, seq)| MariaGtid {
                        domain,
                        server,
                        seq,
                    },
                )))
            })
            .boxed(),
    }
}

/// Random floors: up to 3 clusters (one position kind per cluster, as in reality), each with
/// up to `max_scopes` scopes and maybe a session floor.
fn floors_strategy(max_scopes: usize) -> impl Strategy<Value = Floors> {
    prop::collection::vec(
        (0u8..3, "[a-z]{1,3}:[0-9]{1,4}").prop_flat_map(move |(kind, cluster)| {
            (
                Just(cluster),
                prop::option::of(position_of_kind(kind)),
                prop::collection::vec(
                    ("[a-z_]{1,8}:[0-9]{1,6}", position_of_kind(kind)),
                    0..max_scopes,
                ),
            )
        }),
        0..4,
    )
    .prop_map(|clusters| {
        let mut f = Floors::default();
        for (i, (c, session, scopes)) in clusters.into_iter().enumerate() {
            // Distinct names: one position kind per cluster.
            let c = ClusterId::new(format!("{c}#{i}"));
            if let Some(s) = session {
                f.raise_session(&c, s).unwrap();
            }
            for (s, p) in scopes {
                f.raise(&c, &ScopeKey::new(s), p).unwrap();
            }
        }
        f
    })
}

fn all_scopes(f: &Floors) -> Vec<(ClusterId, ScopeKey, Position)> {
    f.clusters()
        .flat_map(|(c, cf)| {
            cf.scopes()
                .map(|(s, p)| (c.clone(), s.clone(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn lsn_floors(cluster: &str, n: u64) -> Floors {
    let mut f = Floors::default();
    let c = ClusterId::new(cluster);
    for i in 0..n {
        f.raise(
            &c,
            &ScopeKey::of("user_id", 1000 + i),
            Lsn::new(0x16_B374_D848 + i * 0x1_0000).into(),
        )
        .unwrap();
    }
    f
}

fn raw(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(token).unwrap()
}

/// Signs arbitrary payload bytes as a token would be, so decoding is exercised past the
/// signature check (what a buggy or older instance holding the key could produce).
fn sign(key_id: u8, secret: &[u8], payload: &[u8]) -> String {
    let mut bytes = vec![TOKEN_VERSION_V1, key_id];
    bytes.extend_from_slice(payload);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(&bytes);
    bytes.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

// Mirror of the private wire format (postcard is not self-describing: same shape, same bytes).
type WireGtidSet = Vec<([u8; 16], String, Vec<(u64, u64)>)>;

#[derive(Serialize)]
struct WireToken {
    issued_at: u64,
    clusters: Vec<WireCluster>,
}
#[derive(Serialize)]
struct WireCluster {
    id: String,
    session: Option<WirePosition>,
    scopes: Vec<(String, WirePosition)>,
}
#[derive(Serialize)]
enum WirePosition {
    Lsn(u64),
    GtidSet(WireGtidSet),
    GtidList(Vec<(u32, u32, u64)>),
}

fn wire(issued_at: u64, clusters: Vec<WireCluster>) -> Vec<u8> {
    postcard::to_allocvec(&WireToken {
        issued_at,
        clusters,
    })
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Round trip
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_without_folding(floors in floors_strategy(4)) {
        let codec = codec().with_max_scopes(usize::MAX);
        let token = codec.encode_at(&floors, t0()).unwrap();
        prop_assert!(token.len() <= MAX_TOKEN_LEN);
        let decoded = codec.decode_at(&token, t0()).unwrap();
        prop_assert_eq!(&decoded.floors, &floors);
        prop_assert_eq!(decoded.issued_at, t0());
        prop_assert_eq!(decoded.key_id, 1);
        // base64url without padding.
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn round_trip_with_folding(floors in floors_strategy(8), max in 0usize..6) {
        let codec = codec().with_max_scopes(max);
        let token = codec.encode_at(&floors, t0()).unwrap();
        let decoded = codec.decode_at(&token, t0()).unwrap().floors;
        let mut folded = floors.clone();
        folded.fold_to(max);
        prop_assert_eq!(&decoded, &folded);
        prop_assert!(decoded.scope_count() <= max);
        // Nothing lost: every original floor (scope and session) is still required.
        for (c, s, p) in all_scopes(&floors) {
            let req = decoded.required(&c, &s).unwrap().unwrap();
            prop_assert!(req.covers(&p).unwrap(), "{c} {s}: {req} does not cover {p}");
        }
        for (c, cf) in floors.clusters() {
            if let Some(sess) = cf.session() {
                let req = decoded.required(&c.clone(), &ScopeKey::new("any:scope")).unwrap().unwrap();
                prop_assert!(req.covers(sess).unwrap());
            }
        }
    }

    /// Decoding is total: arbitrary text never panics and never yields a token.
    #[test]
    fn arbitrary_strings_are_rejected(s in any::<String>()) {
        let err = codec().decode_at(&s, t0()).unwrap_err();
        prop_assert!(err.is_token_rejection(), "{err:?}");
    }

    #[test]
    fn arbitrary_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let token = URL_SAFE_NO_PAD.encode(&bytes);
        let err = codec().decode_at(&token, t0()).unwrap_err();
        prop_assert!(err.is_token_rejection(), "{err:?}");
    }

    /// Bytes that look like a token of this version and key id (the likely forgery).
    #[test]
    fn arbitrary_bytes_with_valid_header_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut b = vec![TOKEN_VERSION, 1];
        b.extend_from_slice(&bytes);
        let err = codec().decode_at(&URL_SAFE_NO_PAD.encode(&b), t0()).unwrap_err();
        prop_assert!(err.is_token_rejection(), "{err:?}");
    }

    /// Even with a valid signature (a buggy instance holding the key), any payload decodes
    /// to a token or a typed rejection — never a panic.
    #[test]
    fn signed_garbage_never_panics(payload in prop::collection::vec(any::<u8>(), 0..120)) {
        let token = sign(1, &SECRET_A, &payload);
        if let Err(e) = codec().decode_at(&token, t0()) {
            prop_assert!(e.is_token_rejection(), "{e:?}");
        }
    }

    #[test]
    fn any_single_byte_change_is_rejected(
        floors in floors_strategy(3),
        idx in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let codec = codec();
        let token = codec.encode_at(&floors, t0()).unwrap();
        let mut bytes = raw(&token);
        let i = idx.index(bytes.len());
        bytes[i] ^= xor;
        let err = codec.decode_at(&URL_SAFE_NO_PAD.encode(&bytes), t0()).unwrap_err();
        prop_assert!(err.is_token_rejection(), "{err:?}");
    }
}

#[test]
fn every_single_byte_change_is_rejected_exhaustively() {
    let codec = TokenCodec::new(
        KeyRing::new(1, &SECRET_A)
            .unwrap()
            .with_verify_key(2, &SECRET_B)
            .unwrap(),
    );
    let mut floors = lsn_floors("pg:7300000000000000001:1", 3);
    floors
        .raise_session(
            &ClusterId::new("pg:7300000000000000001:1"),
            Lsn::new(7).into(),
        )
        .unwrap();
    let token = codec.encode_at(&floors, t0()).unwrap();
    let bytes = raw(&token);
    for i in 0..bytes.len() {
        for xor in [0x01u8, 0x02, 0x80, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= xor;
            let result = codec.decode_at(&URL_SAFE_NO_PAD.encode(&b), t0());
            let err = result.expect_err("a changed byte must not verify");
            match i {
                0 => assert!(matches!(err, RywError::TokenVersion { .. }), "{err:?}"),
                1 => assert!(
                    matches!(
                        err,
                        RywError::TokenUnknownKey { .. } | RywError::TokenBadSignature { .. }
                    ),
                    "{err:?}"
                ),
                _ => assert_eq!(err, RywError::TokenBadSignature { key_id: 1 }),
            }
        }
    }
    // Truncation and extension are rejected too.
    for cut in 0..bytes.len() {
        let err = codec
            .decode_at(&URL_SAFE_NO_PAD.encode(&bytes[..cut]), t0())
            .unwrap_err();
        assert!(err.is_token_rejection(), "{err:?}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(
        codec
            .decode_at(&URL_SAFE_NO_PAD.encode(&longer), t0())
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Signed but invalid payloads
// ---------------------------------------------------------------------------------------------

#[test]
fn signed_payload_checks() {
    let codec = codec();
    let now_secs = 1_700_000_000;
    let ok = sign(1, &SECRET_A, &wire(now_secs, vec![]));
    assert_eq!(
        codec.decode_at(&ok, t0()).unwrap().floors,
        Floors::default()
    );

    let bad_payloads: Vec<(&str, Vec<u8>)> = vec![
        ("empty payload", vec![]),
        ("trailing bytes", {
            let mut p = wire(now_secs, vec![]);
            p.push(0);
            p
        }),
        (
            "gno 0",
            wire(
                now_secs,
                vec![WireCluster {
                    id: "mysql:x".into(),
                    session: None,
                    scopes: vec![(
                        "u:1".into(),
                        WirePosition::GtidSet(vec![([1; 16], String::new(), vec![(0, 3)])]),
                    )],
                }],
            ),
        ),
        (
            "reversed interval",
            wire(
                now_secs,
                vec![WireCluster {
                    id: "mysql:x".into(),
                    session: None,
                    scopes: vec![(
                        "u:1".into(),
                        WirePosition::GtidSet(vec![([1; 16], String::new(), vec![(5, 3)])]),
                    )],
                }],
            ),
        ),
        (
            "bad tag",
            wire(
                now_secs,
                vec![WireCluster {
                    id: "mysql:x".into(),
                    session: None,
                    scopes: vec![(
                        "u:1".into(),
                        WirePosition::GtidSet(vec![([1; 16], "no way".into(), vec![(1, 3)])]),
                    )],
                }],
            ),
        ),
        (
            "scope named twice with two kinds",
            wire(
                now_secs,
                vec![WireCluster {
                    id: "pg:x".into(),
                    session: None,
                    scopes: vec![
                        ("u:1".into(), WirePosition::Lsn(5)),
                        ("u:1".into(), WirePosition::GtidList(vec![(0, 1, 2)])),
                    ],
                }],
            ),
        ),
        (
            "cluster named twice with two session kinds",
            wire(
                now_secs,
                vec![
                    WireCluster {
                        id: "pg:x".into(),
                        session: Some(WirePosition::Lsn(5)),
                        scopes: vec![],
                    },
                    WireCluster {
                        id: "pg:x".into(),
                        session: Some(WirePosition::GtidList(vec![])),
                        scopes: vec![],
                    },
                ],
            ),
        ),
    ];
    for (what, payload) in bad_payloads {
        match codec.decode_at(&sign(1, &SECRET_A, &payload), t0()) {
            Err(RywError::TokenMalformed { .. }) => {}
            other => panic!("{what}: expected TokenMalformed, got {other:?}"),
        }
    }

    // An issue time past what SystemTime can hold must be a rejection, not a panic.
    for issued_at in [u64::MAX, u64::MAX / 2, 9_223_372_036_854_775_807] {
        let token = sign(1, &SECRET_A, &wire(issued_at, vec![]));
        let err = codec.decode_at(&token, t0()).unwrap_err();
        assert!(err.is_token_rejection(), "{issued_at}: {err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

#[test]
fn expiry_and_clock_skew() {
    let max_age = Duration::from_secs(600);
    let skew = Duration::from_secs(30);
    let codec = codec().with_max_age(max_age).with_clock_skew(skew);
    let token = codec.encode_at(&lsn_floors("pg:1:1", 1), t0()).unwrap();

    assert!(codec.decode_at(&token, t0()).is_ok());
    assert!(codec.decode_at(&token, t0() + max_age).is_ok());
    assert_eq!(
        codec.decode_at(&token, t0() + max_age + Duration::from_secs(1)),
        Err(RywError::TokenExpired {
            age: max_age + Duration::from_secs(1),
            max_age
        })
    );
    assert!(matches!(
        codec.decode_at(&token, t0() + Duration::from_secs(86_400 * 365)),
        Err(RywError::TokenExpired { .. })
    ));

    assert!(codec.decode_at(&token, t0() - skew).is_ok());
    assert_eq!(
        codec.decode_at(&token, t0() - skew - Duration::from_secs(1)),
        Err(RywError::TokenFromFuture {
            ahead: skew + Duration::from_secs(1),
            skew
        })
    );
    // A token minted far in the future by a clock gone wrong.
    let future = codec
        .encode_at(&Floors::default(), t0() + Duration::from_secs(86_400))
        .unwrap();
    assert!(matches!(
        codec.decode_at(&future, t0()),
        Err(RywError::TokenFromFuture { .. })
    ));
    // encode()/decode() use the real clock.
    let now = codec.encode(&lsn_floors("pg:1:1", 2)).unwrap();
    assert_eq!(codec.decode(&now).unwrap().floors, lsn_floors("pg:1:1", 2));
    assert!(matches!(
        codec.decode(&token),
        Err(RywError::TokenExpired { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_key_and_wrong_secret() {
    let floors = lsn_floors("pg:1:1", 2);
    let token = codec().encode_at(&floors, t0()).unwrap();

    let other_id = TokenCodec::new(KeyRing::new(2, &SECRET_A).unwrap());
    assert_eq!(
        other_id.decode_at(&token, t0()),
        Err(RywError::TokenUnknownKey { key_id: 1 })
    );
    let other_secret = TokenCodec::new(KeyRing::new(1, &SECRET_B).unwrap());
    assert_eq!(
        other_secret.decode_at(&token, t0()),
        Err(RywError::TokenBadSignature { key_id: 1 })
    );
    assert!(
        other_secret
            .decode_at(&token, t0())
            .unwrap_err()
            .is_token_rejection()
    );
}

#[test]
fn key_rotation() {
    let floors = lsn_floors("pg:1:1", 2);
    let ring1 = KeyRing::new(1, &SECRET_A).unwrap();
    let old_codec = TokenCodec::new(ring1.clone());
    let old = old_codec.encode_at(&floors, t0()).unwrap();

    // Step 1: the new key verifies only.
    let step1 = TokenCodec::new(ring1.clone().with_verify_key(2, &SECRET_B).unwrap());
    assert_eq!(step1.decode_at(&old, t0()).unwrap().key_id, 1);
    assert_eq!(raw(&step1.encode_at(&floors, t0()).unwrap())[1], 1);

    // Step 2: the new key signs; old tokens still verify.
    let ring2 = ring1.rotate(2, &SECRET_B).unwrap();
    assert_eq!(ring2.signing_key_id(), 2);
    let codec2 = TokenCodec::new(ring2.clone());
    let decoded_old = codec2.decode_at(&old, t0()).unwrap();
    assert_eq!((decoded_old.key_id, &decoded_old.floors), (1, &floors));
    let new = codec2.encode_at(&floors, t0()).unwrap();
    assert_eq!(raw(&new)[1], 2);
    let decoded_new = codec2.decode_at(&new, t0()).unwrap();
    assert_eq!((decoded_new.key_id, &decoded_new.floors), (2, &floors));
    // Instances still on the old ring do not know key 2 yet.
    assert_eq!(
        old_codec.decode_at(&new, t0()),
        Err(RywError::TokenUnknownKey { key_id: 2 })
    );

    // Step 3: the old key is removed.
    let codec3 = TokenCodec::new(ring2.clone().without_key(1));
    assert_eq!(
        codec3.decode_at(&old, t0()),
        Err(RywError::TokenUnknownKey { key_id: 1 })
    );
    assert!(codec3.decode_at(&new, t0()).is_ok());
    // The signing key cannot be removed.
    let still = TokenCodec::new(ring2.without_key(2));
    assert!(still.decode_at(&new, t0()).is_ok());
    assert_eq!(raw(&still.encode_at(&floors, t0()).unwrap())[1], 2);

    // Duplicate ids are refused.
    assert!(matches!(
        KeyRing::new(1, &SECRET_A)
            .unwrap()
            .with_verify_key(1, &SECRET_B),
        Err(RywError::InvalidKey { key_id: 1, .. })
    ));
    assert!(matches!(
        KeyRing::new(1, &SECRET_A).unwrap().rotate(1, &SECRET_B),
        Err(RywError::InvalidKey { key_id: 1, .. })
    ));
    // Debug never prints secrets.
    let dbg = format!("{:?}", KeyRing::new(1, &SECRET_A).unwrap());
    assert!(
        !dbg.contains("165") && !dbg.to_lowercase().contains("a5"),
        "{dbg}"
    );
}

#[test]
fn short_secret_is_refused() {
    let short = [1u8; MIN_SECRET_LEN - 1];
    assert!(matches!(
        KeyRing::new(3, &short),
        Err(RywError::InvalidKey { key_id: 3, .. })
    ));
    assert!(matches!(
        KeyRing::new(3, &[]),
        Err(RywError::InvalidKey { key_id: 3, .. })
    ));
    assert!(KeyRing::new(3, &[1u8; MIN_SECRET_LEN]).is_ok());
    assert!(matches!(
        KeyRing::new(1, &SECRET_A)
            .unwrap()
            .with_verify_key(4, &short),
        Err(RywError::InvalidKey { key_id: 4, .. })
    ));
    assert!(matches!(
        KeyRing::new(1, &SECRET_A).unwrap().rotate(5, &short),
        Err(RywError::InvalidKey { key_id: 5, .. })
    ));
    assert!(
        !RywError::InvalidKey {
            key_id: 1,
            reason: String::new()
        }
        .is_token_rejection()
    );
}

#[test]
fn over_long_input_is_malformed() {
    let codec = codec();
    for len in [MAX_TOKEN_LEN + 1, 10 * MAX_TOKEN_LEN] {
        assert!(matches!(
            codec.decode_at(&"A".repeat(len), t0()),
            Err(RywError::TokenMalformed { .. })
        ));
    }
    assert!(matches!(
        codec.decode_at("", t0()),
        Err(RywError::TokenMalformed { .. })
    ));
    assert!(matches!(
        codec.decode_at("not base64!", t0()),
        Err(RywError::TokenMalformed { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Folding and size
// ---------------------------------------------------------------------------------------------

#[test]
fn twenty_scopes_fold_without_losing_a_floor() {
    let codec = codec();
    let cluster = ClusterId::new("pg:7300000000000000001:1");
    let mut floors = Floors::default();
    // Not in LSN order, so folding has to pick the lowest.
    for i in 0..20u64 {
        let lsn = 0x16_B374_D848 + ((i * 7) % 20) * 0x1000;
        floors
            .raise(&cluster, &ScopeKey::of("user_id", i), Lsn::new(lsn).into())
            .unwrap();
    }
    let token = codec.encode_at(&floors, t0()).unwrap();
    let decoded = codec.decode_at(&token, t0()).unwrap().floors;
    assert!(decoded.scope_count() <= codec.max_scopes());
    assert_eq!(codec.max_scopes(), TokenCodec::DEFAULT_MAX_SCOPES);
    for (c, s, p) in all_scopes(&floors) {
        let req = decoded.required(&c, &s).unwrap().unwrap();
        assert!(req.covers(&p).unwrap(), "{s}: {req} does not cover {p}");
    }
    // The highest floors stay exact, the lowest are folded.
    let (_, cf) = decoded.clusters().next().unwrap();
    let session = cf.session().unwrap().clone();
    for (_, p) in cf.scopes() {
        assert!(p.covers(&session).unwrap());
    }
    eprintln!("20 LSN scopes folded to 8: {} chars", token.len());
}

fn realistic_gtid_set(i: u64) -> Position {
    GtidSet::from_parts([(
        "3e11fa47-71ca-11e1-9e33-c80aa9429562".parse().unwrap(),
        String::new(),
        vec![GtidInterval {
            start: 1,
            end: 1_234_567 + i * 3,
        }],
    )])
    .unwrap()
    .into()
}

fn realistic_gtid_set_two_sources(i: u64) -> Position {
    let Position::GtidSet(a) = realistic_gtid_set(i) else {
        unreachable!()
    };
    let b: GtidSet = "4d8b564f-03f4-4975-856a-0e65c3105328:1-98765"
        .parse()
        .unwrap();
    a.merge(&b).into()
}

fn measure(cluster: &str, pos: impl Fn(u64) -> Position) -> usize {
    let codec = codec();
    let c = ClusterId::new(cluster);
    let mut floors = Floors::default();
    for i in 0..8u64 {
        floors
            .raise(&c, &ScopeKey::of("user_id", 100_000 + i * 7919), pos(i))
            .unwrap();
    }
    let token = codec.encode(&floors).unwrap();
    assert_eq!(codec.decode(&token).unwrap().floors, floors);
    token.len()
}

#[test]
fn eight_scopes_fit_in_a_cookie() {
    let pg = measure("pg:7300000000000000001:1", |i| {
        Lsn::new(0x16_B374_D848 + i * 0x2_3A10).into()
    });
    let maria = measure("mariadb:0-1", |i| {
        GtidList::from_gtids([MariaGtid {
            domain: 0,
            server: 1,
            seq: 1_234_567 + i * 3,
        }])
        .into()
    });
    let maria2 = measure("mariadb:0-1", |i| {
        GtidList::from_gtids([
            MariaGtid {
                domain: 0,
                server: 1,
                seq: 1_234_567 + i * 3,
            },
            MariaGtid {
                domain: 1,
                server: 2,
                seq: 98_765,
            },
        ])
        .into()
    });
    let mysql = measure(
        "mysql:3e11fa47-71ca-11e1-9e33-c80aa9429562",
        realistic_gtid_set,
    );
    let mysql2 = measure(
        "mysql:3e11fa47-71ca-11e1-9e33-c80aa9429562",
        realistic_gtid_set_two_sources,
    );
    eprintln!("token with 8 user_id scopes, Postgres LSN:            {pg} chars");
    eprintln!("token with 8 user_id scopes, MariaDB (1 domain):      {maria} chars");
    eprintln!("token with 8 user_id scopes, MariaDB (2 domains):     {maria2} chars");
    eprintln!("token with 8 user_id scopes, MySQL GTID (1 source):   {mysql} chars");
    eprintln!("token with 8 user_id scopes, MySQL GTID (2 sources):  {mysql2} chars");
    assert!(pg < 400, "{pg}");
    for n in [maria, maria2, mysql, mysql2] {
        assert!(n < MAX_TOKEN_LEN, "{n}");
    }
}

#[test]
fn version_one_tokens_still_decode_with_floors_raised_at_their_issue_time() {
    let codec = codec();
    let issued = 1_700_000_000;
    let token = sign(
        1,
        &SECRET_A,
        &wire(
            issued,
            vec![WireCluster {
                id: "pg:7300000000000000001".into(),
                session: None,
                scopes: vec![("user_id:1".into(), WirePosition::Lsn(77))],
            }],
        ),
    );
    let decoded = codec.decode_at(&token, t0()).unwrap();
    let (_, cf) = decoded.floors.clusters().next().unwrap();
    let (scope, floor) = cf.scope_floors().next().unwrap();
    assert_eq!(scope.as_str(), "user_id:1");
    assert_eq!(floor.position(), &Position::Lsn(Lsn::new(77)));
    assert_eq!(floor.raised(), UNIX_EPOCH + Duration::from_secs(issued));
    assert_eq!(floor.epoch(), None);
    assert_eq!(decoded.issued_at, UNIX_EPOCH + Duration::from_secs(issued));
}

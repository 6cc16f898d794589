//! Properties of the three log-position kinds (`Lsn`, `GtidSet`, `GtidList`) and of
//! `Position`: text round trip, normalisation, the partial order `covers`, the least upper
//! bound `merge` — each checked against a brute-force model — and parsing of real server
//! output and of garbage.
//!
//! Value ranges are deliberately tiny (3 UUIDs, tags from `{"", "a", "b"}`, gnos 1..40;
//! MariaDB domains 0..4, servers 1..3, seqs 0..20; LSNs mostly 0..40) so that overlaps,
//! adjacency and equal values occur often.
#![allow(missing_docs)]
// Helpers outside `#[test]` functions are test code too (clippy.toml only covers the latter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use ryw_core::RywError;
use ryw_core::position::{
    GtidInterval, GtidList, GtidSet, LogPosition, Lsn, MariaGtid, Position, PositionKind, Uuid,
};

// ---------------------------------------------------------------------------------------------
// Generators and models
// ---------------------------------------------------------------------------------------------

const UUIDS: [&str; 3] = [
    "3e11fa47-71ca-11e1-9e33-c80aa9429562",
    "4d8b564f-03f4-4975-856a-0e65c3105328",
    "9a511b7b-7059-11e2-9a24-08002762b8af",
];
const TAGS: [&str; 3] = ["", "a", "b"];

fn uuid(i: usize) -> Uuid {
    UUIDS[i].parse().unwrap()
}

/// Brute-force model of a GTID set: every transaction, one by one.
type SetModel = BTreeSet<(Uuid, String, u64)>;
/// Model of a MariaDB GTID list: per domain the highest sequence number (server ids do not
/// order, so they are not part of the model).
type ListModel = BTreeMap<u32, u64>;

fn set_model(s: &GtidSet) -> SetModel {
    let mut out = SetModel::new();
    for (u, t, ivs) in s.parts() {
        for iv in ivs {
            for g in iv.start..=iv.end {
                out.insert((*u, t.to_owned(), g));
            }
        }
    }
    out
}

fn list_model(l: &GtidList) -> ListModel {
    l.gtids().iter().map(|g| (g.domain, g.seq)).collect()
}

fn set_model_covers(a: &SetModel, b: &SetModel) -> bool {
    b.is_subset(a)
}

fn list_model_covers(a: &ListModel, b: &ListModel) -> bool {
    b.iter()
        .all(|(d, s)| a.get(d).is_some_and(|mine| mine >= s))
}

fn list_model_merge(a: &ListModel, b: &ListModel) -> ListModel {
    let mut out = a.clone();
    for (d, s) in b {
        let e = out.entry(*d).or_insert(*s);
        *e = (*e).max(*s);
    }
    out
}

/// Asserts the internal invariants of a normalised GTID set: per key, intervals non-empty,
/// sorted, disjoint and not adjacent; tags lowercase.
fn assert_set_normalised(s: &GtidSet) {
    for (_, tag, ivs) in s.parts() {
        assert_eq!(tag, tag.to_ascii_lowercase());
        assert!(!ivs.is_empty(), "empty interval list in {s}");
        for iv in ivs {
            assert!(1 <= iv.start && iv.start <= iv.end, "bad interval in {s}");
        }
        for w in ivs.windows(2) {
            assert!(
                w[1].start > w[0].end + 1,
                "intervals not coalesced in {s}: {:?}",
                ivs
            );
        }
    }
}

fn lsn_strategy() -> impl Strategy<Value = Lsn> {
    prop_oneof![
        4 => (0u64..40).prop_map(Lsn::new),
        1 => any::<u64>().prop_map(Lsn::new),
        1 => (0u64..4, 0u64..4).prop_map(|(hi, lo)| Lsn::new((hi << 32) | (0xFFFF_FFFE + lo))),
    ]
}

fn gtid_set_strategy() -> impl Strategy<Value = GtidSet> {
    prop::collection::vec((0usize..3, 0usize..3, 1u64..40, 0u64..6), 0..7).prop_map(|items| {
        GtidSet::from_parts(items.into_iter().map(|(u, t, start, len)| {
            (
                uuid(u),
                TAGS[t].to_owned(),
                vec![GtidInterval {
                    start,
                    end: start + len,
                }],
            )
        }))
        .unwrap()
    })
}

fn mariadb_strategy() -> impl Strategy<Value = GtidList> {
    prop::collection::vec((0u32..4, 1u32..3, 0u64..20), 0..5).prop_map(|items| {
        GtidList::from_gtids(items.into_iter().map(|(domain, server, seq)| MariaGtid {
            domain,
            server,
            seq,
        }))
    })
}

fn position_strategy() -> impl Strategy<Value = Position> {
    prop_oneof![
        lsn_strategy().prop_map(Position::from),
        gtid_set_strategy().prop_map(Position::from),
        mariadb_strategy().prop_map(Position::from),
    ]
}

/// An equivalent, untidy text form of an LSN: lowercase or uppercase hex, leading zeros.
fn messy_lsn(l: Lsn, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let hi = l.as_u64() >> 32;
    let lo = l.as_u64() & 0xFFFF_FFFF;
    let pad = |v: u64, rng: &mut StdRng| {
        let digits = format!("{v:X}");
        let width = rand::Rng::random_range(rng, digits.len()..=8);
        let s = format!("{v:0width$X}");
        if rand::Rng::random_bool(rng, 0.5) {
            s.to_ascii_lowercase()
        } else {
            s
        }
    };
    format!("{}/{}", pad(hi, &mut rng), pad(lo, &mut rng))
}

/// An equivalent, untidy text form of a GTID set, as a server (or a human) might write it:
/// one group per transaction or per split interval, in random order, random case, UUIDs
/// sometimes without hyphens, `,\n` separators and stray blanks, overlapping pieces.
fn messy_gtid_set(s: &GtidSet, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut groups = Vec::new();
    for (u, tag, ivs) in s.parts() {
        for iv in ivs {
            // Split the interval into overlapping/adjacent pieces.
            let mut pieces = Vec::new();
            let mut a = iv.start;
            while a <= iv.end {
                let b = rand::Rng::random_range(&mut rng, a..=iv.end);
                // Let pieces overlap their predecessor by up to 2.
                let start = a
                    .saturating_sub(rand::Rng::random_range(&mut rng, 0..=2))
                    .max(iv.start);
                pieces.push((start, b));
                a = b + 1;
            }
            for (a, b) in pieces {
                let mut u = u.to_string();
                if rand::Rng::random_bool(&mut rng, 0.5) {
                    u = u.to_ascii_uppercase();
                }
                if rand::Rng::random_bool(&mut rng, 0.2) {
                    u = u.replace('-', "");
                }
                let mut t = tag.to_owned();
                if rand::Rng::random_bool(&mut rng, 0.5) {
                    t = t.to_ascii_uppercase();
                }
                let iv = if a == b && rand::Rng::random_bool(&mut rng, 0.5) {
                    format!("{a}")
                } else {
                    format!("{a}-{b}")
                };
                let sep = if rand::Rng::random_bool(&mut rng, 0.3) {
                    " : "
                } else {
                    ":"
                };
                groups.push(if t.is_empty() {
                    format!("{u}{sep}{iv}")
                } else {
                    format!("{u}{sep}{t}{sep}{iv}")
                });
            }
        }
    }
    groups.shuffle(&mut rng);
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push_str(if rand::Rng::random_bool(&mut rng, 0.5) {
                ",\n"
            } else {
                ", "
            });
        }
        out.push_str(g);
    }
    out
}

/// An equivalent, untidy text form of a GTID list: shuffled, blanks, leading zeros, and
/// dominated extra entries for already-present domains (parsing keeps the larger seq).
fn messy_gtid_list(l: &GtidList, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut items = Vec::new();
    for g in l.gtids() {
        let zeros = "0".repeat(rand::Rng::random_range(&mut rng, 0..3));
        items.push(format!("{zeros}{}-{}-{zeros}{}", g.domain, g.server, g.seq));
        if g.seq > 0 && rand::Rng::random_bool(&mut rng, 0.5) {
            // A lower seq of the same domain; the server id is smaller too, so even a
            // (seq, server) tie-break keeps the real entry.
            items.push(format!("{}-0-{}", g.domain, g.seq - 1));
        }
    }
    items.shuffle(&mut rng);
    let mut out = String::new();
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if rand::Rng::random_bool(&mut rng, 0.5) {
                ", "
            } else {
                ","
            });
        }
        out.push_str(it);
    }
    out
}

fn assert_parse_err(kind: PositionKind, input: &str) {
    match Position::parse(kind, input) {
        Err(RywError::ParsePosition { kind: k, .. }) => assert_eq!(k, kind, "{input:?}"),
        other => panic!("{kind} {input:?} should not parse, got {other:?}"),
    }
}

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Lsn
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn lsn_round_trip_and_normalised(a in lsn_strategy(), seed in any::<u64>()) {
        let text = a.to_string();
        prop_assert_eq!(text.parse::<Lsn>().unwrap(), a);
        let messy = messy_lsn(a, seed);
        let parsed: Lsn = messy.parse().unwrap();
        prop_assert_eq!(parsed, a);
        prop_assert_eq!(parsed.to_string(), text.clone());
        // Postgres' own format: upper hex, no leading zeros.
        prop_assert_eq!(
            text,
            format!("{:X}/{:X}", a.as_u64() >> 32, a.as_u64() & 0xFFFF_FFFF)
        );
    }

    #[test]
    fn lsn_model(a in lsn_strategy(), b in lsn_strategy()) {
        // Model: an LSN is a u64, covers is >=, merge is max.
        prop_assert_eq!(a.covers(&b), a.as_u64() >= b.as_u64());
        prop_assert_eq!(a.merge(&b).as_u64(), a.as_u64().max(b.as_u64()));
    }

    #[test]
    fn lsn_order_laws(a in lsn_strategy(), b in lsn_strategy(), c in lsn_strategy()) {
        prop_assert!(a.covers(&a));
        if a.covers(&b) && b.covers(&c) {
            prop_assert!(a.covers(&c));
        }
        if a.covers(&b) && b.covers(&a) {
            prop_assert_eq!(a, b);
        }
        // Least upper bound.
        let m = a.merge(&b);
        prop_assert!(m.covers(&a) && m.covers(&b));
        if c.covers(&a) && c.covers(&b) {
            prop_assert!(c.covers(&m));
        }
        let above = m.merge(&c);
        prop_assert!(above.covers(&m));
        // Algebra.
        prop_assert_eq!(a.merge(&b), b.merge(&a));
        prop_assert_eq!(a.merge(&b).merge(&c), a.merge(&b.merge(&c)));
        prop_assert_eq!(a.merge(&a), a);
    }
}

// ---------------------------------------------------------------------------------------------
// GtidSet
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn gtid_set_round_trip_and_normalised(a in gtid_set_strategy(), seed in any::<u64>()) {
        assert_set_normalised(&a);
        let text = a.to_string();
        let back: GtidSet = text.parse().unwrap();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back.to_string(), text.clone());
        let messy = messy_gtid_set(&a, seed);
        let parsed: GtidSet = messy.parse().unwrap();
        prop_assert_eq!(&parsed, &a, "messy form {:?}", messy);
        prop_assert_eq!(parsed.to_string(), text);
        prop_assert_eq!(a.is_empty(), set_model(&a).is_empty());
    }

    #[test]
    fn gtid_set_model(a in gtid_set_strategy(), b in gtid_set_strategy()) {
        let (ma, mb) = (set_model(&a), set_model(&b));
        prop_assert_eq!(a.covers(&b), set_model_covers(&ma, &mb));
        prop_assert_eq!(b.covers(&a), set_model_covers(&mb, &ma));
        let m = a.merge(&b);
        assert_set_normalised(&m);
        let union: SetModel = ma.union(&mb).cloned().collect();
        prop_assert_eq!(set_model(&m), union);
        // The model determines the value: equal models <=> equal sets.
        prop_assert_eq!(a == b, ma == mb);
    }

    #[test]
    fn gtid_set_order_laws(
        a in gtid_set_strategy(),
        b in gtid_set_strategy(),
        c in gtid_set_strategy(),
    ) {
        prop_assert!(a.covers(&a));
        prop_assert!(a.covers(&GtidSet::default()));
        if a.covers(&b) && b.covers(&c) {
            prop_assert!(a.covers(&c));
        }
        // A chain that certainly is ordered.
        let ab = a.merge(&b);
        let abc = ab.merge(&c);
        prop_assert!(abc.covers(&ab) && ab.covers(&a) && abc.covers(&a));
        if a.covers(&b) && b.covers(&a) {
            prop_assert_eq!(&a, &b);
        }
        let ba = b.merge(&a);
        prop_assert!(ab.covers(&ba) && ba.covers(&ab));
        prop_assert_eq!(&ab, &ba);
        // Least upper bound: covers both, and is covered by every upper bound.
        prop_assert!(ab.covers(&a) && ab.covers(&b));
        if c.covers(&a) && c.covers(&b) {
            prop_assert!(c.covers(&ab));
        }
        prop_assert!(abc.covers(&ab));
        // Algebra.
        prop_assert_eq!(a.merge(&b).merge(&c), a.merge(&b.merge(&c)));
        prop_assert_eq!(a.merge(&a), a.clone());
        prop_assert_eq!(a.merge(&GtidSet::default()), a);
    }
}

// ---------------------------------------------------------------------------------------------
// GtidList
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn gtid_list_round_trip_and_normalised(a in mariadb_strategy(), seed in any::<u64>()) {
        let text = a.to_string();
        let back: GtidList = text.parse().unwrap();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back.to_string(), text.clone());
        let messy = messy_gtid_list(&a, seed);
        let parsed: GtidList = messy.parse().unwrap();
        prop_assert_eq!(&parsed, &a, "messy form {:?}", messy);
        prop_assert_eq!(parsed.to_string(), text);
        // Sorted by domain, one entry per domain.
        prop_assert!(a.gtids().windows(2).all(|w| w[0].domain < w[1].domain));
    }

    #[test]
    fn gtid_list_model(a in mariadb_strategy(), b in mariadb_strategy()) {
        let (ma, mb) = (list_model(&a), list_model(&b));
        prop_assert_eq!(a.covers(&b), list_model_covers(&ma, &mb));
        prop_assert_eq!(b.covers(&a), list_model_covers(&mb, &ma));
        let m = a.merge(&b);
        prop_assert_eq!(list_model(&m), list_model_merge(&ma, &mb));
        // Every merged entry is one of the inputs' entries (server id carried, not invented).
        for g in m.gtids() {
            prop_assert!(a.gtids().contains(g) || b.gtids().contains(g), "{} invented", m);
        }
    }

    /// For MariaDB, "equal" in the order sense means the same per-domain sequence numbers:
    /// the server id is carried but does not order, so `0-1-5` and `0-2-5` cover each other
    /// without being `==`. Antisymmetry therefore holds up to `list_model` equality.
    #[test]
    fn gtid_list_order_laws(
        a in mariadb_strategy(),
        b in mariadb_strategy(),
        c in mariadb_strategy(),
    ) {
        prop_assert!(a.covers(&a));
        prop_assert!(a.covers(&GtidList::default()));
        if a.covers(&b) && b.covers(&c) {
            prop_assert!(a.covers(&c));
        }
        let ab = a.merge(&b);
        let abc = ab.merge(&c);
        prop_assert!(abc.covers(&ab) && ab.covers(&a) && abc.covers(&a));
        if a.covers(&b) && b.covers(&a) {
            prop_assert_eq!(list_model(&a), list_model(&b));
        }
        // Least upper bound.
        prop_assert!(ab.covers(&a) && ab.covers(&b));
        if c.covers(&a) && c.covers(&b) {
            prop_assert!(c.covers(&ab));
        }
        // Algebra. Merge picks deterministically on a seq tie, so these hold exactly, not
        // only up to server ids (the scope stores rely on it when racing writers merge).
        prop_assert_eq!(a.merge(&b), b.merge(&a));
        prop_assert_eq!(a.merge(&b).merge(&c), a.merge(&b.merge(&c)));
        prop_assert_eq!(a.merge(&a), a.clone());
        prop_assert_eq!(a.merge(&GtidList::default()), a);
    }
}

#[test]
fn gtid_list_server_id_does_not_order() {
    let a: GtidList = "0-1-5".parse().unwrap();
    let b: GtidList = "0-2-5".parse().unwrap();
    assert!(a.covers(&b) && b.covers(&a));
    assert_ne!(a, b);
    let lower: GtidList = "0-9-4".parse().unwrap();
    assert!(a.covers(&lower) && !lower.covers(&a));
    assert_eq!(a.merge(&lower), a);
    assert_eq!(lower.merge(&a), a);
}

// ---------------------------------------------------------------------------------------------
// Position
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn position_kinds_never_order(a in position_strategy(), b in position_strategy()) {
        if a.kind() == b.kind() {
            prop_assert!(a.covers(&b).is_ok());
            let m = a.merge(&b).unwrap();
            prop_assert_eq!(m.kind(), a.kind());
            prop_assert!(m.covers(&a).unwrap() && m.covers(&b).unwrap());
        } else {
            let expected = RywError::KindMismatch { left: a.kind(), right: b.kind() };
            prop_assert_eq!(a.covers(&b), Err(expected.clone()));
            prop_assert_eq!(a.merge(&b), Err(expected));
        }
    }

    #[test]
    fn position_round_trip(a in position_strategy()) {
        prop_assert_eq!(Position::parse(a.kind(), &a.to_string()).unwrap(), a);
    }
}

#[test]
fn kind_mismatch_for_every_pair() {
    let all = [
        Position::from(Lsn::new(0)),
        Position::from(GtidSet::default()),
        Position::from(GtidList::default()),
    ];
    for a in &all {
        for b in &all {
            if a.kind() == b.kind() {
                assert_eq!(a.covers(b), Ok(true));
                assert_eq!(a.merge(b).as_ref(), Ok(a));
            } else {
                let e = RywError::KindMismatch {
                    left: a.kind(),
                    right: b.kind(),
                };
                assert_eq!(a.covers(b), Err(e.clone()));
                assert_eq!(a.merge(b), Err(e));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real server output
// ---------------------------------------------------------------------------------------------

#[test]
fn mysql_gtid_executed_output() {
    // `SELECT @@GLOBAL.gtid_executed` prints uppercase or lowercase UUIDs and ",\n"
    // between sources.
    let raw = "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18,\n\
               4D8B564F-03F4-4975-856A-0E65C3105328:1-27";
    let s: GtidSet = raw.parse().unwrap();
    assert_eq!(
        s.to_string(),
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,4d8b564f-03f4-4975-856a-0e65c3105328:1-27"
    );
    assert!(s.covers(&"3e11fa47-71ca-11e1-9e33-c80aa9429562:12".parse().unwrap()));
    assert!(!s.covers(&"3e11fa47-71ca-11e1-9e33-c80aa9429562:6".parse().unwrap()));
    assert!(!s.covers(&"9a511b7b-7059-11e2-9a24-08002762b8af:1".parse().unwrap()));

    // Sources printed out of order are sorted.
    let rev: GtidSet = "4d8b564f-03f4-4975-856a-0e65c3105328:1-27,\n\
                        3e11fa47-71ca-11e1-9e33-c80aa9429562:11-18:1-5"
        .parse()
        .unwrap();
    assert_eq!(rev, s);

    // Overlapping and adjacent intervals coalesce.
    let o: GtidSet = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:3-9:10-12:14:15-15:20"
        .parse()
        .unwrap();
    assert_eq!(
        o.to_string(),
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-12:14-15:20"
    );

    // MySQL 8.3+ tagged form.
    let t: GtidSet = "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-3:tag:1-2"
        .parse()
        .unwrap();
    assert_eq!(
        t.to_string(),
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:tag:1-2"
    );
    let parts: Vec<_> = t
        .parts()
        .map(|(u, tag, ivs)| (*u, tag.to_owned(), ivs.to_vec()))
        .collect();
    assert_eq!(
        parts,
        vec![
            (
                uuid(0),
                String::new(),
                vec![GtidInterval { start: 1, end: 3 }]
            ),
            (
                uuid(0),
                "tag".to_owned(),
                vec![GtidInterval { start: 1, end: 2 }]
            ),
        ]
    );
    // Untagged and tagged transactions are distinct.
    assert!(
        !t.covers(
            &"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:tag:3"
                .parse()
                .unwrap()
        )
    );
    assert!(!t.covers(&"3e11fa47-71ca-11e1-9e33-c80aa9429562:4".parse().unwrap()));
    assert!(
        t.covers(
            &"3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:2"
                .parse()
                .unwrap()
        )
    );
    // Several tags, tag case folded, tag-only source.
    let m: GtidSet = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:Alpha:5:beta_2:1-2,\n\
                      4d8b564f-03f4-4975-856a-0e65c3105328:x:7"
        .parse()
        .unwrap();
    assert_eq!(
        m.to_string(),
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:alpha:5:beta_2:1-2,\
         4d8b564f-03f4-4975-856a-0e65c3105328:x:7"
    );

    // Empty gtid_executed.
    let e: GtidSet = "".parse().unwrap();
    assert!(e.is_empty());
    assert_eq!(e.to_string(), "");
    assert!(s.covers(&e));
    // The largest gno.
    let big: GtidSet = "3e11fa47-71ca-11e1-9e33-c80aa9429562:9223372036854775807"
        .parse()
        .unwrap();
    assert_eq!(
        big.to_string(),
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:9223372036854775807"
    );
}

#[test]
fn mysql_invalid() {
    let u = UUIDS[0];
    let long_tag = "t".repeat(33);
    let cases = [
        u.to_owned(),                                     // no interval
        format!("{u}:"),                                  // empty interval
        format!("{u}::1"),                                // empty item
        format!("{u}:0"),                                 // gno 0
        format!("{u}:0-3"),                               // starts at 0
        format!("{u}:5-3"),                               // reversed
        format!("{u}:1-"),                                // open range
        format!("{u}:1-2-3"),                             // three numbers
        format!("{u}:1a"),                                // junk
        format!("{u}:9223372036854775808"),               // > 2^63-1
        format!("{u}:99999999999999999999"),              // > u64
        format!("{u}:tag"),                               // tag without interval
        format!("{u}:1:tag"),                             // trailing tag without interval
        format!("{u}:a:b:1"),                             // tag directly after tag
        format!("{u}:{long_tag}:1"),                      // tag too long
        format!("{u}:t-g:1"),                             // bad tag char
        format!("{u}:1,"),                                // trailing comma
        format!(",{u}:1"),                                // leading comma
        format!("{u}:1,,{u}:2"),                          // empty group
        "3e11fa47-71ca-11e1-9e33-c80aa942956:1".into(),   // short uuid
        "3e11fa47-71ca-11e1-9e33-c80aa94295620:1".into(), // long uuid
        "3e11fa4771ca-11e1-9e33-c80aa9429562-:1".into(),  // hyphens misplaced
        "ge11fa47-71ca-11e1-9e33-c80aa9429562:1".into(),  // not hex
        "3e11fa47-71ca-11e1-9e33-c80aa942956é:1".into(),  // non-ASCII
        "1-5".into(),
        "0-1-100".into(),
        "16/B374D848".into(),
    ];
    for c in &cases {
        assert_parse_err(PositionKind::GtidSet, c);
    }
    // Bad parts given to the constructor.
    for (tag, iv) in [
        ("", GtidInterval { start: 0, end: 1 }),
        ("", GtidInterval { start: 3, end: 2 }),
        (
            "",
            GtidInterval {
                start: 1,
                end: u64::MAX,
            },
        ),
        ("9x", GtidInterval { start: 1, end: 1 }),
        ("a b", GtidInterval { start: 1, end: 1 }),
    ] {
        assert!(matches!(
            GtidSet::from_parts([(uuid(0), tag.to_owned(), vec![iv])]),
            Err(RywError::ParsePosition {
                kind: PositionKind::GtidSet,
                ..
            })
        ));
    }
}

#[test]
fn mariadb_output() {
    let l: GtidList = "0-1-100,1-2-5".parse().unwrap();
    assert_eq!(l.to_string(), "0-1-100,1-2-5");
    assert_eq!(
        l.gtids(),
        &[
            MariaGtid {
                domain: 0,
                server: 1,
                seq: 100
            },
            MariaGtid {
                domain: 1,
                server: 2,
                seq: 5
            },
        ]
    );
    assert!(l.covers(&"0-7-100".parse().unwrap()));
    assert!(!l.covers(&"0-1-101".parse().unwrap()));
    assert!(!l.covers(&"2-1-1".parse().unwrap()));
    // Empty @@gtid_binlog_pos on a fresh server.
    let e: GtidList = "".parse().unwrap();
    assert!(e.is_empty());
    assert_eq!(e.to_string(), "");
    assert!(l.covers(&e) && !e.covers(&l));
    // Unsorted, blanks, a domain named twice keeps the larger seq.
    let u: GtidList = "1-2-5, 0-1-90,0-1-100".parse().unwrap();
    assert_eq!(u, l);
    // Extremes.
    let x: GtidList = "4294967295-4294967295-18446744073709551615"
        .parse()
        .unwrap();
    assert_eq!(x.to_string(), "4294967295-4294967295-18446744073709551615");
}

#[test]
fn mariadb_invalid() {
    for c in [
        "0",
        "0-1",
        "0-1-2-3",
        "a-1-2",
        "0-b-2",
        "0-1-c",
        "0-1-",
        "-1-2",
        "0--2",
        "0-1-2,",
        ",0-1-2",
        "0-1-2,,1-1-1",
        "0-1-+2",
        "0-1-0x2",
        "4294967296-1-1",
        "0-4294967296-1",
        "0-1-18446744073709551616",
        "0 1 2",
        "0-1-2;1-1-1",
        "16/B374D848",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1",
        "٣-1-2", // non-ASCII digit
    ] {
        assert_parse_err(PositionKind::GtidList, c);
    }
}

#[test]
fn postgres_output() {
    let l: Lsn = "16/B374D848".parse().unwrap();
    assert_eq!(l.as_u64(), 0x16_B374_D848);
    assert_eq!(l.to_string(), "16/B374D848");
    assert_eq!("16/b374d848".parse::<Lsn>().unwrap(), l);
    let z: Lsn = "0/0".parse().unwrap();
    assert_eq!(z, Lsn::new(0));
    assert_eq!(z.to_string(), "0/0");
    let m: Lsn = "FFFFFFFF/FFFFFFFF".parse().unwrap();
    assert_eq!(m, Lsn::new(u64::MAX));
    assert_eq!(m.to_string(), "FFFFFFFF/FFFFFFFF");
    assert!(m.covers(&l) && l.covers(&z) && !z.covers(&l));
    assert_eq!("0/1000000".parse::<Lsn>().unwrap().to_string(), "0/1000000");
    assert_eq!(l.bytes_since(Lsn::new(0x16_B374_D800)), 0x48);
    assert_eq!(Lsn::new(1).bytes_since(l), 0);
}

#[test]
fn postgres_invalid() {
    for c in [
        "",
        "16",
        "16/",
        "/B374D848",
        "/",
        "16/B374D848/1",
        "G/0",
        "0/G",
        "123456789/0",
        "0/123456789",
        "16 /B374D848",
        " 16/B374D848",
        "-1/0",
        "+1/0",
        "0x16/0",
        "16.B374D848",
        "１/0", // full-width digit
    ] {
        assert_parse_err(PositionKind::Lsn, c);
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing garbage never panics
// ---------------------------------------------------------------------------------------------

fn check_parse_total(kind: PositionKind, s: &str) -> Result<(), TestCaseError> {
    match Position::parse(kind, s) {
        Ok(p) => {
            // Whatever parses, prints in a form that parses to the same value.
            prop_assert_eq!(p.kind(), kind);
            let text = p.to_string();
            let again = Position::parse(kind, &text).unwrap();
            prop_assert_eq!(&again, &p);
            prop_assert_eq!(again.to_string(), text);
        }
        Err(RywError::ParsePosition { kind: k, input, .. }) => {
            prop_assert_eq!(k, kind);
            prop_assert!(input.chars().count() <= 120);
        }
        Err(e) => prop_assert!(false, "unexpected error {e:?}"),
    }
    Ok(())
}

/// Characters that matter to the three grammars, so mutations stay near valid input.
const ALPHABET: &[char] = &[
    '0', '1', '2', '9', 'a', 'A', 'f', 'F', 'g', 'z', '_', '-', ':', ',', '/', ' ', '\n', 'é',
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    let ch = prop::sample::select(ALPHABET);
    prop_oneof![
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

fn apply_edits(s: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for e in edits {
        match *e {
            Edit::Insert(i, c) => {
                let i = i % (chars.len() + 1);
                chars.insert(i, c);
            }
            Edit::Delete(i) if !chars.is_empty() => {
                let i = i % chars.len();
                chars.remove(i);
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let i = i % chars.len();
                chars[i] = c;
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn parse_any_string_never_panics(s in any::<String>()) {
        for kind in [PositionKind::Lsn, PositionKind::GtidSet, PositionKind::GtidList] {
            check_parse_total(kind, &s)?;
        }
        let _ = s.parse::<Uuid>();
    }

    #[test]
    fn parse_grammar_soup_never_panics(s in "[0-9a-fA-F:,/ \\n_-]{0,80}") {
        for kind in [PositionKind::Lsn, PositionKind::GtidSet, PositionKind::GtidList] {
            check_parse_total(kind, &s)?;
        }
    }

    #[test]
    fn parse_mutated_valid_never_panics(
        p in position_strategy(),
        edits in prop::collection::vec(edit_strategy(), 1..4),
    ) {
        let mutated = apply_edits(&p.to_string(), &edits);
        for kind in [PositionKind::Lsn, PositionKind::GtidSet, PositionKind::GtidList] {
            check_parse_total(kind, &mutated)?;
        }
    }
}

//! `Floors`: raise, required (session + scope), merge_from and fold_to.
#![allow(missing_docs)]
// Helpers outside `#[test]` functions are test code too (clippy.toml only covers the latter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use ryw_core::position::{
    GtidInterval, GtidList, GtidSet, Lsn, MariaGtid, Position, PositionKind, Uuid,
};
use ryw_core::{ClusterId, Floors, RywError, ScopeKey};

/// Cluster names decide the position kind, so one cluster never mixes kinds.
const CLUSTERS: [&str; 4] = ["pg:a", "pg:b", "mysql:a", "mariadb:a"];

fn lsn(v: u64) -> Position {
    Lsn::new(v).into()
}

fn position_for(cluster: usize) -> BoxedStrategy<Position> {
    match CLUSTERS[cluster] {
        c if c.starts_with("pg") => (0u64..40).prop_map(lsn).boxed(),
        c if c.starts_with("mysql") => {
            prop::collection::vec((0u8..2, prop::bool::ANY, 1u64..30, 0u64..4), 1..3)
                .prop_map(|items| {
                    GtidSet::from_parts(items.into_iter().map(|(u, tagged, s, l)| {
                        (
                            Uuid([u; 16]),
                            if tagged {
                                "t".to_owned()
                            } else {
                                String::new()
                            },
                            vec![GtidInterval {
                                start: s,
                                end: s + l,
                            }],
                        )
                    }))
                    .unwrap()
                    .into()
                })
                .boxed()
        }
        _ => prop::collection::vec((0u32..3, 1u32..3, 0u64..20), 0..3)
            .prop_map(|items| {
                GtidList::from_gtids(items.into_iter().map(|(domain, server, seq)| MariaGtid {
                    domain,
                    server,
                    seq,
                }))
                .into()
            })
            .boxed(),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Scope(usize, u8, Position),
    Session(usize, Position),
}

fn op_strategy(with_session: bool) -> impl Strategy<Value = Op> {
    (0usize..CLUSTERS.len(), 0u8..6, 0u8..8).prop_flat_map(move |(c, s, pick)| {
        position_for(c).prop_map(move |p| {
            if with_session && pick == 0 {
                Op::Session(c, p)
            } else {
                Op::Scope(c, s, p)
            }
        })
    })
}

fn scope(s: u8) -> ScopeKey {
    ScopeKey::of("user_id", s)
}

fn build(ops: &[Op]) -> Floors {
    let mut f = Floors::default();
    for op in ops {
        match op {
            Op::Scope(c, s, p) => {
                f.raise(&ClusterId::new(CLUSTERS[*c]), &scope(*s), p.clone())
                    .unwrap();
            }
            Op::Session(c, p) => {
                f.raise_session(&ClusterId::new(CLUSTERS[*c]), p.clone())
                    .unwrap();
            }
        }
    }
    f
}

fn scope_floor(f: &Floors, c: &ClusterId, s: &ScopeKey) -> Option<Position> {
    f.clusters()
        .find(|(id, _)| *id == c)
        .and_then(|(_, cf)| cf.scopes().find(|(k, _)| *k == s).map(|(_, p)| p.clone()))
}

fn session_floor(f: &Floors, c: &ClusterId) -> Option<Position> {
    f.clusters()
        .find(|(id, _)| *id == c)
        .and_then(|(_, cf)| cf.session().cloned())
}

fn merge_opt(a: Option<Position>, b: Option<Position>) -> Option<Position> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.merge(&b).unwrap()),
        (a, b) => a.or(b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Folding only over-approximates: every scope's required floor still covers what it was,
    /// and at most `max` scopes remain.
    #[test]
    fn fold_to_keeps_every_scope_covered(
        ops in prop::collection::vec(op_strategy(true), 0..30),
        max in 0usize..10,
    ) {
        let original = build(&ops);
        let mut folded = original.clone();
        folded.fold_to(max);
        prop_assert!(folded.scope_count() <= max);
        prop_assert_eq!(folded.scope_count(), original.scope_count().min(max));
        for c in CLUSTERS {
            let c = ClusterId::new(c);
            for s in 0..6u8 {
                let s = scope(s);
                // A scope without a floor may inherit the folded session floor: that is
                // the over-approximation, allowed.
                if let Some(before) = original.required(&c, &s).unwrap() {
                    let after = folded.required(&c, &s).unwrap().unwrap();
                    prop_assert!(after.covers(&before).unwrap(), "{c} {s}: {after} < {before}");
                }
            }
        }
        // Under the bound nothing changes; folding twice is folding once.
        let mut again = folded.clone();
        again.fold_to(max);
        prop_assert_eq!(&again, &folded);
        if original.scope_count() <= max {
            prop_assert_eq!(&folded, &original);
        }
    }

    /// For LSNs the lowest floors are folded first, so (without a prior session floor) the
    /// session floor stays at or below every scope floor that remains exact.
    #[test]
    fn fold_to_folds_the_lowest_lsns(
        ops in prop::collection::vec(op_strategy(false), 0..30),
        max in 0usize..10,
    ) {
        let mut f = build(&ops);
        f.fold_to(max);
        for (_, cf) in f.clusters() {
            if let Some(Position::Lsn(sess)) = cf.session() {
                for (s, p) in cf.scopes() {
                    let Position::Lsn(p) = p else { continue };
                    prop_assert!(p >= sess, "{s} at {p} kept below session {sess}");
                }
            }
        }
    }

    #[test]
    fn merge_from_is_per_floor_merge(
        a_ops in prop::collection::vec(op_strategy(true), 0..20),
        b_ops in prop::collection::vec(op_strategy(true), 0..20),
    ) {
        let (a, b) = (build(&a_ops), build(&b_ops));
        let mut m = a.clone();
        m.merge_from(&b).unwrap();
        for c in CLUSTERS {
            let c = ClusterId::new(c);
            prop_assert_eq!(
                session_floor(&m, &c),
                merge_opt(session_floor(&a, &c), session_floor(&b, &c))
            );
            for s in 0..6u8 {
                let s = scope(s);
                prop_assert_eq!(
                    scope_floor(&m, &c, &s),
                    merge_opt(scope_floor(&a, &c, &s), scope_floor(&b, &c, &s))
                );
                prop_assert_eq!(
                    m.required(&c, &s).unwrap(),
                    merge_opt(a.required(&c, &s).unwrap(), b.required(&c, &s).unwrap())
                );
            }
        }
        // Same as replaying both histories into one.
        let both: Vec<Op> = a_ops.iter().chain(&b_ops).cloned().collect();
        let replayed = build(&both);
        for c in CLUSTERS {
            let c = ClusterId::new(c);
            for s in 0..6u8 {
                prop_assert_eq!(
                    m.required(&c, &scope(s)).unwrap(),
                    replayed.required(&c, &scope(s)).unwrap()
                );
            }
        }
        // Merging in yourself changes nothing.
        let mut twice = m.clone();
        twice.merge_from(&m).unwrap();
        prop_assert_eq!(twice, m);
    }
}

#[test]
fn raise_reports_changes_and_never_lowers() {
    let c = ClusterId::new("pg:1:1");
    let s = ScopeKey::of("user_id", 1);
    let mut f = Floors::default();
    assert!(f.is_empty());
    assert!(f.raise(&c, &s, lsn(10)).unwrap());
    assert!(!f.raise(&c, &s, lsn(10)).unwrap());
    assert!(!f.raise(&c, &s, lsn(9)).unwrap());
    assert!(f.raise(&c, &s, lsn(11)).unwrap());
    assert_eq!(f.required(&c, &s).unwrap(), Some(lsn(11)));
    assert!(!f.is_empty());
    assert_eq!(f.scope_count(), 1);

    // Kind mismatch: typed error, held floor kept.
    let err = f
        .raise(&c, &s, "0-1-1".parse::<GtidList>().unwrap().into())
        .unwrap_err();
    assert_eq!(
        err,
        RywError::ScopeKindMismatch {
            scope: "user_id:1".into(),
            held: PositionKind::Lsn,
            offered: PositionKind::GtidList,
        }
    );
    assert_eq!(f.required(&c, &s).unwrap(), Some(lsn(11)));
    assert_eq!(f.scope_count(), 1);

    // Clusters are separate namespaces.
    assert_eq!(f.required(&ClusterId::new("pg:2:1"), &s).unwrap(), None);
    assert_eq!(ScopeKey::of("user_id", 1).as_str(), "user_id:1");
    assert_eq!(ScopeKey::new("user_id:1"), s);
}

#[test]
fn required_merges_session_and_scope() {
    let c = ClusterId::new("pg:1:1");
    let (s1, s2, s3) = (
        ScopeKey::of("user_id", 1),
        ScopeKey::of("user_id", 2),
        ScopeKey::of("user_id", 3),
    );
    let mut f = Floors::default();
    f.raise(&c, &s1, lsn(50)).unwrap();
    f.raise(&c, &s2, lsn(150)).unwrap();
    assert!(f.raise_session(&c, lsn(100)).unwrap());
    assert!(!f.raise_session(&c, lsn(99)).unwrap());
    assert_eq!(f.required(&c, &s1).unwrap(), Some(lsn(100)));
    assert_eq!(f.required(&c, &s2).unwrap(), Some(lsn(150)));
    assert_eq!(f.required(&c, &s3).unwrap(), Some(lsn(100)));
    assert_eq!(f.required(&ClusterId::new("other"), &s1).unwrap(), None);

    // GTID lists merge per domain: both the session's and the scope's domains are required.
    let m = ClusterId::new("mariadb:1");
    let mut g = Floors::default();
    g.raise_session(&m, "0-1-5".parse::<GtidList>().unwrap().into())
        .unwrap();
    g.raise(&m, &s1, "0-1-3,1-2-7".parse::<GtidList>().unwrap().into())
        .unwrap();
    assert_eq!(
        g.required(&m, &s1).unwrap(),
        Some("0-1-5,1-2-7".parse::<GtidList>().unwrap().into())
    );

    // Session and scope of different kinds: an error, not a silent choice.
    let mut bad = Floors::default();
    bad.raise_session(&c, lsn(1)).unwrap();
    bad.raise(&c, &s1, "0-1-3".parse::<GtidList>().unwrap().into())
        .unwrap();
    assert!(matches!(
        bad.required(&c, &s1),
        Err(RywError::ScopeKindMismatch { .. })
    ));
    assert_eq!(bad.required(&c, &s2).unwrap(), Some(lsn(1)));
}

#[test]
fn merge_from_conflicts_keep_held_floor_and_merge_the_rest() {
    let c = ClusterId::new("pg:1:1");
    let (x, y) = (ScopeKey::of("user_id", 1), ScopeKey::of("user_id", 2));
    let mut a = Floors::default();
    a.raise(&c, &x, lsn(10)).unwrap();
    a.raise(&c, &y, lsn(10)).unwrap();
    let mut b = Floors::default();
    b.raise(&c, &x, "0-1-3".parse::<GtidList>().unwrap().into())
        .unwrap();
    b.raise(&c, &y, lsn(20)).unwrap();
    b.raise(&ClusterId::new("pg:2:1"), &x, lsn(7)).unwrap();
    let err = a.merge_from(&b).unwrap_err();
    assert!(matches!(err, RywError::ScopeKindMismatch { .. }), "{err:?}");
    assert_eq!(a.required(&c, &x).unwrap(), Some(lsn(10)));
    assert_eq!(a.required(&c, &y).unwrap(), Some(lsn(20)));
    assert_eq!(
        a.required(&ClusterId::new("pg:2:1"), &x).unwrap(),
        Some(lsn(7))
    );
}

#[test]
fn fold_keeps_a_floor_it_cannot_fold() {
    // A cluster whose session floor is an LSN but whose scope holds a GTID list (not a
    // real deployment, but the floors must not be lost): folding keeps the scope.
    let c = ClusterId::new("pg:1:1");
    let s = ScopeKey::of("user_id", 1);
    let mut f = Floors::default();
    f.raise_session(&c, lsn(5)).unwrap();
    let gtid: Position = "0-1-3".parse::<GtidList>().unwrap().into();
    f.raise(&c, &s, gtid.clone()).unwrap();
    f.fold_to(0);
    assert_eq!(f.scope_count(), 1);
    let (_, cf) = f.clusters().next().unwrap();
    assert_eq!(cf.session(), Some(&lsn(5)));
    assert_eq!(cf.scopes().next().map(|(_, p)| p), Some(&gtid));
}

#[test]
fn fold_to_example() {
    let c = ClusterId::new("pg:1:1");
    let mut f = Floors::default();
    for (i, v) in [30u64, 10, 50, 20, 40].into_iter().enumerate() {
        f.raise(&c, &ScopeKey::of("user_id", i), lsn(v)).unwrap();
    }
    f.fold_to(2);
    let (_, cf) = f.clusters().next().unwrap();
    // 10, 20, 30 folded into a session floor of 30; 40 and 50 stay exact.
    assert_eq!(cf.session(), Some(&lsn(30)));
    let kept: Vec<_> = cf
        .scopes()
        .map(|(s, p)| (s.to_string(), p.clone()))
        .collect();
    assert_eq!(
        kept,
        vec![
            ("user_id:2".to_owned(), lsn(50)),
            ("user_id:4".to_owned(), lsn(40)),
        ]
    );
    assert_eq!(
        f.required(&c, &ScopeKey::of("user_id", 1)).unwrap(),
        Some(lsn(30))
    );
}

// ---------------------------------------------------------------------------------------------
// Failover: floors of earlier epochs against the new leader's history
// ---------------------------------------------------------------------------------------------

#[test]
fn floors_inside_the_new_history_stay_fences_and_those_beyond_it_are_lost() {
    use ryw_core::{EpochHistory, Floor};
    let c = ClusterId::new("pg:7300000000000000001");
    let (kept, lost, later, unknown) = (
        ScopeKey::of("user_id", 1),
        ScopeKey::of("user_id", 2),
        ScopeKey::of("user_id", 3),
        ScopeKey::of("user_id", 4),
    );
    let mut f = Floors::default();
    // Timeline 1 ended at 0/5000; timeline 2 ended at 0/9000; the leader is on 3.
    let history = EpochHistory::new(3)
        .with_end(1, lsn(0x5000))
        .with_end(2, lsn(0x9000));
    f.raise_floor(&c, &kept, Floor::new(lsn(0x4000)).with_epoch(Some(1)))
        .unwrap();
    f.raise_floor(&c, &lost, Floor::new(lsn(0x6000)).with_epoch(Some(1)))
        .unwrap();
    f.raise_floor(&c, &later, Floor::new(lsn(0xA000)).with_epoch(Some(3)))
        .unwrap();
    f.raise_floor(&c, &unknown, Floor::new(lsn(0x7000)))
        .unwrap();
    f.raise_session_floor(&c, Floor::new(lsn(0x9500)).with_epoch(Some(2)))
        .unwrap();
    assert_eq!(f.latest_epoch(&c), Some(3));

    let lost_floors = f.reconcile_epochs(&c, &history);
    // 0/6000 on timeline 1 is past its end (0/5000): lost, lowered to the end.
    // The session floor 0/9500 on timeline 2 is past its end (0/9000): lost too.
    assert_eq!(lost_floors.len(), 2, "{lost_floors:?}");
    let by_scope: Vec<_> = lost_floors
        .iter()
        .map(|l| (l.scope.clone(), l.lost.clone(), l.kept.clone(), l.epoch))
        .collect();
    assert!(by_scope.contains(&(None, lsn(0x9500), lsn(0x9000), 2)));
    assert!(by_scope.contains(&(Some(lost.clone()), lsn(0x6000), lsn(0x5000), 1)));
    let (_, cf) = f.clusters().next().unwrap();
    let floor = |s: &ScopeKey| cf.scope_floors().find(|(k, _)| *k == s).unwrap().1.clone();
    // Inside the history: same fence, relabelled to the current epoch.
    assert_eq!(floor(&kept), Floor::new(lsn(0x4000)).with_epoch(Some(3)));
    assert_eq!(floor(&lost), Floor::new(lsn(0x5000)).with_epoch(Some(3)));
    assert_eq!(floor(&later), Floor::new(lsn(0xA000)).with_epoch(Some(3)));
    // No epoch (an older token): kept as it is, never judged on a guess.
    assert_eq!(floor(&unknown), Floor::new(lsn(0x7000)));
    // Reconciling again finds nothing new.
    assert!(f.reconcile_epochs(&c, &history).is_empty());
    // A history without ancestors (unreadable history file) keeps every floor.
    let mut g = Floors::default();
    g.raise_floor(&c, &lost, Floor::new(lsn(0x6000)).with_epoch(Some(1)))
        .unwrap();
    assert!(g.reconcile_epochs(&c, &EpochHistory::new(3)).is_empty());
    assert_eq!(g.required(&c, &lost).unwrap(), Some(lsn(0x6000)));
}

#[test]
fn a_lost_floor_merged_with_a_lower_write_of_the_new_epoch_still_fences_that_write() {
    use ryw_core::{EpochHistory, Floor};
    let c = ClusterId::new("pg:7300000000000000001");
    let s = ScopeKey::of("user_id", 1);
    let mut f = Floors::default();
    // 0/6000 on timeline 1, which ended at 0/5000: lost in the failover.
    f.raise_floor(&c, &s, Floor::new(lsn(0x6000)).with_epoch(Some(1)))
        .unwrap();
    // The scope is written again on timeline 2, below the lost position.
    f.raise_floor(&c, &s, Floor::new(lsn(0x5800)).with_epoch(Some(2)))
        .unwrap();
    let history = EpochHistory::new(2).with_end(1, lsn(0x5000));
    f.reconcile_epochs(&c, &history);
    let required = f.required(&c, &s).unwrap().unwrap();
    assert!(
        required.covers(&lsn(0x5800)).unwrap(),
        "the epoch-2 write at 0/5800 is no longer fenced: {required}"
    );
}

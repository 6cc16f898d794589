//! The decision, table-driven: every combination of floor, replica states, budget, pin and
//! fallback that matters, without a database.

use ryw_core::position::Lsn;
use ryw_core::{Fallback, Position};

use super::{Ask, Decision, ReplicaView, choose, decide, freshest};
use crate::router::outcome::FallbackReason::{BudgetExhausted, NoHealthyReplica, Pinned};

fn at(lsn: u64) -> Option<Position> {
    Some(Position::Lsn(Lsn::new(lsn)))
}

fn up(applied: u64) -> ReplicaView {
    ReplicaView {
        online: true,
        applied: at(applied),
        in_flight: 0,
    }
}

fn busy(applied: u64, in_flight: usize) -> ReplicaView {
    ReplicaView {
        in_flight,
        ..up(applied)
    }
}

fn down(applied: u64) -> ReplicaView {
    ReplicaView {
        online: false,
        ..up(applied)
    }
}

fn ask(floor: Option<&Position>, fallback: Fallback, may_wait: bool) -> Ask<'_> {
    Ask {
        floor,
        fallback,
        may_wait,
        pinned: false,
        rotation: 0,
    }
}

#[test]
fn the_decision_table() {
    let f = Position::Lsn(Lsn::new(100));
    let floor = Some(&f);
    let (lead, err, stale) = (Fallback::Leader, Fallback::Error, Fallback::Stale);
    #[rustfmt::skip]
    let table: Vec<(&str, Ask<'_>, Vec<ReplicaView>, Decision)> = vec![
        // No floor: any online replica, the freshest when idle.
        ("unfenced, freshest", ask(None, lead, true), vec![up(50), up(90)], Decision::Replica(1)),
        ("unfenced, idle beats fresh", ask(None, lead, true), vec![up(50), busy(90, 2)], Decision::Replica(0)),
        ("unfenced, skips offline", ask(None, lead, true), vec![down(99), up(10)], Decision::Replica(1)),
        ("unfenced, none online", ask(None, err, true), vec![down(99)], Decision::Leader(NoHealthyReplica)),
        ("unfenced, no replicas", ask(None, lead, true), vec![], Decision::Leader(NoHealthyReplica)),
        ("unfenced, pinned", Ask { pinned: true, ..ask(None, lead, true) }, vec![up(1)], Decision::Leader(Pinned)),
        // A floor: only replicas past it, never an offline one.
        ("covered", ask(floor, lead, true), vec![up(50), up(100)], Decision::Replica(1)),
        ("covered, least busy of two", ask(floor, lead, true), vec![busy(200, 3), busy(150, 1)], Decision::Replica(1)),
        ("covered only by an offline one", ask(floor, lead, false), vec![down(200), up(50)], Decision::Leader(BudgetExhausted)),
        ("pin ignored with a floor", Ask { pinned: true, ..ask(floor, lead, true) }, vec![up(100)], Decision::Replica(0)),
        // Behind: wait while the budget allows and someone is online.
        ("behind, budget left", ask(floor, lead, true), vec![up(50)], Decision::Wait),
        ("behind, all offline", ask(floor, lead, true), vec![down(50)], Decision::Leader(NoHealthyReplica)),
        // Behind, budget spent: the fallback.
        ("behind, leader", ask(floor, lead, false), vec![up(50)], Decision::Leader(BudgetExhausted)),
        ("behind, error", ask(floor, err, false), vec![up(50)], Decision::Fail),
        ("behind, stale: freshest", ask(floor, stale, false), vec![up(50), up(70), down(99)], Decision::Stale(1)),
        ("behind, stale, none online", ask(floor, stale, false), vec![down(50)], Decision::Leader(NoHealthyReplica)),
        ("no replicas, error", ask(floor, err, true), vec![], Decision::Fail),
    ];
    for (name, a, replicas, want) in table {
        assert_eq!(decide(&a, &replicas), want, "{name}");
    }
}

#[test]
fn full_ties_go_round() {
    let replicas = vec![up(100), up(100), up(100)];
    let picks: Vec<_> = (0..6)
        .map(|r| choose(0..3, &replicas, r).unwrap())
        .collect();
    assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    assert_eq!(choose(std::iter::empty(), &replicas, 4), None);
}

#[test]
fn a_replica_without_a_position_is_least_fresh() {
    let unknown = ReplicaView {
        online: true,
        applied: None,
        in_flight: 0,
    };
    assert_eq!(freshest(&[unknown.clone(), up(1)]), Some(1));
    // Unfenced reads may still go there when it is the only one online.
    assert_eq!(
        decide(&ask(None, Fallback::Leader, true), &[unknown]),
        Decision::Replica(0)
    );
}

#[test]
fn every_answer_is_consistent_with_its_inputs() {
    // Exhaustive over small worlds: 3 replicas, each offline / behind / past the floor and
    // idle / busy; every fallback, budget, pin, with and without a floor.
    let f = Position::Lsn(Lsn::new(100));
    let states = [
        down(50),
        down(150),
        up(50),
        up(150),
        busy(50, 2),
        busy(150, 2),
    ];
    for a in &states {
        for b in &states {
            for c in &states {
                let replicas = [a.clone(), b.clone(), c.clone()];
                for fallback in [Fallback::Leader, Fallback::Error, Fallback::Stale] {
                    for (may_wait, pinned, floor) in [
                        (true, false, Some(&f)),
                        (false, false, Some(&f)),
                        (true, true, None),
                        (false, false, None),
                    ] {
                        let q = Ask {
                            floor,
                            fallback,
                            may_wait,
                            pinned,
                            rotation: 1,
                        };
                        check(&q, &replicas, decide(&q, &replicas));
                    }
                }
            }
        }
    }
}

fn check(q: &Ask<'_>, replicas: &[ReplicaView], d: Decision) {
    let covers = |r: &ReplicaView| {
        q.floor.is_none_or(|f| {
            r.online
                && r.applied
                    .as_ref()
                    .is_some_and(|a| a.covers(f).unwrap_or(false))
        })
    };
    let any_covering = replicas.iter().any(|r| r.online && covers(r));
    match d {
        // A replica read is always online and past the floor, and as idle as any other such.
        Decision::Replica(i) => {
            let r = &replicas[i];
            assert!(r.online && covers(r), "{d:?} {replicas:?}");
            let min = replicas
                .iter()
                .filter(|o| o.online && covers(o))
                .map(|o| o.in_flight)
                .min();
            assert_eq!(Some(r.in_flight), min, "{d:?} {replicas:?}");
        }
        // Never wait or fall back while a replica could serve.
        Decision::Wait => assert!(!any_covering && q.may_wait && q.floor.is_some()),
        Decision::Leader(Pinned) => assert!(q.pinned && q.floor.is_none()),
        Decision::Leader(_) | Decision::Fail | Decision::Stale(_) => {
            assert!(
                !any_covering || (q.pinned && q.floor.is_none()),
                "{d:?} {replicas:?}"
            );
            if d == Decision::Fail {
                assert_eq!(q.fallback, Fallback::Error);
            }
            if let Decision::Stale(i) = d {
                assert!(replicas[i].online && q.fallback == Fallback::Stale);
            }
        }
    }
}

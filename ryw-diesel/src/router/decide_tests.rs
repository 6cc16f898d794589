//! The decision, table-driven: every combination of floor, replica states (position, load,
//! lag, replay history), budget, pin, fallback and leader load that matters, without a
//! database.

use std::time::Duration;

use ryw_core::position::Lsn;
use ryw_core::{Fallback, LeaderBusy, Position, Prefer};

use super::{Ask, Decision, LagBound, ReplicaView, SERVER_WAIT_GRACE, choose, decide, freshest};
use crate::router::outcome::FallbackReason::{
    BudgetExhausted, Fastest, NoHealthyReplica, Pinned, Unfenced,
};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn at(lsn: u64) -> Option<Position> {
    Some(Position::Lsn(Lsn::new(lsn)))
}

fn up(applied: u64) -> ReplicaView {
    ReplicaView {
        online: true,
        applied: at(applied),
        ..ReplicaView::default()
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

/// Behind by `staleness`, lately applying commits `replay_lag` after the leader.
fn lagging(applied: u64, staleness: Duration, replay_lag: Duration) -> ReplicaView {
    ReplicaView {
        staleness,
        replay_lag: Some(replay_lag),
        ..up(applied)
    }
}

fn ask(floor: Option<&Position>, fallback: Fallback, budget: Duration) -> Ask<'_> {
    Ask {
        floor,
        floor_age: None,
        fallback,
        when_busy: LeaderBusy::Queue,
        leader_busy: false,
        remaining: budget,
        bound: LagBound {
            time: 5 * SEC,
            bytes: 16 << 20,
        },
        pinned: false,
        unresolved: false,
        server_wait: false,
        waited: Duration::ZERO,
        prefer: Prefer::Replica,
        hedge: 3 * MS,
        rotation: 0,
    }
}

/// A latency-first ask.
fn fast(floor: Option<&Position>, budget: Duration) -> Ask<'_> {
    Ask {
        prefer: Prefer::Latency,
        ..ask(floor, Fallback::Leader, budget)
    }
}

#[test]
fn the_decision_table() {
    let f = Position::Lsn(Lsn::new(100));
    let floor = Some(&f);
    let (lead, err, stale) = (Fallback::Leader, Fallback::Error, Fallback::Stale);
    let b = SEC;
    let busy_leader = |when_busy| Ask {
        leader_busy: true,
        when_busy,
        ..ask(floor, lead, Duration::ZERO)
    };
    let far = ReplicaView {
        lag_bytes: Some(1 << 30),
        ..up(99)
    };
    #[rustfmt::skip]
    let table: Vec<(&str, Ask<'_>, Vec<ReplicaView>, Decision)> = vec![
        // No floor: any online replica, the freshest when idle.
        ("unfenced, freshest", ask(None, lead, b), vec![up(50), up(90)], Decision::Replica(1)),
        ("unfenced, idle beats fresh", ask(None, lead, b), vec![up(50), busy(90, 2)], Decision::Replica(0)),
        ("unfenced, skips offline", ask(None, lead, b), vec![down(99), up(10)], Decision::Replica(1)),
        ("unfenced, none online", ask(None, err, b), vec![down(99)], Decision::Leader(NoHealthyReplica)),
        ("unfenced, no replicas", ask(None, lead, b), vec![], Decision::Leader(NoHealthyReplica)),
        ("unfenced, pinned", Ask { pinned: true, ..ask(None, lead, b) }, vec![up(1)], Decision::Leader(Pinned)),
        // Lag bounds: a replica past them serves only when no other can.
        ("unfenced, skips one 10 s stale", ask(None, lead, b), vec![lagging(99, 10 * SEC, SEC), busy(10, 3)], Decision::Replica(1)),
        ("unfenced, skips one 1 GiB behind", ask(None, lead, b), vec![far.clone(), busy(10, 3)], Decision::Replica(1)),
        ("unfenced, all past the bounds", ask(None, lead, b), vec![lagging(9, 10 * SEC, SEC), far.clone()], Decision::Replica(1)),
        ("covered, the one within bounds", ask(floor, lead, b), vec![ReplicaView { lag_bytes: Some(1 << 30), ..up(200) }, busy(150, 4)], Decision::Replica(1)),
        // A floor: only replicas past it, never an offline one.
        ("covered", ask(floor, lead, b), vec![up(50), up(100)], Decision::Replica(1)),
        ("covered, least busy of two", ask(floor, lead, b), vec![busy(200, 3), busy(150, 1)], Decision::Replica(1)),
        ("covered only by an offline one", ask(floor, lead, Duration::ZERO), vec![down(200), up(50)], Decision::Leader(BudgetExhausted)),
        ("pin ignored with a floor", Ask { pinned: true, ..ask(floor, lead, b) }, vec![up(100)], Decision::Replica(0)),
        // Behind: wait while it pays off within the budget left.
        ("behind, lag unknown", ask(floor, lead, b), vec![up(50)], Decision::Wait(None)),
        ("behind, expected in 200 ms", ask(floor, lead, b), vec![lagging(50, 200 * MS, 200 * MS)], Decision::Wait(None)),
        ("behind, expected past the budget", ask(floor, lead, 100 * MS), vec![lagging(50, 200 * MS, 200 * MS)], Decision::Leader(BudgetExhausted)),
        ("behind, floor old enough", Ask { floor_age: Some(150 * MS), ..ask(floor, lead, 100 * MS) }, vec![lagging(50, 200 * MS, 200 * MS)], Decision::Wait(None)),
        ("behind, one of two pays off", ask(floor, lead, 100 * MS), vec![lagging(50, 2 * SEC, 2 * SEC), lagging(60, 50 * MS, 50 * MS)], Decision::Wait(None)),
        ("behind, lag grew past the sample", ask(floor, lead, 500 * MS), vec![lagging(50, 900 * MS, 200 * MS)], Decision::Leader(BudgetExhausted)),
        ("behind, stalled", ask(floor, lead, b), vec![lagging(50, 3 * SEC, 200 * MS)], Decision::Leader(BudgetExhausted)),
        ("behind, stalled, error", ask(floor, err, b), vec![lagging(50, 3 * SEC, 200 * MS)], Decision::Fail(f.clone())),
        ("behind, stalled, older floor", Ask { floor_age: Some(2500 * MS), ..ask(floor, lead, b) }, vec![lagging(50, 3 * SEC, 200 * MS)], Decision::Wait(None)),
        ("behind, all offline", ask(floor, lead, b), vec![down(50)], Decision::Leader(NoHealthyReplica)),
        // Behind, budget spent: the fallback.
        ("behind, leader", ask(floor, lead, Duration::ZERO), vec![up(50)], Decision::Leader(BudgetExhausted)),
        ("behind, error", ask(floor, err, Duration::ZERO), vec![up(50)], Decision::Fail(f.clone())),
        ("behind, stale: freshest", ask(floor, stale, Duration::ZERO), vec![up(50), up(70), down(99)], Decision::Stale { replica: 1, busy: false }),
        ("behind, stale, none online", ask(floor, stale, Duration::ZERO), vec![down(50)], Decision::Leader(NoHealthyReplica)),
        ("no replicas, error", ask(floor, err, b), vec![], Decision::Fail(f.clone())),
        // The leader's fallback slots are taken: the policy's choice.
        ("leader busy, queue", busy_leader(LeaderBusy::Queue), vec![up(50)], Decision::Queue(BudgetExhausted)),
        ("leader busy, error", busy_leader(LeaderBusy::Error), vec![up(50)], Decision::Shed),
        ("leader busy, stale", busy_leader(LeaderBusy::Stale), vec![up(50), up(70)], Decision::Stale { replica: 1, busy: true }),
        ("leader busy, stale, none online", busy_leader(LeaderBusy::Stale), vec![down(70)], Decision::Queue(NoHealthyReplica)),
        ("leader busy, a replica covers", busy_leader(LeaderBusy::Error), vec![up(150)], Decision::Replica(0)),
        ("leader busy, pinned still goes", Ask { pinned: true, ..busy_leader(LeaderBusy::Error) }, vec![up(1)], Decision::Shed),
        ("leader busy, pinned unfenced", Ask { pinned: true, floor: None, ..busy_leader(LeaderBusy::Error) }, vec![up(1)], Decision::Leader(Pinned)),
        ("leader busy, queue keeps the reason", Ask { unresolved: true, ..busy_leader(LeaderBusy::Queue) }, vec![up(150)], Decision::Queue(Unfenced)),
        // A scope written without a known position that could not be fenced: the leader.
        ("unresolved", Ask { unresolved: true, ..ask(floor, lead, b) }, vec![up(150)], Decision::Leader(Unfenced)),
        ("unresolved, unfenced read", Ask { unresolved: true, ..ask(None, err, b) }, vec![up(150)], Decision::Leader(Unfenced)),
        ("unresolved, leader busy, error", Ask { unresolved: true, ..busy_leader(LeaderBusy::Error) }, vec![up(150)], Decision::Shed),
        // Server-side waits: after a grace on the trackers, on the freshest online replica.
        ("server wait, within the grace", Ask { server_wait: true, waited: 10 * MS, ..ask(floor, lead, b) }, vec![up(50)], Decision::Wait(None)),
        ("server wait, grace over", Ask { server_wait: true, waited: SERVER_WAIT_GRACE, ..ask(floor, lead, b) }, vec![up(50), up(70), down(90)], Decision::Wait(Some(1))),
        ("server wait spent", Ask { server_wait: false, waited: SEC, ..ask(floor, lead, b) }, vec![up(50)], Decision::Wait(None)),
        ("server wait, hopeless", Ask { server_wait: true, waited: SEC, ..ask(floor, lead, 100 * MS) }, vec![lagging(50, 2 * SEC, 2 * SEC)], Decision::Leader(BudgetExhausted)),
        // Latency first: the leader at once unless a replica is expected within the hedge.
        ("latency first, covered", fast(floor, b), vec![up(150)], Decision::Replica(0)),
        ("latency first, 300 ms behind", fast(floor, b), vec![lagging(50, 300 * MS, 300 * MS)], Decision::Leader(Fastest)),
        ("latency first, no lag sample yet", fast(floor, b), vec![up(50)], Decision::Leader(Fastest)),
        ("latency first, expected within the hedge", fast(floor, b), vec![lagging(50, 2 * MS, 2 * MS)], Decision::Wait(None)),
        ("latency first, floor old enough", Ask { floor_age: Some(299 * MS), ..fast(floor, b) }, vec![lagging(50, 300 * MS, 300 * MS)], Decision::Wait(None)),
        ("latency first, fast leader, replica in 20 ms", fast(floor, b), vec![lagging(50, 20 * MS, 20 * MS)], Decision::Leader(Fastest)),
        ("latency first, slow leader, replica in 20 ms", Ask { hedge: 25 * MS, ..fast(floor, b) }, vec![lagging(50, 20 * MS, 20 * MS)], Decision::Wait(None)),
        ("latency first, hedge spent", Ask { waited: 3 * MS, ..fast(floor, b) }, vec![lagging(50, 2 * MS, 2 * MS)], Decision::Leader(Fastest)),
        ("latency first, no budget", fast(floor, Duration::ZERO), vec![lagging(50, MS, MS)], Decision::Leader(Fastest)),
        ("latency first, unfenced read", fast(None, b), vec![lagging(50, SEC, SEC)], Decision::Replica(0)),
        ("latency first, leader at budget: wait", Ask { leader_busy: true, ..fast(floor, b) }, vec![lagging(50, 300 * MS, 300 * MS)], Decision::Wait(None)),
        ("latency first, leader at budget, hopeless", Ask { leader_busy: true, ..fast(floor, 100 * MS) }, vec![lagging(50, SEC, SEC)], Decision::Queue(BudgetExhausted)),
        ("latency first needs the leader fallback", Ask { fallback: err, ..fast(floor, Duration::ZERO) }, vec![up(50)], Decision::Fail(f.clone())),
        ("prefer replica waits the lag out", ask(floor, lead, b), vec![lagging(50, 300 * MS, 300 * MS)], Decision::Wait(None)),
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
        ..ReplicaView::default()
    };
    assert_eq!(freshest(&[unknown.clone(), up(1)]), Some(1));
    // Unfenced reads may still go there when it is the only one online.
    assert_eq!(
        decide(&ask(None, Fallback::Leader, SEC), &[unknown]),
        Decision::Replica(0)
    );
}

#[test]
fn every_answer_is_consistent_with_its_inputs() {
    // Exhaustive over small worlds: 3 replicas, each offline / behind / past the floor, idle
    // / busy, fresh / lagging / stalled / far behind; every fallback, leader-busy choice,
    // budget, pin and leader load, with and without a floor.
    let f = Position::Lsn(Lsn::new(100));
    let states = [
        down(50),
        down(150),
        up(50),
        up(150),
        busy(50, 2),
        busy(150, 2),
        lagging(50, 300 * MS, 300 * MS),
        lagging(50, 2 * SEC, 300 * MS),
        lagging(150, 10 * SEC, 10 * SEC),
    ];
    let budgets = [Duration::ZERO, 100 * MS, SEC];
    for a in &states {
        for b in &states {
            for c in &states {
                let replicas = [a.clone(), b.clone(), c.clone()];
                for (fallback, prefer) in [
                    (Fallback::Leader, Prefer::Replica),
                    (Fallback::Leader, Prefer::Latency),
                    (Fallback::Error, Prefer::Latency),
                    (Fallback::Stale, Prefer::Replica),
                ] {
                    for when_busy in LeaderBusy::ALL.map(|(_, w)| w) {
                        for (remaining, leader_busy, pinned, floor, unresolved, waited) in [
                            (budgets[2], false, false, Some(&f), false, Duration::ZERO),
                            (budgets[2], false, false, Some(&f), false, SEC),
                            (budgets[1], false, false, Some(&f), false, Duration::ZERO),
                            (budgets[0], true, false, Some(&f), false, Duration::ZERO),
                            (budgets[0], false, false, Some(&f), false, Duration::ZERO),
                            (budgets[2], true, true, None, false, Duration::ZERO),
                            (budgets[0], true, false, None, false, Duration::ZERO),
                            (budgets[2], false, false, Some(&f), true, Duration::ZERO),
                            (budgets[2], true, false, None, true, Duration::ZERO),
                        ] {
                            let q = Ask {
                                floor,
                                fallback,
                                when_busy,
                                leader_busy,
                                remaining,
                                pinned,
                                unresolved,
                                server_wait: true,
                                waited,
                                prefer,
                                rotation: 1,
                                ..ask(None, fallback, remaining)
                            };
                            check(&q, &replicas, &decide(&q, &replicas));
                        }
                    }
                }
            }
        }
    }
}

fn check(q: &Ask<'_>, replicas: &[ReplicaView], d: &Decision) {
    let covers = |r: &ReplicaView| {
        q.floor.is_none_or(|f| {
            r.online
                && r.applied
                    .as_ref()
                    .is_some_and(|a| a.covers(f).unwrap_or(false))
        })
    };
    let any_covering = replicas.iter().any(|r| r.online && covers(r));
    let unpinned = !(q.pinned && q.floor.is_none());
    if q.unresolved {
        // Only the leader has the write: never a replica served as fresh, never a failure of
        // the fence; a busy leader's stale choice is flagged stale.
        assert!(
            matches!(
                d,
                Decision::Leader(_)
                    | Decision::Queue(_)
                    | Decision::Shed
                    | Decision::Stale { busy: true, .. }
            ),
            "{d:?}"
        );
    }
    match *d {
        // A replica read is always online and past the floor, within the bounds when some
        // such replica is, and as idle as any other such.
        Decision::Replica(i) => {
            let r = &replicas[i];
            assert!(r.online && covers(r), "{d:?} {replicas:?}");
            let eligible: Vec<_> = replicas.iter().filter(|o| o.online && covers(o)).collect();
            let within: Vec<_> = eligible.iter().filter(|o| o.within(&q.bound)).collect();
            if !within.is_empty() {
                assert!(r.within(&q.bound), "{d:?} {replicas:?}");
            }
            let pool: Vec<usize> = if within.is_empty() {
                eligible.iter().map(|o| o.in_flight).collect()
            } else {
                within.iter().map(|o| o.in_flight).collect()
            };
            assert_eq!(
                Some(r.in_flight),
                pool.into_iter().min(),
                "{d:?} {replicas:?}"
            );
        }
        // Wait only with budget left, a floor nobody covers, and a replica expected in time.
        Decision::Wait(server) => {
            assert!(!any_covering && !q.remaining.is_zero() && q.floor.is_some());
            // Latency first with room on the leader: a wait only for a replica with a known
            // lag expected within the hedge left.
            if q.prefer == Prefer::Latency && q.fallback == Fallback::Leader && !q.leader_busy {
                let left = q.hedge.saturating_sub(q.waited);
                let age = q.floor_age.unwrap_or_default();
                assert!(replicas.iter().any(|r| {
                    r.online
                        && r.replay_lag
                            .is_some_and(|l| l.max(r.staleness).saturating_sub(age) <= left)
                }));
            }
            // A server-side wait only after the grace, on the freshest online replica.
            if let Some(i) = server {
                assert!(q.server_wait && q.waited >= SERVER_WAIT_GRACE && replicas[i].online);
                assert_eq!(Some(i), freshest(replicas));
            }
            assert!(replicas.iter().any(|r| r.online
                && r.replay_lag.is_none_or(
                    |l| l.saturating_sub(q.floor_age.unwrap_or_default()) <= q.remaining
                )));
        }
        Decision::Leader(Pinned) => assert!(q.pinned && q.floor.is_none()),
        // The faster path only by preference, with the leader as fallback and room on it.
        Decision::Leader(Fastest) => {
            assert!(q.prefer == Prefer::Latency && q.fallback == Fallback::Leader);
            assert!(
                !q.leader_busy && !any_covering && q.floor.is_some(),
                "{d:?}"
            );
        }
        // The leader's slots: only taken while free, except for an explicit pin.
        Decision::Leader(_) => assert!(
            !q.leader_busy && (q.unresolved || !any_covering) && unpinned,
            "{d:?}"
        ),
        Decision::Queue(_) | Decision::Shed => {
            assert!(q.leader_busy);
            assert!(q.unresolved || !any_covering || !unpinned || q.floor.is_some());
            assert!(q.unresolved || !any_covering || q.floor.is_none());
            assert_eq!(
                *d == Decision::Shed,
                q.when_busy == LeaderBusy::Error,
                "{d:?}"
            );
        }
        Decision::Fail(ref floor) => {
            assert!(!any_covering || !unpinned, "{d:?} {replicas:?}");
            assert_eq!(q.fallback, Fallback::Error);
            assert_eq!(
                Some(floor),
                q.floor,
                "a failure names the floor it could not meet"
            );
        }
        Decision::Stale { replica, busy } => {
            assert!(
                q.unresolved || !any_covering || !unpinned,
                "{d:?} {replicas:?}"
            );
            assert!(replicas[replica].online);
            // Stale because the policy says so, or because the leader is busy: never both
            // unsaid.
            if busy {
                assert!(q.leader_busy && q.when_busy == LeaderBusy::Stale, "{d:?}");
            } else {
                assert_eq!(q.fallback, Fallback::Stale, "{d:?}");
            }
        }
    }
}

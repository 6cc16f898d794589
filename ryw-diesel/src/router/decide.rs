//! The routing decision as one pure function: the read's floor, a snapshot of every replica
//! as the trackers last saw it, and the policy's answers in; where the read goes out. No I/O,
//! no clock, no shared state — the read path gathers the inputs, acts on the decision, and
//! when told to wait, waits for the trackers and asks again.

use std::cmp::Ordering;

use ryw_core::{Fallback, Position};

use super::outcome::FallbackReason;

/// One replica as the router sees it when it decides.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ReplicaView {
    /// Whether its tracker's last poll succeeded.
    pub(super) online: bool,
    /// The position it had applied at that poll (a lower bound of what it has now).
    pub(super) applied: Option<Position>,
    /// Reads this router is running on it.
    pub(super) in_flight: usize,
}

impl ReplicaView {
    /// Online and past `floor`.
    fn covers(&self, floor: &Position) -> bool {
        self.online
            && self
                .applied
                .as_ref()
                .is_some_and(|a| a.covers(floor).unwrap_or(false))
    }
}

/// What a read asks besides the replicas.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask<'a> {
    /// The floor it must see; `None` for a scope nobody fenced.
    pub(super) floor: Option<&'a Position>,
    /// The policy's fallback once waiting is over (or not allowed).
    pub(super) fallback: Fallback,
    /// Whether waiting for a replica is still allowed (budget left).
    pub(super) may_wait: bool,
    /// Whether the request pinned its next read to the leader.
    pub(super) pinned: bool,
    /// Rotation counter, to spread full ties.
    pub(super) rotation: usize,
}

/// Where a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// This replica serves it.
    Replica(usize),
    /// No replica is past the floor yet but some are online and the budget allows: wait for
    /// the trackers and decide again.
    Wait,
    /// The leader serves it, for this reason.
    Leader(FallbackReason),
    /// This replica serves it although it is behind the floor (`Fallback::Stale`).
    Stale(usize),
    /// The read fails with a fence timeout (`Fallback::Error`).
    Fail,
}

/// The decision for `ask` given `replicas`.
pub(super) fn decide(ask: &Ask<'_>, replicas: &[ReplicaView]) -> Decision {
    let Some(floor) = ask.floor else {
        if ask.pinned {
            return Decision::Leader(FallbackReason::Pinned);
        }
        let online = replicas.iter().enumerate().filter(|(_, r)| r.online);
        return choose(online.map(|(i, _)| i), replicas, ask.rotation).map_or(
            Decision::Leader(FallbackReason::NoHealthyReplica),
            Decision::Replica,
        );
    };
    let covering = (0..replicas.len()).filter(|&i| replicas[i].covers(floor));
    if let Some(i) = choose(covering, replicas, ask.rotation) {
        return Decision::Replica(i);
    }
    let any_online = replicas.iter().any(|r| r.online);
    if ask.may_wait && any_online {
        return Decision::Wait;
    }
    match ask.fallback {
        Fallback::Leader => Decision::Leader(if any_online {
            FallbackReason::BudgetExhausted
        } else {
            FallbackReason::NoHealthyReplica
        }),
        Fallback::Error => Decision::Fail,
        _ => freshest(replicas).map_or(
            Decision::Leader(FallbackReason::NoHealthyReplica),
            Decision::Stale,
        ),
    }
}

/// Among `candidates` (all correct for the read): the one running the fewest of this
/// router's reads, then the freshest; full ties go round by `rotation`. This keeps a busy
/// replica from queueing reads while an idle one waits, and otherwise serves from the
/// least-lagged replica, whose data is the newest for readers without a floor of their own.
pub(super) fn choose(
    candidates: impl Iterator<Item = usize>,
    replicas: &[ReplicaView],
    rotation: usize,
) -> Option<usize> {
    let candidates: Vec<usize> = candidates.collect();
    let n = candidates.len();
    let mut best: Option<usize> = None;
    for k in 0..n {
        let i = candidates[(rotation + k) % n];
        let better = best.is_none_or(|b| {
            let (r, o) = (&replicas[i], &replicas[b]);
            r.in_flight < o.in_flight
                || (r.in_flight == o.in_flight
                    && freshness(&r.applied, &o.applied) == Ordering::Greater)
        });
        if better {
            best = Some(i);
        }
    }
    best
}

/// The online replica that has applied the most, if any is online.
pub(super) fn freshest(replicas: &[ReplicaView]) -> Option<usize> {
    replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| r.online)
        .max_by(|(_, a), (_, b)| freshness(&a.applied, &b.applied))
        .map(|(i, _)| i)
}

/// Orders optional positions by freshness where they are comparable.
pub(super) fn freshness(a: &Option<Position>, b: &Option<Position>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => match (a.covers(b), b.covers(a)) {
            (Ok(true), Ok(false)) => Ordering::Greater,
            (Ok(false), Ok(true)) => Ordering::Less,
            _ => Ordering::Equal,
        },
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

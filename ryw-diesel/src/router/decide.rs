//! The routing decision as one pure function: the read's floor, a snapshot of every replica
//! as the trackers last saw it, the leader's load and the policy's answers in; the final word
//! on where the read goes out. No I/O, no clock, no shared state — the read loop
//! (`read.rs`) gathers the inputs, acts on the decision, and when told to wait, waits and
//! asks again.

use std::cmp::Ordering;
use std::time::Duration;

use ryw_core::{Fallback, LeaderBusy, Position, Prefer};

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
    /// How old the oldest commit is that the leader had and this replica had not applied at
    /// that poll: how stale its data is. Zero when it had everything the router knew of.
    pub(super) staleness: Duration,
    /// Bytes of log behind the leader (Postgres), when known.
    pub(super) lag_bytes: Option<u64>,
    /// How long it lately took to apply a commit (`None` until seen once).
    pub(super) replay_lag: Option<Duration>,
}

impl ReplicaView {
    /// Online and past `floor`.
    pub(super) fn covers(&self, floor: &Position) -> bool {
        self.online
            && self
                .applied
                .as_ref()
                .is_some_and(|a| a.covers(floor).unwrap_or(false))
    }

    /// Within the lag bounds for reads that do not need a particular position.
    fn within(&self, bound: &LagBound) -> bool {
        self.staleness <= bound.time && self.lag_bytes.is_none_or(|b| b <= bound.bytes)
    }

    /// The earliest this replica can have applied a floor the leader had `floor_age` ago,
    /// or `None` when it is offline. Replicas apply commits in order, each some lag after
    /// the leader: the floor arrives its current lag after it committed. That lag is at least
    /// the recent replay lag (if nothing changed) and at least the age of the oldest commit
    /// the replica still misses (it has not arrived yet), so the larger of the two, less the
    /// floor's age, is an optimistic estimate: waiting is given up only when even that is
    /// past the budget. A stall shows up the same way — the oldest missing commit keeps
    /// ageing — and so does a lag that grew since the last sample.
    fn eta(&self, floor_age: Duration) -> Option<Duration> {
        if !self.online {
            return None;
        }
        let lag = self.replay_lag.unwrap_or_default().max(self.staleness);
        Some(lag.saturating_sub(floor_age))
    }
}

/// How stale a replica may be and still serve reads that need no particular position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LagBound {
    /// Oldest missing commit, at most.
    pub(super) time: Duration,
    /// Log bytes behind, at most (Postgres).
    pub(super) bytes: u64,
}

/// How long a fenced read on a backend with a server-side wait first waits on the trackers
/// (they poll fast once a reader waits): a replica that has already caught up is then used
/// without a wait statement, and a paused or stuck one is not chosen for the server-side wait.
pub(super) const SERVER_WAIT_GRACE: Duration = Duration::from_millis(30);

/// What a read asks besides the replicas.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask<'a> {
    /// The floor it must see; `None` for a scope nobody fenced.
    pub(super) floor: Option<&'a Position>,
    /// How long ago the leader is known to have had the floor (`None`: newer than anything
    /// the router has seen — just now).
    pub(super) floor_age: Option<Duration>,
    /// The policy's fallback once waiting is over (or not worth it).
    pub(super) fallback: Fallback,
    /// What to do when the leader's fallback slots are taken.
    pub(super) when_busy: LeaderBusy,
    /// Whether the leader's fallback slots are all taken.
    pub(super) leader_busy: bool,
    /// Budget left to wait for a replica.
    pub(super) remaining: Duration,
    /// Lag bounds for choosing among replicas.
    pub(super) bound: LagBound,
    /// Whether the request pinned its next read to the leader.
    pub(super) pinned: bool,
    /// Whether a scope written without a known position could not be fenced (only the
    /// leader is known to have the write).
    pub(super) unresolved: bool,
    /// Whether a server-side wait may be sent (the backend has one, and this read has not
    /// spent its budget on one already).
    pub(super) server_wait: bool,
    /// How long this read has waited on the trackers so far.
    pub(super) waited: Duration,
    /// Whether the read prefers a replica or the faster path.
    pub(super) prefer: Prefer,
    /// How long a latency-first read may wait for a replica expected soon: a few leader
    /// round trips.
    pub(super) hedge: Duration,
    /// Rotation counter, to spread full ties.
    pub(super) rotation: usize,
}

/// Where a read goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// This replica serves it.
    Replica(usize),
    /// No replica is past the floor yet, but one is expected to be within the budget left:
    /// wait — on the trackers, or with a server-side wait on this replica — and decide again.
    Wait(Option<usize>),
    /// The leader serves it, for this reason (in a fallback slot unless `Pinned`).
    Leader(FallbackReason),
    /// This replica serves it although it is behind the floor: the policy's fallback is
    /// `Fallback::Stale`, or (`busy`) the leader's slots are taken under `LeaderBusy::Stale`.
    Stale { replica: usize, busy: bool },
    /// The read fails with a fence timeout on this floor (`Fallback::Error`).
    Fail(Position),
    /// The leader's fallback slots are taken: wait for one (or a replica past the floor),
    /// bounded; the leader then serves it for this reason.
    Queue(FallbackReason),
    /// The leader's fallback slots are taken: fail with a typed, retryable error.
    Shed,
}

/// The decision for `ask` given `replicas`.
pub(super) fn decide(ask: &Ask<'_>, replicas: &[ReplicaView]) -> Decision {
    let routed = route(ask, replicas);
    match routed {
        Decision::Leader(reason) if ask.leader_busy && reason != FallbackReason::Pinned => {
            match ask.when_busy {
                LeaderBusy::Error => Decision::Shed,
                LeaderBusy::Stale => {
                    freshest(replicas).map_or(Decision::Queue(reason), |i| Decision::Stale {
                        replica: i,
                        busy: true,
                    })
                }
                _ => Decision::Queue(reason),
            }
        }
        d => d,
    }
}

/// The decision with the leader taken to have room.
fn route(ask: &Ask<'_>, replicas: &[ReplicaView]) -> Decision {
    if ask.unresolved {
        return Decision::Leader(FallbackReason::Unfenced);
    }
    let Some(floor) = ask.floor else {
        if ask.pinned {
            return Decision::Leader(FallbackReason::Pinned);
        }
        let online = (0..replicas.len()).filter(|&i| replicas[i].online);
        return choose_within(online, replicas, ask).map_or(
            Decision::Leader(FallbackReason::NoHealthyReplica),
            Decision::Replica,
        );
    };
    let covering = (0..replicas.len()).filter(|&i| replicas[i].covers(floor));
    if let Some(i) = choose_within(covering, replicas, ask) {
        return Decision::Replica(i);
    }
    let any_online = replicas.iter().any(|r| r.online);
    if ask.prefer == Prefer::Latency && ask.fallback == Fallback::Leader && !ask.leader_busy {
        return latency_first(ask, replicas);
    }
    if worth_waiting(ask, replicas) {
        let server = ask.server_wait && ask.waited >= SERVER_WAIT_GRACE;
        return Decision::Wait(freshest(replicas).filter(|_| server));
    }
    match ask.fallback {
        Fallback::Leader => Decision::Leader(if any_online {
            FallbackReason::BudgetExhausted
        } else {
            FallbackReason::NoHealthyReplica
        }),
        Fallback::Error => Decision::Fail(floor.clone()),
        _ => freshest(replicas).map_or(Decision::Leader(FallbackReason::NoHealthyReplica), |i| {
            Decision::Stale {
                replica: i,
                busy: false,
            }
        }),
    }
}

/// The faster path while the leader has room: the leader answers in about a round trip, so
/// a read waits only for a replica whose lag is known and puts it past the floor within the
/// hedge left (and the budget); a router with no lag sample yet does not spend its budget
/// finding out.
fn latency_first(ask: &Ask<'_>, replicas: &[ReplicaView]) -> Decision {
    let left = ask.hedge.saturating_sub(ask.waited).min(ask.remaining);
    let age = ask.floor_age.unwrap_or_default();
    let soon =
        |r: &ReplicaView| r.replay_lag.is_some() && r.eta(age).is_some_and(|eta| eta <= left);
    if !left.is_zero() && replicas.iter().any(soon) {
        Decision::Wait(None)
    } else {
        Decision::Leader(FallbackReason::Fastest)
    }
}

/// Whether some online replica can reach the floor within the budget left: only then is
/// waiting better than the fallback now.
fn worth_waiting(ask: &Ask<'_>, replicas: &[ReplicaView]) -> bool {
    if ask.remaining.is_zero() {
        return false;
    }
    let age = ask.floor_age.unwrap_or_default();
    replicas
        .iter()
        .any(|r| r.eta(age).is_some_and(|eta| eta <= ask.remaining))
}

/// [`choose`] among the candidates within the lag bounds, else among all of them: a replica
/// past the bounds serves only when no other can.
fn choose_within(
    candidates: impl Iterator<Item = usize> + Clone,
    replicas: &[ReplicaView],
    ask: &Ask<'_>,
) -> Option<usize> {
    let within = candidates
        .clone()
        .filter(|&i| replicas[i].within(&ask.bound));
    choose(within, replicas, ask.rotation).or_else(|| choose(candidates, replicas, ask.rotation))
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

//! The fault schedule ("nemesis"): seeded, reproducible, bounded in time.
//!
//! A schedule is pure data drawn from a seed: the same seed, duration, replica count and fault
//! set give the same schedule. Two streams run side by side: replica lag re-drawn every
//! [`LAG_PERIOD`] for every replica, and disruptive faults one after another. Every fault kind
//! of the set appears at least once (in a seeded order) before random draws begin, so a run
//! long enough to hold them all exercises each; [`Schedule::covers_all`] says whether it did.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How often replica lag is re-drawn.
pub const LAG_PERIOD: Duration = Duration::from_secs(2);
/// The longest injected lag.
pub const MAX_LAG: Duration = Duration::from_secs(2);

/// The kinds of disruptive fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Replica replay paused, then resumed.
    PauseReplay,
    /// Replica SIGSTOPped (frozen, not dead), then SIGCONTed.
    FreezeReplica,
    /// Replica SIGKILLed, then restarted.
    KillReplica,
    /// Leader shut down fast and started again.
    RestartLeaderFast,
    /// Leader crashed (immediate shutdown / SIGKILL) and started again.
    RestartLeaderImmediate,
    /// Every client connection on the leader terminated, a few times in a row.
    KillLeaderConnections,
    /// The next writes lose their committing connection right after COMMIT, before the
    /// position capture.
    CaptureFailure,
    /// The scope store's Redis killed (losing every floor), then restarted.
    RestartRedis,
    /// A replica promoted to leader and the others repointed (planned failover).
    Switchover,
    /// The leader killed and a lagging replica promoted with what it had: writes the
    /// leader acknowledged that the replica never received are lost.
    LossyFailover,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [Self; 10] = [
        Self::PauseReplay,
        Self::FreezeReplica,
        Self::KillReplica,
        Self::RestartLeaderFast,
        Self::RestartLeaderImmediate,
        Self::KillLeaderConnections,
        Self::CaptureFailure,
        Self::RestartRedis,
        Self::Switchover,
        Self::LossyFailover,
    ];

    /// Whether it changes the leader (at most one per run, scheduled last).
    #[must_use]
    pub fn changes_leader(self) -> bool {
        matches!(self, Self::Switchover | Self::LossyFailover)
    }

    /// Every kind that keeps the leader, and `leader_change` if any (a testkit topology
    /// changes its leader once).
    #[must_use]
    pub fn with_leader_change(leader_change: Option<Self>) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|k| !k.changes_leader() || Some(*k) == leader_change)
            .collect()
    }

    /// A stable name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::PauseReplay => "pause_replay",
            Self::FreezeReplica => "freeze_replica",
            Self::KillReplica => "kill_replica",
            Self::RestartLeaderFast => "restart_leader_fast",
            Self::RestartLeaderImmediate => "restart_leader_immediate",
            Self::KillLeaderConnections => "kill_leader_connections",
            Self::CaptureFailure => "capture_failure",
            Self::RestartRedis => "restart_redis",
            Self::Switchover => "switchover",
            Self::LossyFailover => "lossy_failover",
        }
    }
}

/// One disruptive fault: what, on which replica (where it applies), held how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// What.
    pub kind: FaultKind,
    /// The replica it targets (mapped onto the replicas still replicating when applied).
    pub replica: usize,
    /// How long the fault holds before it is undone (pause, freeze, kill, Redis down).
    pub hold: Duration,
}

/// A seeded schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The seed it was drawn from.
    pub seed: u64,
    /// `(at, replica, lag)`: set `replica`'s lag at `at` after the start.
    pub lags: Vec<(Duration, usize, Duration)>,
    /// `(at, fault)`: apply `fault` at `at` after the start (never overlapping).
    pub faults: Vec<(Duration, Fault)>,
    /// The kinds it was drawn from.
    pub kinds: Vec<FaultKind>,
}

impl Schedule {
    /// Draws a schedule for a run of `duration` over `replicas` replicas from `kinds`.
    #[must_use]
    pub fn generate(seed: u64, duration: Duration, replicas: usize, kinds: &[FaultKind]) -> Self {
        Self::generate_holding(seed, duration, replicas, kinds, |_| None)
    }

    /// As [`generate`](Self::generate), with the hold of some kinds fixed by `hold` (say, a
    /// replica frozen for 10 s) instead of drawn.
    #[must_use]
    pub fn generate_holding(
        seed: u64,
        duration: Duration,
        replicas: usize,
        kinds: &[FaultKind],
        hold: impl Fn(FaultKind) -> Option<Duration>,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut lags = Vec::new();
        let mut at = Duration::ZERO;
        while at < duration {
            for r in 0..replicas {
                lags.push((at, r, draw_lag(&mut rng)));
            }
            at += LAG_PERIOD;
        }
        // Each kind once, in a seeded order (a leader change last: it leaves fewer replicas
        // for the others), then random draws until the run is over.
        let mut first: Vec<FaultKind> = kinds
            .iter()
            .copied()
            .filter(|k| !k.changes_leader())
            .collect();
        first.shuffle(&mut rng);
        first.extend(kinds.iter().copied().filter(|k| k.changes_leader()));
        let repeatable: Vec<FaultKind> = first
            .iter()
            .copied()
            .filter(|k| !k.changes_leader())
            .collect();
        let mut faults = Vec::new();
        let mut at = Duration::from_millis(rng.random_range(300..800));
        let mut i = 0;
        while at < duration.saturating_sub(Duration::from_millis(500)) {
            let kind = match first.get(i) {
                Some(k) => *k,
                None if repeatable.is_empty() => break,
                None => repeatable[rng.random_range(0..repeatable.len())],
            };
            i += 1;
            let drawn = Duration::from_millis(rng.random_range(300..1500));
            let hold = hold(kind).unwrap_or(drawn);
            let replica = rng.random_range(0..replicas.max(1));
            faults.push((
                at,
                Fault {
                    kind,
                    replica,
                    hold,
                },
            ));
            at += hold + Duration::from_millis(rng.random_range(200..800));
        }
        Self {
            seed,
            lags,
            faults,
            kinds: kinds.to_vec(),
        }
    }

    /// Whether every kind the schedule was drawn from is scheduled at least once.
    #[must_use]
    pub fn covers_all(&self) -> bool {
        self.kinds
            .iter()
            .all(|k| self.faults.iter().any(|(_, f)| f.kind == *k))
    }
}

/// Lag, skewed towards the usual: mostly under 500 ms, sometimes up to [`MAX_LAG`], sometimes 0.
fn draw_lag(rng: &mut StdRng) -> Duration {
    let ms = match rng.random_range(0..10) {
        0 => 0,
        1..=6 => rng.random_range(0..500),
        _ => rng.random_range(500..=2000),
    };
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule_and_every_kind_in_thirty_seconds() {
        let kinds = FaultKind::with_leader_change(Some(FaultKind::LossyFailover));
        for seed in 0..200 {
            let a = Schedule::generate(seed, Duration::from_secs(30), 2, &kinds);
            let b = Schedule::generate(seed, Duration::from_secs(30), 2, &kinds);
            assert_eq!(a, b);
            assert!(a.covers_all(), "seed {seed}: {:?}", a.faults);
            assert!(a.lags.iter().all(|(_, r, l)| *r < 2 && *l <= MAX_LAG));
            for w in a.faults.windows(2) {
                assert!(w[0].0 + w[0].1.hold < w[1].0, "faults overlap");
            }
            let changes = a
                .faults
                .iter()
                .filter(|(_, f)| f.kind.changes_leader())
                .count();
            assert_eq!(changes, 1);
            // It ends the first pass: every other kind came once before it.
            let at = a.faults.iter().position(|(_, f)| f.kind.changes_leader());
            let before: std::collections::HashSet<_> = a.faults[..at.unwrap_or(0)]
                .iter()
                .map(|(_, f)| f.kind)
                .collect();
            assert_eq!(before.len(), kinds.len() - 1, "seed {seed}");
        }
        let other = Schedule::generate(1, Duration::from_secs(30), 2, &kinds);
        assert_ne!(
            Schedule::generate(0, Duration::from_secs(30), 2, &kinds),
            other
        );
    }

    #[test]
    fn without_a_leader_change_none_is_drawn() {
        let kinds = FaultKind::with_leader_change(None);
        let s = Schedule::generate(7, Duration::from_secs(60), 2, &kinds);
        assert!(s.covers_all());
        assert!(s.faults.iter().all(|(_, f)| !f.kind.changes_leader()));
    }
}

//! The checker: session guarantees over a recorded history.
//!
//! Names follow Terry, Demers, Petersen, Spreitzer, Theimer and Welch, "Session Guarantees for
//! Weakly Consistent Replicated Data" (PDIS 1994), and Jepsen's Elle:
//!
//! * **read-your-writes** (RYW): a read of scope `s` invoked at `t` returns a version lower than
//!   the highest version of `s` the same session had *completed* writing before `t`. In Elle's
//!   terms a cycle `write —process→ read —rw→ write`: `G-single-process`.
//! * **monotonic reads** (MR): lower than the highest version of `s` the session had completed
//!   reading before `t`. Elle: `G-single-process` through a `wr` edge.
//! * Writes-follow-reads and monotonic writes hold trivially with one leader serialising every
//!   write, and each scope has a single writing session here; they are not checked.
//!
//! A write whose outcome is unknown raises no requirement; a read may or may not see it. The
//! checker is linear in the history (per session a heap of not-yet-completed operations and the
//! running maxima per scope).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::history::{History, Mode, Op, OpKind, Outcome, Served};

/// A session-guarantee violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anomaly {
    /// A read missed the session's own acknowledged write.
    ReadYourWrites,
    /// A read went back behind an earlier read of the session.
    MonotonicReads,
}

impl Anomaly {
    /// The name in the literature.
    #[must_use]
    pub fn literature(self) -> &'static str {
        match self {
            Self::ReadYourWrites => "read-your-writes (Terry et al.; Elle G-single-process)",
            Self::MonotonicReads => "monotonic reads (Terry et al.; Elle G-single-process, wr)",
        }
    }
}

/// One violating read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Which guarantee.
    pub anomaly: Anomaly,
    /// The violating read's id.
    pub op: u64,
    /// Ryw or plain.
    pub mode: Mode,
    /// Its session.
    pub session: u32,
    /// Its scope.
    pub scope: i64,
    /// The version it returned.
    pub read: i64,
    /// The version it had to see at least.
    pub required: i64,
    /// The operation that established the requirement.
    pub because_of: u64,
    /// The requirement was established on another device (the token moved).
    pub across_device: bool,
    /// The requirement was established through another app instance.
    pub across_instance: bool,
    /// Where the read was served.
    pub served: Served,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    fn of(mut ns: Vec<u64>) -> Self {
        if ns.is_empty() {
            return Self::default();
        }
        ns.sort_unstable();
        let at = |q: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((ns.len() - 1) as f64 * q).round() as usize;
            ms(ns[i.min(ns.len() - 1)])
        };
        Self {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// What the checker found for one mode (ryw or plain) or one session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Operations of every kind.
    pub ops: u64,
    /// Acknowledged writes.
    pub writes_ok: u64,
    /// Writes whose outcome is unknown.
    pub writes_unknown: u64,
    /// Acknowledged writes a lossy failover really lost (absent from the new leader).
    #[serde(default)]
    pub writes_lost: u64,
    /// Reads that returned a version.
    pub reads_ok: u64,
    /// Successful reads served by the leader.
    pub reads_leader: u64,
    /// Successful reads served by a replica.
    pub reads_replica: u64,
    /// Successful reads whose node is not known (the macro returns only the value).
    pub reads_unreported: u64,
    /// Device and instance moves.
    pub moves: u64,
    /// Successful reads whose RYW requirement was set on another device.
    pub reads_checked_across_device: u64,
    /// Successful reads whose RYW requirement was set through another instance.
    pub reads_checked_across_instance: u64,
    /// Read-your-writes violations.
    pub ryw_violations: u64,
    /// … of which across a device move.
    pub ryw_across_device: u64,
    /// … of which across an instance move.
    pub ryw_across_instance: u64,
    /// Monotonic-read violations.
    pub mr_violations: u64,
    /// Failed or unknown operations, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Latency of successful reads.
    pub read_latency: Latency,
    /// Latency of acknowledged writes.
    pub write_latency: Latency,
}

/// The checker's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Totals per mode.
    pub modes: BTreeMap<String, Summary>,
    /// Per session (`mode/session`), only sessions with operations.
    pub sessions: BTreeMap<String, Summary>,
    /// Every violation, in history order.
    pub violations: Vec<Violation>,
}

impl Report {
    /// The totals of `mode` (empty when the history has none).
    #[must_use]
    pub fn mode(&self, mode: Mode) -> Summary {
        self.modes.get(mode.label()).cloned().unwrap_or_default()
    }
}

/// The highest requirement so far: version, the op that set it, its device and instance.
#[derive(Clone, Copy)]
struct Req {
    version: i64,
    op: u64,
    device: u32,
    instance: u32,
}

#[derive(Default)]
struct SessionState<'h> {
    /// Versions whose write a failover lost: a read that returned one (before the failover)
    /// sets no monotonic-read requirement, as nothing can show it again.
    lost: Option<&'h HashSet<(i64, i64)>>,
    /// Operations invoked but not yet known complete, ordered by completion time.
    pending: BinaryHeap<Reverse<(u64, usize)>>,
    ops: Vec<&'h Op>,
    wrote: HashMap<i64, Req>,
    read: HashMap<i64, Req>,
}

impl SessionState<'_> {
    /// Folds every pending operation that completed at or before `t` into the maxima.
    fn settle(&mut self, t: u64) {
        while let Some(Reverse((done, i))) = self.pending.peek().copied() {
            if done > t {
                break;
            }
            self.pending.pop();
            let op = self.ops[i];
            let Some(v) = op.version else { continue };
            let req = Req {
                version: v,
                op: op.id,
                device: op.device,
                instance: op.instance,
            };
            let lost = self.lost.is_some_and(|l| l.contains(&(op.scope, v)));
            let map = match (op.kind, &op.outcome) {
                (OpKind::Write, Outcome::Ok) => &mut self.wrote,
                (OpKind::Read, Outcome::Ok) if !lost => &mut self.read,
                _ => continue,
            };
            let e = map.entry(op.scope).or_insert(req);
            if v > e.version {
                *e = req;
            }
        }
    }
}

/// Checks a history.
#[must_use]
pub fn check(history: &History) -> Report {
    let mut by_session: BTreeMap<(Mode, u32), Vec<&Op>> = BTreeMap::new();
    for op in history.ops() {
        by_session
            .entry((op.mode, op.session))
            .or_default()
            .push(op);
    }
    let lost: HashSet<(i64, i64)> = history
        .ops()
        .filter(|o| o.kind == OpKind::Write && o.outcome == Outcome::Lost)
        .filter_map(|o| Some((o.scope, o.version?)))
        .collect();
    let mut report = Report::default();
    let mut latencies: HashMap<Mode, (Vec<u64>, Vec<u64>)> = HashMap::new();
    for ((mode, session), mut ops) in by_session {
        ops.sort_by_key(|o| (o.invoke_ns, o.id));
        let mut st = SessionState {
            lost: Some(&lost),
            ops: ops.clone(),
            ..SessionState::default()
        };
        let mut sum = Summary::default();
        let (mut rl, mut wl) = (Vec::new(), Vec::new());
        for (i, op) in ops.iter().enumerate() {
            st.settle(op.invoke_ns);
            tally(&mut sum, op, &mut rl, &mut wl);
            if let (OpKind::Read, Outcome::Ok, Some(v)) = (op.kind, &op.outcome, op.version) {
                judge(&st, op, v, &mut sum, &mut report.violations);
            }
            st.pending.push(Reverse((op.complete_ns, i)));
        }
        let lat = latencies.entry(mode).or_default();
        lat.0.extend_from_slice(&rl);
        lat.1.extend_from_slice(&wl);
        sum.read_latency = Latency::of(rl);
        sum.write_latency = Latency::of(wl);
        add(
            report.modes.entry(mode.label().to_owned()).or_default(),
            &sum,
        );
        report
            .sessions
            .insert(format!("{}/{session}", mode.label()), sum);
    }
    for (mode, (rl, wl)) in latencies {
        if let Some(m) = report.modes.get_mut(mode.label()) {
            m.read_latency = Latency::of(rl);
            m.write_latency = Latency::of(wl);
        }
    }
    report.violations.sort_by_key(|v| v.op);
    report
}

fn tally(sum: &mut Summary, op: &Op, rl: &mut Vec<u64>, wl: &mut Vec<u64>) {
    sum.ops += 1;
    let took = op.complete_ns.saturating_sub(op.invoke_ns);
    match (op.kind, &op.outcome) {
        (OpKind::Move, _) => sum.moves += 1,
        (OpKind::Write, Outcome::Ok) => {
            sum.writes_ok += 1;
            wl.push(took);
        }
        (OpKind::Write, Outcome::Unknown { .. }) => sum.writes_unknown += 1,
        (OpKind::Write, Outcome::Lost) => sum.writes_lost += 1,
        (OpKind::Read, Outcome::Ok) => {
            sum.reads_ok += 1;
            rl.push(took);
            match op.served {
                Served::Leader => sum.reads_leader += 1,
                Served::Replica(_) => sum.reads_replica += 1,
                Served::Unknown => sum.reads_unreported += 1,
            }
        }
        _ => {}
    }
    if let Some(kind) = op.outcome.error_kind() {
        *sum.errors.entry(kind.to_owned()).or_default() += 1;
    }
}

fn judge(st: &SessionState<'_>, op: &Op, v: i64, sum: &mut Summary, out: &mut Vec<Violation>) {
    if let Some(w) = st.wrote.get(&op.scope) {
        let across_device = w.device != op.device;
        let across_instance = w.instance != op.instance;
        sum.reads_checked_across_device += u64::from(across_device);
        sum.reads_checked_across_instance += u64::from(across_instance);
        if v < w.version {
            sum.ryw_violations += 1;
            sum.ryw_across_device += u64::from(across_device);
            sum.ryw_across_instance += u64::from(across_instance);
            out.push(violation(Anomaly::ReadYourWrites, op, v, *w));
        }
    }
    if let Some(r) = st.read.get(&op.scope)
        && v < r.version
    {
        sum.mr_violations += 1;
        out.push(violation(Anomaly::MonotonicReads, op, v, *r));
    }
}

fn violation(anomaly: Anomaly, op: &Op, read: i64, req: Req) -> Violation {
    Violation {
        anomaly,
        op: op.id,
        mode: op.mode,
        session: op.session,
        scope: op.scope,
        read,
        required: req.version,
        because_of: req.op,
        across_device: req.device != op.device,
        across_instance: req.instance != op.instance,
        served: op.served.clone(),
    }
}

fn add(total: &mut Summary, s: &Summary) {
    total.ops += s.ops;
    total.writes_ok += s.writes_ok;
    total.writes_unknown += s.writes_unknown;
    total.writes_lost += s.writes_lost;
    total.reads_ok += s.reads_ok;
    total.reads_leader += s.reads_leader;
    total.reads_replica += s.reads_replica;
    total.reads_unreported += s.reads_unreported;
    total.moves += s.moves;
    total.reads_checked_across_device += s.reads_checked_across_device;
    total.reads_checked_across_instance += s.reads_checked_across_instance;
    total.ryw_violations += s.ryw_violations;
    total.ryw_across_device += s.ryw_across_device;
    total.ryw_across_instance += s.ryw_across_instance;
    total.mr_violations += s.mr_violations;
    for (k, n) in &s.errors {
        *total.errors.entry(k.clone()).or_default() += n;
    }
}

//! The checker on hand-made histories: it names the violating operations, ignores writes of
//! unknown outcome, respects invoke/complete order, and survives a JSON-lines round trip.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use ryw_proof::checker::{Anomaly, check};
use ryw_proof::history::{Event, FaultRecord, History, Mode, Op, OpKind, Outcome, Served};
use ryw_proof::report;

struct B {
    ops: Vec<Event>,
    t: u64,
}

impl B {
    fn new() -> Self {
        Self {
            ops: Vec::new(),
            t: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn op(&mut self, session: u32, kind: OpKind, v: Option<i64>, outcome: Outcome) -> u64 {
        self.op_at(session, 0, 0, kind, v, outcome, Mode::Ryw)
    }

    #[allow(clippy::too_many_arguments)]
    fn op_at(
        &mut self,
        session: u32,
        device: u32,
        instance: u32,
        kind: OpKind,
        version: Option<i64>,
        outcome: Outcome,
        mode: Mode,
    ) -> u64 {
        let id = self.ops.len() as u64;
        self.t += 10;
        self.ops.push(Event::Op(Op {
            id,
            session,
            device,
            instance,
            scope: i64::from(session),
            kind,
            version,
            invoke_ns: self.t,
            complete_ns: self.t + 5,
            served: Served::Replica("r0".into()),
            outcome,
            mode,
            position: None,
        }));
        id
    }

    fn history(&self) -> History {
        History {
            events: self.ops.clone(),
        }
    }
}

fn unknown() -> Outcome {
    Outcome::Unknown {
        kind: "query:COMMIT".into(),
    }
}

#[test]
fn a_read_older_than_an_acknowledged_write_is_named() {
    let mut b = B::new();
    b.op(1, OpKind::Write, Some(1), Outcome::Ok);
    let w = b.op(1, OpKind::Write, Some(2), Outcome::Ok);
    b.op(1, OpKind::Read, Some(2), Outcome::Ok);
    let stale = b.op(1, OpKind::Read, Some(1), Outcome::Ok);
    // Another session's reads never count against session 1.
    b.op(2, OpKind::Read, Some(0), Outcome::Ok);
    let rep = check(&b.history());
    let s = rep.mode(Mode::Ryw);
    assert_eq!(s.ryw_violations, 1);
    assert_eq!(s.mr_violations, 1);
    let ryw = rep
        .violations
        .iter()
        .find(|v| v.anomaly == Anomaly::ReadYourWrites)
        .unwrap();
    assert_eq!(
        (ryw.op, ryw.because_of, ryw.read, ryw.required),
        (stale, w, 1, 2)
    );
    assert_eq!(rep.sessions["ryw/1"].ryw_violations, 1);
    assert_eq!(rep.sessions["ryw/2"].ryw_violations, 0);
    let text = report::violations(&rep, None, 10);
    assert!(text.contains(&format!("op {stale} (ryw):")), "{text}");
    assert!(text.contains("G-single-process"), "{text}");
}

#[test]
fn unknown_and_failed_writes_raise_no_requirement() {
    let mut b = B::new();
    b.op(1, OpKind::Write, Some(1), Outcome::Ok);
    b.op(1, OpKind::Write, Some(2), unknown());
    b.op(1, OpKind::Read, Some(1), Outcome::Ok);
    b.op(1, OpKind::Read, Some(2), Outcome::Ok);
    b.op(
        1,
        OpKind::Write,
        Some(3),
        Outcome::Failed {
            kind: "pool_leader".into(),
        },
    );
    b.op(1, OpKind::Read, Some(2), Outcome::Ok);
    let rep = check(&b.history());
    let s = rep.mode(Mode::Ryw);
    assert_eq!(
        (s.ryw_violations, s.mr_violations),
        (0, 0),
        "{:?}",
        rep.violations
    );
    assert_eq!(s.writes_unknown, 1);
    assert_eq!(s.errors["query:COMMIT"], 1);
    assert_eq!(s.errors["pool_leader"], 1);
}

#[test]
fn only_operations_completed_before_the_read_was_invoked_count() {
    let mut b = B::new();
    b.op(1, OpKind::Write, Some(1), Outcome::Ok);
    // A write still in flight when the read was invoked (they overlap) is not required.
    let w = b.op(1, OpKind::Write, Some(2), Outcome::Ok);
    let r = b.op(1, OpKind::Read, Some(1), Outcome::Ok);
    let mut h = b.history();
    for e in &mut h.events {
        if let Event::Op(op) = e {
            if op.id == w {
                op.complete_ns = 1_000;
            }
            if op.id == r {
                op.complete_ns = 2_000;
            }
        }
    }
    let rep = check(&h);
    assert_eq!(rep.mode(Mode::Ryw).ryw_violations, 0);
}

#[test]
fn moves_are_tracked_and_modes_are_separate() {
    let mut b = B::new();
    b.op_at(1, 0, 0, OpKind::Write, Some(1), Outcome::Ok, Mode::Ryw);
    b.op_at(1, 1, 0, OpKind::Move, None, Outcome::Ok, Mode::Ryw);
    b.op_at(1, 1, 0, OpKind::Read, Some(0), Outcome::Ok, Mode::Ryw);
    b.op_at(1, 1, 1, OpKind::Read, Some(1), Outcome::Ok, Mode::Ryw);
    b.op_at(9, 0, 0, OpKind::Write, Some(1), Outcome::Ok, Mode::Plain);
    b.op_at(9, 0, 0, OpKind::Read, Some(0), Outcome::Ok, Mode::Plain);
    let rep = check(&b.history());
    let ryw = rep.mode(Mode::Ryw);
    assert_eq!(ryw.ryw_violations, 1);
    assert_eq!(ryw.ryw_across_device, 1);
    assert_eq!(ryw.reads_checked_across_device, 2);
    assert_eq!(ryw.reads_checked_across_instance, 1);
    assert_eq!(ryw.moves, 1);
    assert_eq!(rep.mode(Mode::Plain).ryw_violations, 1);
    let v = &rep.violations[0];
    assert!(v.across_device && !v.across_instance);
}

#[test]
fn a_failing_history_replays_from_its_file() {
    let mut b = B::new();
    b.op(3, OpKind::Write, Some(1), Outcome::Ok);
    let stale = b.op(3, OpKind::Read, Some(0), Outcome::Ok);
    let mut h = b.history();
    h.events.insert(
        0,
        Event::Run {
            backend: "postgres".into(),
            seed: 7,
            settings: String::new(),
        },
    );
    h.events.push(Event::Fault(FaultRecord {
        start_ns: 1,
        end_ns: 2,
        fault: "freeze_replica".into(),
        detail: "r0".into(),
        error: None,
    }));
    let path = std::env::temp_dir().join(format!("ryw-proof-replay-{}.jsonl", std::process::id()));
    h.save(&path).unwrap();
    let back = History::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, h);
    let rep = check(&back);
    assert_eq!(rep.violations.len(), 1);
    assert_eq!(rep.violations[0].op, stale);
    assert!(report::faults(&back).contains("freeze_replica"));
}

#[test]
fn a_malformed_line_is_an_error_naming_it() {
    let text = "{\"type\":\"run\",\"backend\":\"x\",\"seed\":1,\"settings\":\"\"}\n\nnot json\n";
    let err = History::read_jsonl(text.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[test]
fn a_write_invoked_during_a_lossy_failover_and_acknowledged_after_it_can_be_lost() {
    // Session 1 writes v1 before the failover, v2 during it (its capture retried past the
    // failover's end), v3 after it; the new leader's log has v1 and v3 only. A write missing
    // from the log but invoked after the failover is not excused.
    let mut b = B::new();
    let before = b.op(1, OpKind::Write, Some(1), Outcome::Ok);
    let during = b.op(1, OpKind::Write, Some(2), Outcome::Ok);
    let failover_end = b.t + 2;
    if let Event::Op(op) = &mut b.ops[usize::try_from(during).unwrap()] {
        op.complete_ns = failover_end + 100;
    }
    let after = b.op(1, OpKind::Write, Some(3), Outcome::Ok);
    let missing_later = b.op(2, OpKind::Write, Some(1), Outcome::Ok);
    let mut h = b.history();
    let present: std::collections::HashSet<(i64, i64)> = [(1, 1), (1, 3)].into_iter().collect();
    assert_eq!(h.mark_lost(failover_end, &present), (1, 0));
    let outcome = |id: u64| h.ops().find(|o| o.id == id).map(|o| o.outcome.clone());
    assert_eq!(outcome(during), Some(Outcome::Lost));
    for id in [before, after, missing_later] {
        assert_eq!(outcome(id), Some(Outcome::Ok), "op {id}");
    }
}

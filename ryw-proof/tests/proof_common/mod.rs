//! The CI proof run, shared by the per-backend test binaries.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use ryw_proof::backends::ProofBackend;
use ryw_proof::checker::check;
use ryw_proof::faults::FaultTarget;
use ryw_proof::history::Mode;
use ryw_proof::nemesis::{FaultKind, Schedule};
use ryw_proof::report;
use ryw_proof::run::{RunSettings, run};
use ryw_proof::workload::WorkloadConfig;
use ryw_testkit::RedisServer;

/// App instances from the start (one more joins after the leader change).
const INSTANCES: usize = 4;

/// The schedule's seed: `RYW_PROOF_SEED`, else a fixed one (printed either way).
fn seed() -> u64 {
    std::env::var("RYW_PROOF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_122)
}

/// 16 ryw sessions and 8 plain ones for 30 s under every fault the backend supports: ryw
/// must show no read-your-writes violation, plain replica reads must show some.
pub(crate) async fn proof_run<T: FaultTarget, B: ProofBackend>(name: &str, topo: &T, backend: B) {
    let redis = RedisServer::start().await.expect("start redis");
    let duration = Duration::from_secs(30);
    let seed = seed();
    // `RYW_PROOF_LEADER_CHANGE=lossy_failover|switchover|none` overrides the backend's.
    let leader_change = match std::env::var("RYW_PROOF_LEADER_CHANGE").as_deref() {
        Ok("none") => None,
        Ok(name) => Some(
            *FaultKind::ALL
                .iter()
                .find(|k| k.name() == name)
                .expect("RYW_PROOF_LEADER_CHANGE names a fault kind"),
        ),
        Err(_) => T::LEADER_CHANGE,
    };
    let kinds = FaultKind::with_leader_change(leader_change);
    let schedule = Schedule::generate(seed, duration, topo.replica_count(), &kinds);
    assert!(schedule.covers_all(), "{:?}", schedule.faults);
    let workload = WorkloadConfig {
        ryw_sessions: 16,
        plain_sessions: 8,
        monotonic_sessions: 8,
        cross_read_ratio: 0.3,
        tokenless_read_ratio: 0.2,
        duration,
        seed,
        ..WorkloadConfig::default()
    };
    println!("proof run on {name}: seed {seed} (set RYW_PROOF_SEED to replay a schedule)");
    // Four app instances sharing the Redis store, so its position feed (on by default with
    // a shared store) is what most of them route by.
    let mut settings = RunSettings::new(name, workload, schedule);
    settings.instances = INSTANCES;
    let out = run(topo, &redis, backend, settings)
        .await
        .expect("proof run");
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, Into::into);
    let path = dir.join(format!("ryw-proof-{name}.jsonl"));
    out.history.save(&path).expect("save history");
    let rep = check(&out.history);
    println!(
        "{}",
        report::table(&format!("{name} (history {})", path.display()), &rep)
    );
    println!("{}", report::faults(&out.history));
    println!("router stats: {:?}", out.routers);

    // Every scheduled fault kind was applied, and no control failed.
    for kind in &kinds {
        assert!(
            out.history.faults().any(|f| f.fault == kind.name()),
            "fault {} never applied",
            kind.name()
        );
    }
    let failed: Vec<_> = out.history.faults().filter(|f| f.error.is_some()).collect();
    assert!(failed.is_empty(), "fault controls failed: {failed:?}");
    // The capture fault was reached, and every sabotaged capture was recovered.
    assert!(out.captures_sabotaged > 0, "no capture was sabotaged");
    let recaptured: u64 = out.routers.iter().map(|s| s.recaptured_writes).sum();
    assert!(recaptured >= out.captures_sabotaged, "{:?}", out.routers);

    if leader_change.is_some() {
        // An app instance started after the failover served sessions carrying older tokens.
        let late = out
            .history
            .ops()
            .filter(|o| o.instance == u32::try_from(INSTANCES).unwrap() && o.mode == Mode::Ryw);
        assert!(
            late.count() > 0,
            "no session reached the instance started after the failover"
        );
    }
    // The lossy failover lost writes (found missing on the new leader, excluded from the
    // check, counted); the sessions that lost one went on, and never read a write of theirs
    // that survived as missing.
    println!(
        "writes lost in the failover: {} (ryw), {} (plain)",
        out.lost_writes.0, out.lost_writes.1
    );
    let ryw = rep.mode(Mode::Ryw);
    let plain = rep.mode(Mode::Plain);
    let mono = rep.mode(Mode::RywMonotonic);
    // Monotonic reads, under the same faults: sessions that opted in never read an older
    // state of any scope (their own or another session's); plain sessions do. (ryw sessions
    // without the opt-in are reported, not asserted: choosing the freshest of the idle
    // replicas is monotonic most of the time, but not by guarantee — tests/monotonic_reads.rs
    // makes it go back 8 times of 8 by keeping the fresh replica busy.)
    assert_eq!(
        (mono.ryw_violations, mono.mr_violations),
        (0, 0),
        "monotonic sessions:\n{}",
        report::violations(&rep, Some(Mode::RywMonotonic), 30)
    );
    assert!(
        mono.reads_ok >= 500,
        "too little monotonic traffic: {mono:?}"
    );
    assert!(
        plain.mr_violations > 0,
        "plain reads never went back in time: the monotonic check proves nothing"
    );
    assert!(
        plain.ryw_violations > 0,
        "plain replica reads showed no violation: the run proves nothing"
    );
    assert!(
        ryw.reads_ok >= 1_000 && ryw.writes_ok >= 300,
        "too little ryw traffic: {ryw:?}"
    );
    assert!(ryw.reads_replica > 0, "ryw never read a replica");
    assert!(ryw.moves > 0 && ryw.reads_checked_across_instance > 0);
    // Reads from a device without the token (the store alone carries the floor), through
    // Redis losing its data.
    assert!(
        ryw.reads_checked_across_device > 0,
        "no read from another device was checked: {ryw:?}"
    );
    assert_eq!(
        ryw.ryw_violations,
        0,
        "ryw read-your-writes violations:\n{}",
        report::violations(&rep, Some(Mode::Ryw), 30)
    );
}

/// The proof test of one backend: `proof_test!(label, start(replicas), backend)` expands to
/// the `no_read_your_writes_violation_under_every_fault` test of that test binary.
macro_rules! proof_test {
    ($label:literal, $start:expr, $backend:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn no_read_your_writes_violation_under_every_fault() {
            let topo = $start.await.expect(concat!("start ", $label));
            proof_common::proof_run($label, &topo, $backend).await;
        }
    };
}

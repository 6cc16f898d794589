//! Plain-text tables of a [`Report`] (for the soak binary, test logs and the README).

use std::fmt::Write as _;

use crate::checker::{Anomaly, Report, Summary};
use crate::history::{History, Mode};

/// A table row: its label and how to render a summary's cell.
type Row = (&'static str, fn(&Summary) -> String);

/// A table comparing the modes of one run, side by side.
#[must_use]
pub fn table(title: &str, report: &Report) -> String {
    let modes: Vec<(&String, &Summary)> = report.modes.iter().collect();
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    let _ = write!(out, "{:<36}", "");
    for (name, _) in &modes {
        let _ = write!(out, "{name:>22}");
    }
    out.push('\n');
    let rows: [Row; 15] = [
        ("operations", |s| s.ops.to_string()),
        ("writes acknowledged / unknown / lost", |s| {
            format!("{} / {} / {}", s.writes_ok, s.writes_unknown, s.writes_lost)
        }),
        ("reads", |s| s.reads_ok.to_string()),
        ("  served by replicas", |s| s.reads_replica.to_string()),
        ("  served by the leader", |s| s.reads_leader.to_string()),
        ("  through the macro (node unreported)", |s| {
            s.reads_unreported.to_string()
        }),
        ("read-your-writes violations", |s| {
            s.ryw_violations.to_string()
        }),
        ("  across a device (move, no token)", |s| {
            format!(
                "{} of {}",
                s.ryw_across_device, s.reads_checked_across_device
            )
        }),
        ("  across an instance move", |s| {
            format!(
                "{} of {}",
                s.ryw_across_instance, s.reads_checked_across_instance
            )
        }),
        ("monotonic-read violations", |s| s.mr_violations.to_string()),
        ("moves (device / instance)", |s| s.moves.to_string()),
        ("errors", |s| s.errors.values().sum::<u64>().to_string()),
        ("read p50 / p99 ms", |s| {
            format!(
                "{:.1} / {:.1}",
                s.read_latency.p50_ms, s.read_latency.p99_ms
            )
        }),
        ("read max ms", |s| format!("{:.0}", s.read_latency.max_ms)),
        ("write p50 / p99 ms", |s| {
            format!(
                "{:.1} / {:.1}",
                s.write_latency.p50_ms, s.write_latency.p99_ms
            )
        }),
    ];
    for (label, f) in rows {
        let _ = write!(out, "{label:<36}");
        for (_, s) in &modes {
            let _ = write!(out, "{:>22}", f(s));
        }
        out.push('\n');
    }
    for (name, s) in &modes {
        if !s.errors.is_empty() {
            let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(out, "errors of {name}: {}", kinds.join(", "));
        }
    }
    out
}

/// The fault events of a history, one line each.
#[must_use]
pub fn faults(history: &History) -> String {
    let mut out = String::new();
    for f in history.faults() {
        #[allow(clippy::cast_precision_loss)]
        let at = f.start_ns as f64 / 1e9;
        let took = f.end_ns.saturating_sub(f.start_ns) / 1_000_000;
        let status = f.error.as_deref().unwrap_or("ok");
        let _ = writeln!(
            out,
            "{at:>8.3}s {:<26} {:<24} {took:>5} ms  {status}",
            f.fault, f.detail
        );
    }
    out
}

/// The violating operations (of `mode`, or all), at most `limit`, with the operation that set
/// the requirement.
#[must_use]
pub fn violations(report: &Report, mode: Option<Mode>, limit: usize) -> String {
    let mut out = String::new();
    let all: Vec<_> = report
        .violations
        .iter()
        .filter(|v| mode.is_none_or(|m| v.mode == m))
        .collect();
    for v in all.iter().take(limit) {
        let what = match v.anomaly {
            Anomaly::ReadYourWrites => "wrote",
            Anomaly::MonotonicReads => "had read",
        };
        let _ = writeln!(
            out,
            "op {} ({}): session {} read user_id {} = {} from {:?}, but {what} {} in op {} [{}]{}{}",
            v.op,
            v.mode.label(),
            v.session,
            v.scope,
            v.read,
            v.served,
            v.required,
            v.because_of,
            v.anomaly.literature(),
            if v.across_device {
                " across a device move"
            } else {
                ""
            },
            if v.across_instance {
                " across an instance move"
            } else {
                ""
            },
        );
    }
    if all.len() > limit {
        let _ = writeln!(out, "… and {} more", all.len() - limit);
    }
    out
}

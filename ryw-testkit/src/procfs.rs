//! What /proc says about a process: its children, whether it lives, when it started.

use std::time::Duration;

/// Direct children of `pid` (from /proc), e.g. a postmaster's backends.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in rd.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if proc_ppid(child) == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Parent pid of `pid`.
pub(crate) fn proc_ppid(pid: u32) -> Option<u32> {
    proc_stat_fields(pid)?.get(1)?.parse().ok()
}

/// Whether `pid` is alive (exists and is not a zombie).
pub(crate) fn proc_alive(pid: u32) -> bool {
    match proc_stat_fields(pid) {
        Some(f) => f.first().map(String::as_str) != Some("Z"),
        None => false,
    }
}

/// Start time (clock ticks since boot) of `pid`, to tell a pid apart from a reused one.
pub(crate) fn proc_start_time(pid: u32) -> Option<u64> {
    proc_stat_fields(pid)?.get(19)?.parse().ok()
}

/// Waits (bounded) until none of `pids` is alive.
pub(crate) async fn wait_gone(pids: &[u32], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while pids.iter().any(|p| proc_alive(*p)) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether every thread of `pid` is stopped (state `T`, as SIGSTOP leaves it).
pub(crate) fn proc_stopped(pid: u32) -> bool {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut threads = 0;
    for task in rd.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // The state follows the parenthesised command name, which may itself hold ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if state != Some('T') {
            return false;
        }
        threads += 1;
    }
    threads > 0
}

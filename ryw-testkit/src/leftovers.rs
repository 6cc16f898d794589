//! Servers and directories that outlive their test: those of a crashed earlier run, removed
//! when the next topology starts, and those of shared topologies (statics, never dropped),
//! removed when the test process exits.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::procfs::{children_of, proc_alive, proc_start_time};
use crate::sys;

/// Removes `path` and everything below it, retrying briefly (a dying server may still write).
pub(crate) fn remove_dir_retry(path: &Path) {
    for _ in 0..5 {
        if fs::remove_dir_all(path).is_ok() || !path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tracing::warn!("could not remove {}", path.display());
}

fn shared_dirs() -> &'static Mutex<Vec<PathBuf>> {
    static DIRS: OnceLock<Mutex<Vec<PathBuf>>> = OnceLock::new();
    DIRS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers `dir` for cleanup at process exit: its servers killed, the directory removed.
pub(crate) fn clean_at_exit(dir: &Path) {
    if let Ok(mut v) = shared_dirs().lock() {
        v.push(dir.to_path_buf());
    }
    register_exit_hook();
}

/// Registers the exit hook that cleans up shared topologies (idempotent).
pub(crate) fn register_exit_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| sys::at_exit(at_exit_hook));
}

extern "C" fn at_exit_hook() {
    cleanup_shared_at_exit();
}

/// Called from the atexit hook: kill the servers of shared topologies and remove their dirs.
/// Must never panic.
fn cleanup_shared_at_exit() {
    let dirs = match shared_dirs().lock() {
        Ok(v) => v.clone(),
        Err(_) => return,
    };
    for dir in dirs {
        kill_recorded(&dir);
        remove_dir_retry(&dir);
    }
}

const SERVER_NAMES: &[&str] = &["postgres", "mariadbd", "mysqld", "redis-server"];

fn is_server(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| SERVER_NAMES.iter().any(|n| c.trim().starts_with(n)))
        .unwrap_or(false)
}

/// Kills every server process recorded in `dir` (pids file, postmaster.pid, *.pid files one
/// level down) and, for Postgres, its backends; waits briefly for them to disappear.
fn kill_recorded(dir: &Path) {
    let mut pids: HashSet<u32> = HashSet::new();
    let mut read_first_line = |p: &Path, all_lines: bool| {
        if let Ok(text) = fs::read_to_string(p) {
            let lines: Vec<&str> = if all_lines {
                text.lines().collect()
            } else {
                text.lines().take(1).collect()
            };
            pids.extend(lines.iter().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
    };
    read_first_line(&dir.join("pids"), true);
    if let Ok(rd) = fs::read_dir(dir) {
        for sub in rd.flatten() {
            let sub = sub.path();
            if !sub.is_dir() {
                continue;
            }
            if let Ok(files) = fs::read_dir(&sub) {
                for f in files.flatten() {
                    let p = f.path();
                    if p.extension().is_some_and(|e| e == "pid") {
                        read_first_line(&p, false);
                    }
                }
            }
        }
    }
    let mut victims = Vec::new();
    for pid in pids {
        if pid != std::process::id() && is_server(pid) {
            victims.extend(children_of(pid).into_iter().filter(|c| is_server(*c)));
            victims.push(pid);
        }
    }
    for pid in &victims {
        sys::kill(*pid, sys::SIGKILL);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while victims.iter().any(|p| proc_alive(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Removes the directories of dead test processes (their owner pid is gone or was reused).
pub(crate) fn cleanup_stale(base: &Path) {
    let Ok(rd) = fs::read_dir(base) else { return };
    for entry in rd.flatten() {
        let dir = entry.path();
        let Ok(owner) = fs::read_to_string(dir.join("owner")) else {
            continue;
        };
        let mut it = owner.split_whitespace();
        let pid = it.next().and_then(|s| s.parse::<u32>().ok());
        let start = it.next().and_then(|s| s.parse::<u64>().ok());
        let alive = match pid {
            Some(pid) => proc_alive(pid) && (start == Some(0) || proc_start_time(pid) == start),
            None => false,
        };
        if !alive {
            tracing::info!("removing leftovers of a dead test run: {}", dir.display());
            kill_recorded(&dir);
            remove_dir_retry(&dir);
        }
    }
}

//! Temporary directories, stale-run cleanup, free ports and binary lookup.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::TestkitError;
use crate::supervisor::{children_of, proc_alive, proc_start_time};
use crate::sys;

/// Base directory of all topologies (`RYW_TESTKIT_DIR` or `/tmp/rywtk`).
pub(crate) fn base_dir() -> PathBuf {
    std::env::var_os("RYW_TESTKIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/rywtk"))
}

/// One topology's directory; removed on drop.
#[derive(Debug)]
pub(crate) struct TopoDir {
    pub(crate) path: PathBuf,
}

impl TopoDir {
    /// Creates `<base>/<pid>-<n>` under [`base_dir`], after removing dead runs' leftovers.
    pub(crate) fn create() -> Result<TopoDir, TestkitError> {
        Self::create_in(&base_dir())
    }

    /// Creates `<base>/<pid>-<n>` with an owner file, after removing dead runs' leftovers
    /// (once per base and process).
    pub(crate) fn create_in(base: &Path) -> Result<TopoDir, TestkitError> {
        static N: AtomicU32 = AtomicU32::new(0);
        static CLEANED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
        let base = base.to_path_buf();
        if !base.exists() {
            fs::create_dir_all(&base)
                .map_err(|e| TestkitError::io(format!("create {}", base.display()), e))?;
            // Shared by every user of the machine, like /tmp.
            let _ = fs::set_permissions(&base, fs::Permissions::from_mode(0o1777));
        }
        let first = CLEANED
            .get_or_init(|| Mutex::new(HashSet::new()))
            .lock()
            .map(|mut seen| seen.insert(base.clone()))
            .unwrap_or(false);
        if first {
            cleanup_stale(&base);
        }
        let pid = std::process::id();
        let path = base.join(format!("{pid}-{}", N.fetch_add(1, Ordering::Relaxed)));
        if path.exists() {
            let _ = fs::remove_dir_all(&path);
        }
        fs::create_dir(&path)
            .map_err(|e| TestkitError::io(format!("create {}", path.display()), e))?;
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
        let owner = format!("{pid} {}\n", proc_start_time(pid).unwrap_or(0));
        fs::write(path.join("owner"), owner)
            .map_err(|e| TestkitError::io(format!("write {}/owner", path.display()), e))?;
        Ok(TopoDir { path })
    }

    /// Records a server pid so that a later run can kill it if we crash.
    pub(crate) fn record_pid(&self, pid: u32) {
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join("pids"))
        {
            let _ = writeln!(f, "{pid}");
        }
    }

    /// Registers this directory for cleanup at process exit (shared topologies are statics and
    /// never dropped).
    pub(crate) fn register_shared(&self) {
        if let Ok(mut v) = shared_dirs().lock() {
            v.push(self.path.clone());
        }
        sys::register_at_exit();
    }
}

impl Drop for TopoDir {
    fn drop(&mut self) {
        if std::env::var_os("RYW_TESTKIT_KEEP").is_some_and(|v| v == "1") {
            tracing::info!("RYW_TESTKIT_KEEP=1: keeping {}", self.path.display());
            return;
        }
        remove_dir_retry(&self.path);
    }
}

fn remove_dir_retry(path: &Path) {
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

/// Called from the atexit hook: kill the servers of shared topologies and remove their dirs.
/// Must never panic.
pub(crate) fn cleanup_shared_at_exit() {
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
fn cleanup_stale(base: &Path) {
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

/// A free loopback port (never the same twice in this process).
pub(crate) fn free_port() -> Result<u16, TestkitError> {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TestkitError::io("bind 127.0.0.1:0 to find a free port", e))?;
        let port = l
            .local_addr()
            .map_err(|e| TestkitError::io("local_addr", e))?
            .port();
        drop(l);
        if let Ok(mut g) = given.lock()
            && g.insert(port)
        {
            return Ok(port);
        }
    }
    Err(TestkitError::Internal("no free port found".into()))
}

/// Finds `name` in `dirs` then in `$PATH`.
pub(crate) fn find_binary(
    name: &str,
    dirs: &[PathBuf],
    package: &str,
) -> Result<PathBuf, TestkitError> {
    let mut searched: Vec<PathBuf> = dirs.to_vec();
    if let Some(path) = std::env::var_os("PATH") {
        searched.extend(std::env::split_paths(&path));
    }
    for d in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        searched.push(PathBuf::from(d));
    }
    for d in &searched {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(TestkitError::BinaryNotFound {
        binary: name.to_owned(),
        searched: searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
        package: package.to_owned(),
    })
}

/// uid and gid of a system user, from /etc/passwd.
pub(crate) fn lookup_user(name: &str) -> Result<(u32, u32), TestkitError> {
    let passwd =
        fs::read_to_string("/etc/passwd").map_err(|e| TestkitError::io("read /etc/passwd", e))?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3
            && f[0] == name
            && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
        {
            return Ok((uid, gid));
        }
    }
    Err(TestkitError::UserNotFound(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_says_what_to_install() {
        let err =
            find_binary("ryw-no-such-binary", &[], "some-package").expect_err("must not be found");
        let msg = err.to_string();
        assert!(msg.starts_with("ryw-no-such-binary not found"), "{msg}");
        assert!(msg.ends_with("— install some-package"), "{msg}");
    }

    #[test]
    fn free_ports_are_distinct() {
        let a = free_port().expect("port");
        let b = free_port().expect("port");
        assert_ne!(a, b);
    }
}

//! A topology's own temporary directory, under the testkit's base directory.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::error::TestkitError;
use crate::leftovers::{clean_at_exit, cleanup_stale, remove_dir_retry};
use crate::procfs::proc_start_time;

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
        clean_at_exit(&self.path);
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

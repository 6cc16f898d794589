//! Where the PostgreSQL binaries are and whom they run as: the Postgres engine itself.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::TestkitError;
use crate::host::{find_binary, lookup_user};
use crate::sys;

/// The PostgreSQL engine of a [`Replicated`](crate::Replicated) topology: where its binaries
/// are and whom they run as.
#[derive(Debug, Clone)]
pub struct Postgres {
    bin: PathBuf,
    /// uid/gid of `postgres` when we run as root.
    user: Option<(u32, u32)>,
}

impl Postgres {
    pub(super) fn find() -> Result<Postgres, TestkitError> {
        let mut dirs = Vec::new();
        if let Some(d) = std::env::var_os("RYW_PG_BINDIR") {
            dirs.push(PathBuf::from(d));
        }
        dirs.push(PathBuf::from("/usr/lib/postgresql/15/bin"));
        if let Ok(rd) = fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin")).collect();
            versions.sort();
            versions.reverse();
            dirs.extend(versions);
        }
        let initdb = find_binary("initdb", &dirs, "postgresql")?;
        let bin = initdb.parent().map(Path::to_path_buf).unwrap_or_default();
        for b in ["postgres", "pg_basebackup"] {
            find_binary(b, std::slice::from_ref(&bin), "postgresql")?;
        }
        let user = if sys::is_root() {
            Some(lookup_user("postgres")?)
        } else {
            None
        };
        Ok(Postgres { bin, user })
    }

    /// `name` from the Postgres binaries, run as `postgres` when we are root, from /tmp.
    pub(crate) fn command(&self, name: &str) -> Command {
        let mut c = Command::new(self.bin.join(name));
        if let Some((uid, gid)) = self.user {
            c.uid(uid).gid(gid);
        }
        c.current_dir("/tmp")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", "/tmp");
        c
    }

    /// Hands `path` to the `postgres` user when we are root.
    pub(super) fn chown(&self, path: &Path) -> Result<(), TestkitError> {
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
                TestkitError::io(format!("chown {} to postgres", path.display()), e)
            })?;
        }
        Ok(())
    }
}

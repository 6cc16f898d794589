//! Where the PostgreSQL binaries are and whom they run as.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::host::{find_binary, lookup_user};
use crate::{TestkitError, sys};

#[derive(Debug, Clone)]
pub(crate) struct PgEnv {
    bin: PathBuf,
    /// uid/gid of `postgres` when we run as root.
    user: Option<(u32, u32)>,
}

impl PgEnv {
    pub(super) fn find() -> Result<PgEnv, TestkitError> {
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
        Ok(PgEnv { bin, user })
    }

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

    pub(super) fn chown(&self, path: &Path) -> Result<(), TestkitError> {
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
                TestkitError::io(format!("chown {} to postgres", path.display()), e)
            })?;
        }
        Ok(())
    }
}

//! A MySQL node's folder and data: a copy of a template data dir, initialised once per root,
//! and the `init.sql` every server runs at start.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Mysql, MysqlTopology};
use crate::error::TestkitError;
use crate::mysql_family::REPL_PASSWORD;
use crate::replicated::{Node, SETUP_TIMEOUT};

/// What every server runs at start (`--init-file`): the TCP accounts the testkit and the
/// replicas use, kept out of the binary log so every server starts with an empty GTID set.
/// With `--skip-name-resolve`, `root@localhost` only matches the Unix socket.
fn init_sql(replica: bool) -> String {
    let accounts = format!(
        "SET sql_log_bin = 0;\n\
         CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';\n\
         GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n\
         CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '{REPL_PASSWORD}';\n\
         GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';\n"
    );
    if replica {
        // super_read_only: read_only alone does not stop root.
        format!("SET GLOBAL super_read_only = OFF;\n{accounts}SET GLOBAL super_read_only = ON;\n")
    } else {
        format!("SET GLOBAL super_read_only = OFF;\nSET GLOBAL read_only = OFF;\n{accounts}")
    }
}

impl Mysql {
    /// The initialised data dir every node starts from, under the root's `srv/`, made on first
    /// use for this `mysqld` binary (its size and mtime name it). Made in a private folder and
    /// renamed into place, so concurrent test processes never see half of one.
    pub(super) async fn template(&self, topo: &MysqlTopology) -> Result<PathBuf, TestkitError> {
        let mysqld = self.root.join("usr/sbin/mysqld");
        let meta = fs::metadata(&mysqld)
            .map_err(|e| TestkitError::io(format!("stat {}", mysqld.display()), e))?;
        let stamp = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let name = format!("rywtk-template-{}-{stamp}", meta.len());
        let ready = self.root.join("srv").join(&name);
        // One template at a time in this process; other processes are kept apart by the
        // rename below.
        static MAKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _making = MAKING.lock().await;
        if ready.join("data/mysql.ibd").exists() {
            return Ok(ready.join("data"));
        }
        let work = self
            .root
            .join("srv")
            .join(format!("{name}.{}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work)
            .map_err(|e| TestkitError::io(format!("create {}", work.display()), e))?;
        let inner = Path::new("/srv").join(work.file_name().unwrap_or_default());
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.root)
            .args([
                "mysqld",
                "--no-defaults",
                "--user=root",
                "--initialize-insecure",
            ])
            .arg(format!("--datadir={}/data", inner.display()))
            .arg(format!("--log-error={}/init.log", inner.display()))
            .arg("--innodb-redo-log-capacity=16M")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", "/root");
        let p = topo
            .setup(cmd, "mysqld --initialize", &work.join("stdout.log"))
            .await?;
        p.finish(SETUP_TIMEOUT).await?;
        if fs::rename(&work, &ready).is_err() {
            // Another process got there first: use its template.
            let _ = fs::remove_dir_all(&work);
        }
        if ready.join("data/mysql.ibd").exists() {
            Ok(ready.join("data"))
        } else {
            Err(TestkitError::InvalidState(format!(
                "mysqld --initialize made no data dir in {}; see its init.log",
                ready.display()
            )))
        }
    }
}

/// Writes the node's `init.sql` for its role.
pub(super) fn write_init(node: &Node, replica: bool) -> Result<(), TestkitError> {
    let path = node.home.join("init.sql");
    fs::write(&path, init_sql(replica))
        .map_err(|e| TestkitError::io(format!("write {}", path.display()), e))
}

/// `cp -a from to`, off the async threads.
pub(super) async fn copy_dir(from: &Path, to: &Path) -> Result<(), TestkitError> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    let status = tokio::task::spawn_blocking(move || {
        Command::new("cp").arg("-a").arg(&from).arg(&to).status()
    })
    .await
    .map_err(|e| TestkitError::Internal(format!("copy task: {e}")))?
    .map_err(|e| TestkitError::io("run cp -a", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(TestkitError::Internal(format!(
            "cp -a of the template data dir: {status}"
        )))
    }
}

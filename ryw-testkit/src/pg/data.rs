//! A Postgres node's data: initdb for the primary, base backups for the replicas, and the
//! configuration each needs.

use std::fs;
use std::path::Path;

use super::{PgTopology, Postgres};
use crate::error::TestkitError;
use crate::replicated::{Node, SETUP_TIMEOUT};

impl Postgres {
    /// Initialises the primary's data dir and configures it.
    pub(super) async fn init_primary(
        &self,
        topo: &PgTopology,
        primary: &Node,
    ) -> Result<(), TestkitError> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&primary.home)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C.UTF-8");
        topo.setup(cmd, "initdb", &primary.log)
            .await?
            .finish(SETUP_TIMEOUT)
            .await?;
        append(
            &primary.home.join("postgresql.conf"),
            &format!(
                "\n# ryw-testkit\nlisten_addresses='127.0.0.1'\nunix_socket_directories='{}'\n\
                 wal_keep_size='256MB'\nfsync=off\nfull_page_writes=off\nshared_buffers='32MB'\n\
                 max_wal_senders=20\nmax_connections=300\nwal_sender_timeout='60s'\n\
                 shared_preload_libraries='pg_stat_statements'\n",
                primary.home.display()
            ),
        )
    }

    /// Base backups of the running primary, in parallel, each replica then configured to
    /// stream through its proxy as `r<i>`.
    pub(super) async fn base_backups(&self, topo: &PgTopology) -> Result<(), TestkitError> {
        let primary = topo.primary.port().to_string();
        let mut backups = Vec::new();
        for (i, node) in topo.replicas.iter().enumerate() {
            let mut cmd = self.command("pg_basebackup");
            cmd.args(["-h", "127.0.0.1", "-p", &primary])
                .args(["-U", "postgres", "-D"])
                .arg(&node.home)
                .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
            let what = format!("pg_basebackup for replica {i}");
            backups.push(topo.setup(cmd, &what, &node.log).await?);
        }
        for (i, (p, node)) in backups.into_iter().zip(&topo.replicas).enumerate() {
            p.finish(SETUP_TIMEOUT).await?;
            let upstream = topo.proxies.get(i).map_or(0, |p| p.port());
            configure_replica(node, i, upstream)?;
        }
        Ok(())
    }
}

/// A replica's own settings, and its `primary_conninfo` through the proxy at `upstream`.
fn configure_replica(node: &Node, i: usize, upstream: u16) -> Result<(), TestkitError> {
    append(
        &node.home.join("postgresql.conf"),
        &format!(
            "\n# ryw-testkit replica\nunix_socket_directories='{}'\n\
             wal_retrieve_retry_interval='100ms'\nhot_standby_feedback=on\n",
            node.home.display()
        ),
    )?;
    let auto = node.home.join("postgresql.auto.conf");
    let old = fs::read_to_string(&auto)
        .map_err(|e| TestkitError::io(format!("read {}", auto.display()), e))?;
    let mut new: String = old
        .lines()
        .filter(|l| !l.trim_start().starts_with("primary_conninfo"))
        .map(|l| format!("{l}\n"))
        .collect();
    new.push_str(&format!(
        "primary_conninfo = 'host=127.0.0.1 port={upstream} user=postgres application_name=r{i}'\n"
    ));
    fs::write(&auto, new).map_err(|e| TestkitError::io(format!("write {}", auto.display()), e))
}

/// Appends `text` to the file at `path`.
pub(super) fn append(path: &Path, text: &str) -> Result<(), TestkitError> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| TestkitError::io(format!("open {}", path.display()), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| TestkitError::io(format!("write {}", path.display()), e))
}

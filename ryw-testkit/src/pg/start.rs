//! Starting a topology: initdb, the primary, base backups, proxies and replicas.

use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{PgEnv, PgNode, PgTopology, READY_TIMEOUT, SETUP_TIMEOUT, connect};
use crate::TestkitError;
use crate::dirs::TopoDir;
use crate::host::free_port;
use crate::proxy::DelayProxy;
use crate::slot::ProcSlot;
use crate::supervisor::Proc;

impl PgTopology {
    pub(super) async fn start_inner(n: usize) -> Result<PgTopology, TestkitError> {
        let t0 = Instant::now();
        let env = PgEnv::find()?;
        let dir = TopoDir::create()?;
        env.chown(&dir.path)?;
        let primary = PgNode {
            name: "postgres primary".into(),
            data: dir.path.join("p"),
            log: dir.path.join("p.log"),
            port: free_port()?,
            proc: ProcSlot::default(),
        };
        let mut cmd = env.command("initdb");
        cmd.arg("-D")
            .arg(&primary.data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C.UTF-8");
        Proc::run(cmd, "initdb", &primary.log, SETUP_TIMEOUT).await?;
        tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: initdb");
        append(
            &primary.data.join("postgresql.conf"),
            &format!(
                "\n# ryw-testkit\nlisten_addresses='127.0.0.1'\nunix_socket_directories='{}'\n\
                 wal_keep_size='256MB'\nfsync=off\nfull_page_writes=off\nshared_buffers='32MB'\n\
                 max_wal_senders=20\nmax_connections=100\nwal_sender_timeout='60s'\n",
                primary.data.display()
            ),
        )?;
        let mut topo = PgTopology {
            env,
            primary,
            replicas: Vec::new(),
            proxies: Vec::new(),
            promoted: Vec::new(),
            leader: Mutex::new(None),
            started_in: Duration::ZERO,
            dir,
        };
        topo.primary.port = topo.start_node_first_time(&topo.primary).await?;
        let t_primary = t0.elapsed();
        tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: primary");

        // Base backups in parallel.
        let mut backups = Vec::new();
        for i in 0..n {
            let node = PgNode {
                name: format!("postgres replica {i}"),
                data: topo.dir.path.join(format!("r{i}")),
                log: topo.dir.path.join(format!("r{i}.log")),
                port: free_port()?,
                proc: ProcSlot::default(),
            };
            let mut cmd = topo.env.command("pg_basebackup");
            cmd.args(["-h", "127.0.0.1", "-p", &topo.primary.port.to_string()])
                .args(["-U", "postgres", "-D"])
                .arg(&node.data)
                .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
            let p = Proc::spawn(cmd, &format!("pg_basebackup for replica {i}"), &node.log).await?;
            topo.dir.record_pid(p.pid);
            backups.push((node, p));
        }
        for (i, (node, p)) in backups.into_iter().enumerate() {
            p.finish(SETUP_TIMEOUT).await?;
            tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: bb");
            let proxy = DelayProxy::start(topo.primary.port)?;
            append(
                &node.data.join("postgresql.conf"),
                &format!(
                    "\n# ryw-testkit replica\nunix_socket_directories='{}'\n\
                     wal_retrieve_retry_interval='100ms'\nhot_standby_feedback=on\n",
                    node.data.display()
                ),
            )?;
            let auto = node.data.join("postgresql.auto.conf");
            let old = fs::read_to_string(&auto)
                .map_err(|e| TestkitError::io(format!("read {}", auto.display()), e))?;
            let mut new: String = old
                .lines()
                .filter(|l| !l.trim_start().starts_with("primary_conninfo"))
                .map(|l| format!("{l}\n"))
                .collect();
            new.push_str(&format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=r{i}'\n",
                proxy.port()
            ));
            fs::write(&auto, new)
                .map_err(|e| TestkitError::io(format!("write {}", auto.display()), e))?;
            topo.replicas.push(node);
            topo.proxies.push(proxy);
            topo.promoted.push(Mutex::new(false));
        }
        for i in 0..n {
            let port = topo.start_node_first_time(&topo.replicas[i]).await?;
            topo.replicas[i].port = port;
        }
        tracing::debug!(elapsed = ?t0.elapsed(), "postgres startup: replicas up");
        for i in 0..n {
            topo.wait_streaming(i, READY_TIMEOUT).await?;
        }
        topo.started_in = t0.elapsed();
        tracing::info!(
            replicas = n,
            primary_ms = t_primary.as_millis(),
            total_ms = topo.started_in.as_millis(),
            dir = %topo.dir.path.display(),
            "postgres topology started"
        );
        Ok(topo)
    }

    /// Starts a node for the first time, retrying on another port if the port was taken.
    async fn start_node_first_time(&self, node: &PgNode) -> Result<u16, TestkitError> {
        let mut port = node.port;
        let mut attempt = 0;
        loop {
            attempt += 1;
            append(
                &node.data.join("postgresql.conf"),
                &format!("port={port}\n"),
            )?;
            let p = self.spawn_postgres(node).await?;
            match wait_connectable(&p, port, READY_TIMEOUT).await {
                Ok(()) => {
                    node.proc.set(p);
                    return Ok(port);
                }
                Err(e) => {
                    let text = fs::read_to_string(&node.log).unwrap_or_default();
                    if attempt < 4 && p.exited().is_some() && text.contains("could not bind") {
                        port = free_port()?;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    pub(super) async fn spawn_postgres(&self, node: &PgNode) -> Result<Proc, TestkitError> {
        let mut cmd = self.env.command("postgres");
        cmd.arg("-D").arg(&node.data);
        let p = Proc::spawn(cmd, &node.name, &node.log).await?;
        self.dir.record_pid(p.pid);
        Ok(p)
    }
}

fn append(path: &Path, text: &str) -> Result<(), TestkitError> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| TestkitError::io(format!("open {}", path.display()), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| TestkitError::io(format!("write {}", path.display()), e))
}

/// Waits until a server accepts connections (and runs queries), or exits, or time runs out.
pub(super) async fn wait_connectable(
    p: &Proc,
    port: u16,
    timeout: Duration,
) -> Result<(), TestkitError> {
    p.wait_until_ready(
        port,
        timeout,
        "to accept connections",
        Duration::from_millis(10),
        || async move {
            let c = connect(port).await.map_err(|e| e.to_string())?;
            c.simple_query("SELECT 1")
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
    .await
}

//! Starting a topology: data directories, the servers, the replicas and their proxies.

use std::fs;

use super::*;
use crate::host::free_port;

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

impl MysqlTopology {
    fn node(
        dir: &TopoDir,
        root: &Path,
        name: String,
        short: &str,
        server_id: u32,
        replica: bool,
    ) -> Result<MysqlNode, TestkitError> {
        let host = dir.path.join(short);
        fs::create_dir(&host)
            .map_err(|e| TestkitError::io(format!("create {}", host.display()), e))?;
        let inner = Path::new("/").join(host.strip_prefix(root).map_err(|_| {
            TestkitError::Internal(format!(
                "{} is not inside {}",
                host.display(),
                root.display()
            ))
        })?);
        let node = MysqlNode {
            name,
            inner,
            host,
            port: free_port()?,
            server_id,
            proc: ProcSlot::default(),
        };
        node.write_init(replica)?;
        Ok(node)
    }

    pub(super) async fn start_inner(n: usize) -> Result<MysqlTopology, TestkitError> {
        let t0 = Instant::now();
        let root = mysql_root();
        if !root.join("usr/sbin/mysqld").exists() {
            return Err(TestkitError::InvalidState(format!(
                "no Oracle MySQL in {}: build it with the project's .ci/install-mysql (as root), \
                 or point RYW_MYSQL_ROOT at a Debian sid root folder holding mysql-server-core",
                root.display()
            )));
        }
        if !crate::sys::is_root() {
            return Err(TestkitError::InvalidState(
                "MySQL topologies run mysqld under chroot, which needs root".into(),
            ));
        }
        let dir = TopoDir::create_in(&root.join("srv/rywtk"))?;
        let primary = Self::node(&dir, &root, "mysql primary".into(), "m", 1, false)?;
        let mut replicas = Vec::new();
        for i in 0..n {
            let id = u32::try_from(i + 2).unwrap_or(u32::MAX);
            replicas.push(Self::node(
                &dir,
                &root,
                format!("mysql replica {i}"),
                &format!("r{i}"),
                id,
                true,
            )?);
        }
        let leader_proxy = DelayProxy::start(primary.port)?;
        let mut topo = MysqlTopology {
            root,
            primary,
            replicas,
            proxies: Vec::new(),
            leader_proxy,
            leader: Mutex::new(None),
            started_in: Duration::ZERO,
            dir,
        };
        // Every data dir is a copy of one initialised once per root (3–6 s saved per server);
        // each server then makes its own server_uuid.
        let template = topo.template().await?;
        for node in topo.nodes() {
            copy_dir(&template, &node.host.join("data")).await?;
            let _ = fs::remove_file(node.host.join("data/auto.cnf"));
        }
        for node in topo.nodes() {
            let p = topo.spawn_mysqld(node).await?;
            node.proc.set(p);
        }
        for node in topo.nodes() {
            let Some(p) = node.proc.take() else {
                return Err(TestkitError::InvalidState(format!(
                    "{} not started",
                    node.name
                )));
            };
            let res = wait_connectable(&p, node.port, READY_TIMEOUT).await;
            node.proc.set(p);
            res?;
        }
        let t_servers = t0.elapsed();
        exec(
            topo.primary.port,
            &format!("CREATE DATABASE {DB}"),
            "create database",
        )
        .await?;
        for i in 0..n {
            let proxy = DelayProxy::start(topo.primary.port)?;
            exec(
                topo.replicas[i].port,
                &format!(
                    "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT={}, \
                     SOURCE_USER='repl', SOURCE_PASSWORD='{REPL_PASSWORD}', \
                     GET_SOURCE_PUBLIC_KEY=1, SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, \
                     SOURCE_HEARTBEAT_PERIOD=1; START REPLICA",
                    proxy.port()
                ),
                "CHANGE REPLICATION SOURCE TO / START REPLICA",
            )
            .await?;
            topo.proxies.push(proxy);
        }
        for i in 0..n {
            topo.wait_replicating(i, READY_TIMEOUT).await?;
            crate::Topology::wait_caught_up(&topo, i, READY_TIMEOUT).await?;
        }
        topo.started_in = t0.elapsed();
        tracing::info!(
            replicas = n,
            servers_up_ms = t_servers.as_millis(),
            total_ms = topo.started_in.as_millis(),
            dir = %topo.dir.path.display(),
            "mysql topology started"
        );
        Ok(topo)
    }
}

impl MysqlTopology {
    /// The initialised data dir every node starts from, under the root's `srv/`, made on first
    /// use for this `mysqld` binary (its size and mtime name it). Made in a private folder and
    /// renamed into place, so concurrent test processes never see half of one.
    async fn template(&self) -> Result<PathBuf, TestkitError> {
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
        let p = Proc::spawn(cmd, "mysqld --initialize", &work.join("stdout.log")).await?;
        self.dir.record_pid(p.pid);
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

/// `cp -a from to`, off the async threads.
async fn copy_dir(from: &Path, to: &Path) -> Result<(), TestkitError> {
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

impl MysqlNode {
    /// Writes the node's `init.sql` for its role.
    pub(super) fn write_init(&self, replica: bool) -> Result<(), TestkitError> {
        let path = self.host.join("init.sql");
        fs::write(&path, init_sql(replica))
            .map_err(|e| TestkitError::io(format!("write {}", path.display()), e))
    }
}

//! Starting a topology: data directories, the primary, the replicas and their proxies.

use std::path::Path;

use super::*;

impl MariaDbTopology {
    pub(super) fn node(
        dir: &Path,
        name: String,
        short: &str,
        server_id: u32,
    ) -> Result<MyNode, TestkitError> {
        let d = dir.join(short);
        fs::create_dir(&d).map_err(|e| TestkitError::io(format!("create {}", d.display()), e))?;
        Ok(MyNode {
            name,
            cnf: d.join("my.cnf"),
            log: d.join("error.log"),
            out: d.join("stdout.log"),
            dir: d,
            port: free_port()?,
            server_id,
            proc: ProcSlot::default(),
        })
    }

    pub(super) async fn start_inner(n: usize) -> Result<MariaDbTopology, TestkitError> {
        let t0 = Instant::now();
        let mariadbd = match find_binary("mariadbd", &[], "mariadb-server") {
            Ok(p) => p,
            Err(e) => find_binary("mysqld", &[], "mariadb-server").map_err(|_| e)?,
        };
        let install_db = find_binary("mariadb-install-db", &[], "mariadb-server")?;
        let dir = TopoDir::create()?;
        let mut topo = MariaDbTopology {
            mariadbd,
            primary: Self::node(&dir.path, "mariadb primary".into(), "m", 1)?,
            replicas: Vec::new(),
            proxies: Vec::new(),
            started_in: Duration::ZERO,
            dir,
        };
        for i in 0..n {
            let id = u32::try_from(i + 2).unwrap_or(u32::MAX);
            topo.replicas.push(Self::node(
                &topo.dir.path,
                format!("mariadb replica {i}"),
                &format!("r{i}"),
                id,
            )?);
        }
        // Initialise every data dir in parallel.
        let mut installs = Vec::new();
        for node in topo.nodes() {
            node.write_cnf()?;
            let mut cmd = Command::new(&install_db);
            cmd.arg(format!("--defaults-file={}", node.cnf.display()))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .current_dir(&node.dir)
                .env_clear()
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
                .env("HOME", &node.dir);
            let p = Proc::spawn(
                cmd,
                &format!("mariadb-install-db for {}", node.name),
                &node.out,
            )
            .await?;
            topo.dir.record_pid(p.pid);
            installs.push(p);
        }
        for p in installs {
            p.finish(SETUP_TIMEOUT).await?;
        }
        // Start every server, then wait for each.
        let mut ports = Vec::new();
        for node in topo.nodes() {
            let p = topo.spawn_mariadbd(node).await?;
            node.proc.set(p);
        }
        for node in topo.nodes() {
            ports.push(topo.wait_first_start(node).await?);
        }
        topo.primary.port = ports[0];
        for (i, port) in ports[1..].iter().enumerate() {
            topo.replicas[i].port = *port;
        }
        let t_primary = t0.elapsed();
        exec(
            topo.primary.port,
            &format!(
                "CREATE USER 'repl'@'%' IDENTIFIED BY '{REPL_PASSWORD}'; \
                 GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'; CREATE DATABASE {DB}"
            ),
            "create replication user and database",
        )
        .await?;
        for i in 0..n {
            let proxy = DelayProxy::start(topo.primary.port)?;
            exec(
                topo.replicas[i].port,
                &format!(
                    "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
                     MASTER_USER='repl', MASTER_PASSWORD='{REPL_PASSWORD}', \
                     MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE",
                    proxy.port()
                ),
                "CHANGE MASTER TO / START SLAVE",
            )
            .await?;
            topo.proxies.push(proxy);
        }
        for i in 0..n {
            topo.wait_replicating(i, READY_TIMEOUT).await?;
            topo.wait_caught_up(i, READY_TIMEOUT).await?;
        }
        topo.started_in = t0.elapsed();
        tracing::info!(
            replicas = n,
            servers_up_ms = t_primary.as_millis(),
            total_ms = topo.started_in.as_millis(),
            dir = %topo.dir.path.display(),
            "mariadb topology started"
        );
        Ok(topo)
    }

    fn nodes(&self) -> impl Iterator<Item = &MyNode> {
        std::iter::once(&self.primary).chain(self.replicas.iter())
    }

    pub(super) async fn spawn_mariadbd(&self, node: &MyNode) -> Result<Proc, TestkitError> {
        let mut cmd = Command::new(&self.mariadbd);
        // --defaults-file must be the first argument.
        cmd.arg(format!("--defaults-file={}", node.cnf.display()))
            .current_dir(&node.dir)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", &node.dir);
        let mut p = Proc::spawn(cmd, &node.name, &node.out).await?;
        p.log = node.log.clone();
        self.dir.record_pid(p.pid);
        Ok(p)
    }

    /// Waits for a node started for the first time, moving it to another port if its port
    /// was taken. Returns the port.
    async fn wait_first_start(&self, node: &MyNode) -> Result<u16, TestkitError> {
        let mut port = node.port;
        for attempt in 1.. {
            let res = {
                let g = node.proc.take();
                let Some(p) = g else {
                    return Err(TestkitError::InvalidState(format!(
                        "{} not started",
                        node.name
                    )));
                };
                let r = wait_connectable(&p, port, READY_TIMEOUT).await;
                node.proc.set(p);
                r
            };
            match res {
                Ok(()) => return Ok(port),
                Err(e) => {
                    let text = fs::read_to_string(&node.log).unwrap_or_default();
                    if attempt < 4 && !node.proc.running() && text.contains("Bind on TCP/IP port") {
                        port = free_port()?;
                        let moved = MyNode {
                            name: node.name.clone(),
                            dir: node.dir.clone(),
                            cnf: node.cnf.clone(),
                            log: node.log.clone(),
                            out: node.out.clone(),
                            port,
                            server_id: node.server_id,
                            proc: ProcSlot::default(),
                        };
                        moved.write_cnf()?;
                        let p = self.spawn_mariadbd(node).await?;
                        node.proc.set(p);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(TestkitError::Internal("unreachable".into()))
    }
}

//! A standalone Redis server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dirs::TopoDir;
use crate::error::TestkitError;
use crate::host::{find_binary, free_port};
use crate::runtime::on_testkit_rt;
use crate::slot::ProcSlot;
use crate::supervisor::Proc;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A Redis server on a free loopback port, without persistence. URL: `redis://127.0.0.1:PORT`.
/// Dropping it kills the server and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    bin: PathBuf,
    port: u16,
    log: PathBuf,
    proc: ProcSlot,
    started_in: Duration,
    dir: TopoDir,
    /// Extra `redis-server` arguments (cluster mode).
    extra: Vec<String>,
}

/// Sends `PING` and expects `+PONG`.
async fn ping(port: u16) -> Result<(), String> {
    let io = async {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(b"PING\r\n").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
        if reply.starts_with("+PONG") {
            Ok(())
        } else {
            Err(format!("unexpected reply {reply:?}"))
        }
    };
    tokio::time::timeout(Duration::from_secs(2), io)
        .await
        .unwrap_or_else(|_| Err("PING timed out".into()))
}

impl RedisServer {
    /// Starts a server (on the testkit's own runtime).
    pub async fn start() -> Result<RedisServer, TestkitError> {
        on_testkit_rt(Self::start_with(Vec::new())).await
    }

    /// Starts a server with extra `redis-server` arguments (on the caller's runtime).
    pub(crate) async fn start_with(extra: Vec<String>) -> Result<RedisServer, TestkitError> {
        let t0 = Instant::now();
        let bin = find_binary("redis-server", &[], "redis-server")?;
        let dir = TopoDir::create()?;
        let mut server = RedisServer {
            bin,
            port: free_port()?,
            log: dir.path.join("redis.log"),
            proc: ProcSlot::default(),
            started_in: Duration::ZERO,
            dir,
            extra,
        };
        for attempt in 1.. {
            let p = server.spawn().await?;
            match wait_ready(&p, server.port).await {
                Ok(()) => {
                    server.proc.set(p);
                    break;
                }
                Err(e) => {
                    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
                    if attempt < 4 && p.exited().is_some() && log.contains("in use") {
                        server.port = free_port()?;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        server.started_in = t0.elapsed();
        tracing::info!(
            port = server.port,
            ms = server.started_in.as_millis(),
            "redis started"
        );
        Ok(server)
    }

    async fn spawn(&self) -> Result<Proc, TestkitError> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir.path)
            .arg("--pidfile")
            .arg(self.dir.path.join("redis.pid"))
            .args(&self.extra)
            .current_dir(&self.dir.path)
            .env_clear();
        let p = Proc::spawn(cmd, "redis-server", &self.log).await?;
        self.dir.record_pid(p.pid);
        Ok(p)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// Kills the server (SIGKILL) and reaps it; connections fail afterwards.
    pub async fn kill(&self) {
        let p = self.proc.take();
        if let Some(p) = p {
            p.kill().await;
        }
    }

    /// Starts the server again on the same port (killing it first if it runs; data is lost).
    pub async fn restart(&self) -> Result<(), TestkitError> {
        self.kill().await;
        let p = self.spawn().await?;
        let res = wait_ready(&p, self.port).await;
        self.proc.set(p);
        res
    }
}

async fn wait_ready(p: &Proc, port: u16) -> Result<(), TestkitError> {
    p.wait_until_ready(
        port,
        READY_TIMEOUT,
        "to answer PING",
        Duration::from_millis(5),
        async || ping(port).await.map_err(|e| e.to_string()),
    )
    .await
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill_blocking();
        }
    }
}

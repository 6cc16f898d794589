//! The process supervisor thread and the server processes it owns.
//!
//! Servers are spawned from one long-lived thread (PR_SET_PDEATHSIG fires when the *spawning
//! thread* exits, and test threads end) which also reaps them.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::error::TestkitError;
use crate::leftovers::register_exit_hook;
use crate::sys;

type SpawnReply = oneshot::Sender<std::io::Result<(u32, watch::Receiver<Option<ExitStatus>>)>>;

enum Req {
    Spawn(Command, SpawnReply),
    Signal(u32, i32),
}

fn supervisor() -> Result<&'static mpsc::Sender<Req>, TestkitError> {
    static SUP: OnceLock<Result<mpsc::Sender<Req>, String>> = OnceLock::new();
    SUP.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Req>();
        std::thread::Builder::new()
            .name("ryw-testkit-supervisor".into())
            .spawn(move || supervise(&rx))
            .map_err(|e| format!("cannot start supervisor thread: {e}"))?;
        register_exit_hook();
        Ok(tx)
    })
    .as_ref()
    .map_err(|e| TestkitError::Internal(e.clone()))
}

fn supervise(rx: &mpsc::Receiver<Req>) {
    let mut children: HashMap<u32, (Child, watch::Sender<Option<ExitStatus>>)> = HashMap::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(Req::Spawn(mut cmd, reply)) => {
                let res = cmd.spawn().map(|child| {
                    let pid = child.id();
                    let (tx, rx) = watch::channel(None);
                    children.insert(pid, (child, tx));
                    (pid, rx)
                });
                let _ = reply.send(res);
            }
            Ok(Req::Signal(pid, sig)) => {
                // Only signal children not yet reaped: their pid cannot have been reused.
                if children.contains_key(&pid) {
                    sys::kill(pid, sig);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        children.retain(|_, (child, tx)| match child.try_wait() {
            Ok(Some(status)) => {
                tx.send_replace(Some(status));
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    }
}

/// A child process owned and reaped by the supervisor. Dropping it sends SIGKILL.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) pid: u32,
    exit: watch::Receiver<Option<ExitStatus>>,
    pub(crate) what: String,
    pub(crate) log: PathBuf,
}

impl Proc {
    /// Polls `probe` until it succeeds, the process exits, or `timeout` passes; `what` names
    /// the awaited condition in the timeout error ("to accept connections").
    pub(crate) async fn wait_until_ready<F, Fut>(
        &self,
        port: u16,
        timeout: Duration,
        what: &str,
        interval: Duration,
        mut probe: F,
    ) -> Result<(), TestkitError>
    where
        // A plain closure returning a future (not an async closure): the futures of async
        // closures are not provably `Send` for all lifetimes yet, and callers need `Send`.
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.exited() {
                return Err(self.exited_error(port, st));
            }
            let last = match probe().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: format!("{} {what}", self.what),
                    port,
                    timeout,
                    log: self.log.clone(),
                    detail: format!(" (last: {last})"),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Spawns `cmd` with stdin null and stdout/stderr appended to `log`.
    pub(crate) async fn spawn(
        mut cmd: Command,
        what: &str,
        log: &Path,
    ) -> Result<Proc, TestkitError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| TestkitError::io(format!("open log {}", log.display()), e))?;
        let file2 = file
            .try_clone()
            .map_err(|e| TestkitError::io(format!("dup log {}", log.display()), e))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2));
        sys::set_pdeathsig(&mut cmd);
        let binary = cmd.get_program().to_string_lossy().into_owned();
        let (tx, rx) = oneshot::channel();
        supervisor()?
            .send(Req::Spawn(cmd, tx))
            .map_err(|_| TestkitError::Internal("supervisor thread gone".into()))?;
        let (pid, exit) = rx
            .await
            .map_err(|_| TestkitError::Internal("supervisor thread gone".into()))?
            .map_err(|source| TestkitError::Spawn {
                binary: binary.clone(),
                source,
            })?;
        tracing::debug!(pid, what, "spawned {binary}");
        Ok(Proc {
            pid,
            exit,
            what: what.to_owned(),
            log: log.to_owned(),
        })
    }

    /// Waits (bounded) for a setup command spawned with [`Proc::spawn`] and checks its status.
    pub(crate) async fn finish(self, timeout: Duration) -> Result<(), TestkitError> {
        match self.wait_exit(timeout).await {
            Some(st) if st.success() => Ok(()),
            Some(st) => Err(TestkitError::CommandFailed {
                what: self.what.clone(),
                status: st.to_string(),
                log: self.log.clone(),
                tail: log_tail(&self.log),
            }),
            None => Err(TestkitError::Timeout {
                what: format!("{} to finish", self.what),
                port: 0,
                timeout,
                log: self.log.clone(),
                detail: String::new(),
            }),
        }
    }

    /// Sends a signal (if the process has not been reaped yet).
    pub(crate) fn signal(&self, sig: i32) {
        if self.exited().is_none()
            && let Ok(sup) = supervisor()
        {
            let _ = sup.send(Req::Signal(self.pid, sig));
        }
    }

    /// Exit status if it has exited (and been reaped).
    pub(crate) fn exited(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    /// Waits up to `timeout` for the process to exit; `None` if it still runs.
    pub(crate) async fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut rx = self.exit.clone();
        match tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await {
            Ok(Ok(st)) => *st,
            _ => self.exited(),
        }
    }

    /// SIGKILL and reap (bounded).
    pub(crate) async fn kill(&self) {
        self.signal(sys::SIGKILL);
        let _ = self.wait_exit(Duration::from_secs(10)).await;
    }

    /// SIGKILL and reap, blocking the thread (for `Drop`).
    pub(crate) fn kill_blocking(&self) {
        self.signal(sys::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Error describing an unexpected exit.
    pub(crate) fn exited_error(&self, port: u16, status: ExitStatus) -> TestkitError {
        TestkitError::Exited {
            what: self.what.clone(),
            port,
            status: status.to_string(),
            log: self.log.clone(),
            tail: log_tail(&self.log),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal(sys::SIGKILL);
    }
}

/// The last ~30 lines of a log file.
pub(crate) fn log_tail(path: &Path) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::from("(log file unreadable)");
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    lines[start..].join("\n")
}

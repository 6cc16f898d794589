//! One server of a topology: its folders, logs, port and process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};

use std::time::Duration;

use crate::error::TestkitError;
use crate::slot::ProcSlot;

/// One server of a [`Replicated`](super::Replicated) topology.
#[derive(Debug)]
pub struct Node {
    /// Names it in logs and errors (`postgres replica 0`).
    pub(crate) name: String,
    /// Its folder (the data dir itself where the database wants it so).
    pub(crate) home: PathBuf,
    /// The server's own log.
    pub(crate) log: PathBuf,
    /// Where the process's stdout and stderr go (may be `log`).
    pub(crate) out: PathBuf,
    /// Unique in the topology: 1 for the primary, `i + 2` for replica `i`.
    pub(crate) server_id: u32,
    /// Picked free at creation; moves if another process took it before the first start.
    port: AtomicU16,
    pub(crate) proc: ProcSlot,
}

impl Node {
    pub(crate) fn new(
        name: String,
        [home, log, out]: [PathBuf; 3],
        server_id: u32,
        port: u16,
    ) -> Node {
        Node {
            name,
            home,
            log,
            out,
            server_id,
            port: AtomicU16::new(port),
            proc: ProcSlot::default(),
        }
    }

    /// The server's port.
    pub(crate) fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    /// Moves the server to `port` (before it first runs).
    pub(crate) fn move_to(&self, port: u16) {
        self.port.store(port, Ordering::SeqCst);
    }

    /// The error of a bounded wait on this node that ran out: `what` it waited for, and
    /// `detail` (the last thing seen), which may be empty.
    pub(crate) fn timed_out(
        &self,
        what: String,
        timeout: Duration,
        detail: String,
    ) -> TestkitError {
        TestkitError::Timeout {
            what: format!("{} {what}", self.name),
            port: self.port(),
            timeout,
            log: self.log.clone(),
            detail,
        }
    }
}

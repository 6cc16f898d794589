//! The recorded history of a run: client operations and fault events, exportable as JSON lines.
//!
//! The data model follows `PROOF.md`: every scope is one register holding a strictly increasing
//! version. A write sets the version its session chose (one more than the session's last
//! attempt); a read returns the version it saw. One line of the file is one [`Event`].

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ProofError;

/// How a session reached the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Through the ryw router, carrying a signed token between operations.
    Ryw,
    /// Writes on the leader, reads on any replica with no fence: the baseline that must be
    /// stale under the same faults, or the run proves nothing.
    Plain,
    /// As [`Ryw`](Self::Ryw), with monotonic reads opted in
    /// (`ReadPolicy::with_monotonic(true)`).
    RywMonotonic,
}

impl Mode {
    /// A short label for tables.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Ryw => "ryw",
            Self::Plain => "plain replica reads",
            Self::RywMonotonic => "ryw, monotonic",
        }
    }
}

/// What an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Set the scope's register to `version`.
    Write,
    /// Read the scope's register.
    Read,
    /// The session moved to another device (its token was handed over) or app instance.
    Move,
}

/// Where an operation was served.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// The leader.
    Leader,
    /// The named replica.
    Replica(String),
    /// Not known (the operation failed before a node was chosen).
    Unknown,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged: a write is durable on the leader, a read returned `version`.
    Ok,
    /// Failed before anything could have been written (a read error, a failed checkout).
    Failed {
        /// A short, stable error kind (`pool`, `timeout`, `fence_timeout`, …).
        kind: String,
    },
    /// A write whose effect is unknown (the connection died around COMMIT, or it timed out):
    /// it is neither required nor forbidden in later reads.
    Unknown {
        /// A short, stable error kind.
        kind: String,
    },
    /// An acknowledged write that a lossy failover lost: the new leader's log of applied
    /// writes lacks it (found after the run). Like `Unknown`, it raises no requirement.
    Lost,
}

impl Outcome {
    /// The error kind, if the operation did not succeed.
    #[must_use]
    pub fn error_kind(&self) -> Option<&str> {
        match self {
            Self::Ok => None,
            Self::Lost => Some("lost_in_failover"),
            Self::Failed { kind } | Self::Unknown { kind } => Some(kind),
        }
    }
}

/// One client operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Index of the operation in the history (unique).
    pub id: u64,
    /// The session (a user carrying one token).
    pub session: u32,
    /// The session's device at the time (changes on a token hand-off).
    pub device: u32,
    /// The app instance (router) that served it.
    pub instance: u32,
    /// The scope value (`user_id`).
    pub scope: i64,
    /// Read, write or move.
    pub kind: OpKind,
    /// Written or read version (`None` for failed reads and moves).
    pub version: Option<i64>,
    /// When it was invoked, in nanoseconds since the run started.
    pub invoke_ns: u64,
    /// When it completed.
    pub complete_ns: u64,
    /// Where it was served.
    pub served: Served,
    /// How it ended.
    pub outcome: Outcome,
    /// Ryw or plain.
    pub mode: Mode,
    /// For a ryw read through the router: the floor it required; for a ryw write: the
    /// position captured (as text; `None` when unknown or not reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// One fault the nemesis applied (or tried to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// When it started, in nanoseconds since the run started.
    pub start_ns: u64,
    /// When the control returned.
    pub end_ns: u64,
    /// The fault's name (`freeze_replica`, …).
    pub fault: String,
    /// Its parameters, human-readable.
    pub detail: String,
    /// `None` when applied, else the control's error.
    pub error: Option<String>,
}

/// One line of a history file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A run header: what produced the history.
    Run {
        /// Backend name.
        backend: String,
        /// The nemesis seed.
        seed: u64,
        /// Free-form settings.
        settings: String,
    },
    /// A client operation.
    Op(Op),
    /// A fault event.
    Fault(FaultRecord),
}

/// A whole history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Events in the order they were recorded.
    pub events: Vec<Event>,
}

impl History {
    /// Marks every acknowledged write invoked by `before_ns` (the failover's end) whose
    /// `(scope, version)` the leader's log `present` lacks as [`Outcome::Lost`]: it committed
    /// on the old leader only, which the failover lost (its acknowledgement may come later: a
    /// capture cut by the failover is retried on the new leader). Writes invoked later are
    /// left as they are (a missing one is then the checker's to find). Returns how many were
    /// marked, per mode: `(ryw and monotonic, plain)`.
    pub fn mark_lost(
        &mut self,
        before_ns: u64,
        present: &std::collections::HashSet<(i64, i64)>,
    ) -> (u64, u64) {
        let mut lost = (0, 0);
        for e in &mut self.events {
            let Event::Op(op) = e else { continue };
            let acknowledged = op.kind == OpKind::Write && op.outcome == Outcome::Ok;
            let Some(v) = op
                .version
                .filter(|_| acknowledged && op.invoke_ns <= before_ns)
            else {
                continue;
            };
            if !present.contains(&(op.scope, v)) {
                op.outcome = Outcome::Lost;
                if op.mode == Mode::Plain {
                    lost.1 += 1;
                } else {
                    lost.0 += 1;
                }
            }
        }
        lost
    }

    /// The operations, in recording order.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.events.iter().filter_map(|e| match e {
            Event::Op(op) => Some(op),
            _ => None,
        })
    }

    /// The fault events.
    pub fn faults(&self) -> impl Iterator<Item = &FaultRecord> {
        self.events.iter().filter_map(|e| match e {
            Event::Fault(f) => Some(f),
            _ => None,
        })
    }

    /// Writes the history as JSON lines.
    ///
    /// # Errors
    /// I/O and serialisation errors.
    pub fn write_jsonl(&self, out: impl Write) -> Result<(), ProofError> {
        let mut out = std::io::BufWriter::new(out);
        for e in &self.events {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }

    /// Writes the history to `path` as JSON lines.
    ///
    /// # Errors
    /// As [`write_jsonl`](Self::write_jsonl), and creating the file.
    pub fn save(&self, path: &Path) -> Result<(), ProofError> {
        self.write_jsonl(std::fs::File::create(path)?)
    }

    /// Reads JSON lines written by [`write_jsonl`](Self::write_jsonl). Blank lines are skipped;
    /// a malformed line is an error naming its line number.
    ///
    /// # Errors
    /// [`ProofError::Line`] for a line that is not an event; I/O errors.
    pub fn read_jsonl(input: impl BufRead) -> Result<Self, ProofError> {
        let mut events = Vec::new();
        for (i, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let e = serde_json::from_str(&line).map_err(|source| ProofError::Line {
                line: i + 1,
                source,
            })?;
            events.push(e);
        }
        Ok(Self { events })
    }

    /// Reads a history file.
    ///
    /// # Errors
    /// As [`read_jsonl`](Self::read_jsonl), and opening the file.
    pub fn load(path: &Path) -> Result<Self, ProofError> {
        Self::read_jsonl(std::io::BufReader::new(std::fs::File::open(path)?))
    }
}

//! Proof of ryw's session guarantees under faults: a history recorder and checker, a seeded
//! fault schedule ("nemesis") and a workload of client sessions over real replicated servers.
//!
//! A run ([`run::run`]) starts app instances (routers sharing a Redis scope store) over a
//! `ryw-testkit` topology, drives *ryw sessions* (through the router, carrying signed tokens,
//! moving between devices and instances) and *plain sessions* (unfenced replica reads) side by
//! side, while the [`nemesis`] lags, pauses, freezes, kills and restarts replicas, restarts the
//! leader, kills its connections (also right after COMMIT, before the position capture),
//! restarts Redis and, on Postgres, fails over. Every operation and fault goes into a
//! [`History`](history::History) that can be saved as JSON lines, loaded again and checked
//! ([`checker::check`]): read-your-writes and monotonic-read violations per session and in
//! total, named as in the literature.
//!
//! The checker must bite: plain sessions under the same schedule must show violations, or the
//! run proves nothing. The CI runs (`tests/`) assert both; the `soak` binary runs it longer.

pub mod backends;
pub mod checker;
pub mod faults;
pub mod history;
pub mod nemesis;
pub mod recorder;
pub mod repo;
pub mod report;
pub mod run;
pub mod workload;

/// Everything a proof run can fail with before it runs (a failing database during the run is
/// recorded in the history instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The testkit could not start or control a server.
    #[error(transparent)]
    Testkit(#[from] ryw_testkit::TestkitError),
    /// Building a router or pool failed.
    #[error(transparent)]
    Ryw(#[from] ryw::Error),
    /// A `ryw-core` error (the store, the token codec).
    #[error(transparent)]
    Core(#[from] ryw::RywError),
    /// Reading or writing a history file.
    #[error("history file: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising an event.
    #[error("history serialisation: {0}")]
    Json(#[from] serde_json::Error),
    /// A command-line argument the soak binary cannot use.
    #[error("usage: {0}")]
    Usage(String),
    /// A line of a history file is not an event.
    #[error("history line {line}: {source}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// Why it did not parse.
        #[source]
        source: serde_json::Error,
    },
}

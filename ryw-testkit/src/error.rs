//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or controlling a topology. Messages name the
/// binary, port and log file involved.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A required server binary is not installed.
    #[error("{binary} not found (looked in {searched}) — install {package}")]
    BinaryNotFound {
        /// The binary that is missing.
        binary: String,
        /// Where it was looked for.
        searched: String,
        /// The Debian package providing it.
        package: String,
    },
    /// A required system user (e.g. `postgres` when running as root) does not exist.
    #[error("system user {0:?} not found in /etc/passwd — install postgresql (it creates it)")]
    UserNotFound(String),
    /// Spawning a process failed.
    #[error("failed to spawn {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setup command (initdb, pg_basebackup, mariadb-install-db) failed.
    #[error("{what} failed ({status}); log {log}:\n{tail}")]
    CommandFailed {
        /// What was run.
        what: String,
        /// Exit status.
        status: String,
        /// Log file of the command.
        log: PathBuf,
        /// The end of the log file.
        tail: String,
    },
    /// A server exited while we waited for it.
    #[error("{what} on port {port} exited unexpectedly ({status}); log {log}:\n{tail}")]
    Exited {
        /// Which server.
        what: String,
        /// Its port.
        port: u16,
        /// Exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of the log file.
        tail: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {timeout:?} waiting for {what} (port {port}); log {log}{detail}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// Port of the server concerned.
        port: u16,
        /// The bound.
        timeout: Duration,
        /// Log file of the server concerned.
        log: PathBuf,
        /// Extra detail (last error seen), may be empty.
        detail: String,
    },
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A PostgreSQL statement or connection failed.
    #[error("postgres on port {port}: {context}: {source}")]
    Postgres {
        /// Port of the server.
        port: u16,
        /// What we were doing.
        context: String,
        /// The driver error.
        source: tokio_postgres::Error,
    },
    /// A MariaDB or MySQL statement or connection failed.
    #[error("mariadb/mysql on port {port}: {context}: {source}")]
    MariaDb {
        /// Port of the server.
        port: u16,
        /// What we were doing.
        context: String,
        /// The driver error.
        source: mysql_async::Error,
    },
    /// A replica index out of range.
    #[error("no replica {index}: the topology has {count} replicas")]
    NoSuchReplica {
        /// The index asked for.
        index: usize,
        /// The number of replicas.
        count: usize,
    },
    /// An operation that is not possible in the current state (e.g. pausing a killed replica).
    #[error("{0}")]
    InvalidState(String),
    /// Internal failure of the testkit's runtime or supervisor thread.
    #[error("testkit internal error: {0}")]
    Internal(String),
}

impl TestkitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

//! The one error type of `ryw-diesel`.

use std::time::Duration;

use ryw_core::{Position, RywError};

/// Everything the router, the pools and the backends can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection could not be taken from a node's pool (node down, pool exhausted).
    #[error("no connection to {node}: {reason}")]
    Pool {
        /// `leader` or the replica's name.
        node: String,
        /// The pool's error.
        reason: String,
    },
    /// A statement ryw sends (capture, position probe, wait) failed.
    #[error("{what} on {node} failed: {source}")]
    Query {
        /// What ryw was doing.
        what: &'static str,
        /// `leader` or the replica's name.
        node: String,
        /// The driver error.
        #[source]
        source: diesel::result::Error,
    },
    /// A node answered something ryw cannot use (a NULL position, an unparsable value).
    #[error("{node} returned an unusable {what}: {detail}")]
    Unexpected {
        /// `leader` or the replica's name.
        node: String,
        /// What was asked.
        what: &'static str,
        /// What came back.
        detail: String,
    },
    /// A configured replica is not replicating (it is a primary, e.g. after a failover).
    #[error("{node} is not a replica (not in recovery); it is never used for fenced reads")]
    NotAReplica {
        /// The replica's name.
        node: String,
    },
    /// No replica reached the floor within the wait budget and the policy says fail.
    #[error("no replica reached {position} for scope {scope:?} within {waited:?}")]
    FenceTimeout {
        /// The scope read.
        scope: String,
        /// The floor it required.
        position: Position,
        /// How long it waited.
        waited: Duration,
    },
    /// The pools or router were configured wrongly.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A `ryw-core` error (positions, tokens, store).
    #[error(transparent)]
    Core(#[from] RywError),
}

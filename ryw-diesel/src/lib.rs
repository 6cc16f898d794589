//! # ryw-diesel
//!
//! Read-your-writes routing for [diesel-async]: a leader pool and replica pools on deadpool,
//! backends that capture commit positions and read replica positions, per-replica trackers and
//! the [`Router`] that sends each read to a replica that has seen the session's writes.
//!
//! [diesel-async]: diesel_async
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
mod circuit;
mod conn_fn;
mod connection_lost;
mod error;
mod leader_history;
pub mod pool;
pub mod repository;
pub mod router;
pub mod tracker;
mod transaction;

#[cfg(feature = "postgres")]
pub use backend::Postgres;
pub use backend::{Captured, ReplicaPosition, ReplicationBackend, WaitMethod, WaitOutcome};
#[cfg(feature = "mysql")]
pub use backend::{Dialect, Mysql};
pub use connection_lost::is_connection_lost;
pub use error::Error;
pub use pool::{Conn, PoolConfig, ReplicaPool, ReplicatedPool, ReplicatedPoolBuilder};
pub use router::{
    ApplyOn, ConnFn, DEFAULT_STORE_CAPACITY, FallbackReason, Replicated, Routed, Router,
    RouterConfig, RouterStats, ServedBy, WriteFence,
};
pub use tracker::{ReplicaStatus, TrackerConfig};

pub use repository::{AsRouter, ConnectionOf, RywRepository};
pub use ryw_macros::read_your_writes;

/// Paths the `#[read_your_writes]` expansion uses; not part of the stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::repository::{
        AsRouter, RoutedError, RywErrorTarget, RywRepository, convert_ryw_error, policy,
        preferring, read, scope_key, write, write_autocommit, write_scopes,
    };
    pub use ryw_core::{Fallback, Prefer};
}

impl Error {
    /// Wraps a diesel error from a user query (for closures whose error type is [`Error`]).
    #[must_use]
    pub fn from_diesel(source: diesel::result::Error) -> Self {
        Self::Query {
            what: "query",
            node: "routed node".into(),
            source,
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(source: diesel::result::Error) -> Self {
        Self::from_diesel(source)
    }
}

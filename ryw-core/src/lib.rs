//! # ryw-core
//!
//! The database-independent half of *read-your-writes* routing for leader/follower
//! replicated databases: after a write, the leader's log position becomes a *floor* for the
//! writer's scope (say `user_id:42`); later reads of that scope go to a replica that has
//! replayed the floor, or wait, or fall back to the leader. Everyone else reads replicas freely.
//!
//! | module | what |
//! |---|---|
//! | [`position`] | [`Lsn`](position::Lsn) (Postgres), [`GtidSet`](position::GtidSet) (MySQL 8), [`GtidList`](position::GtidList) (MariaDB): parse, print, `covers`, `merge` |
//! | [`Floors`], [`ClusterId`], [`ScopeKey`] | which position each scope of each cluster must see |
//! | [`token`] | signed, compact session tokens carrying floors between requests |
//! | [`context`] | the request-scoped floors, in a tokio task-local |
//! | [`store`] | floors shared across clients and instances ([`MemoryStore`]; `RedisStore` with the `redis` feature) |
//! | [`policy`] | wait budget and fallback |
//! | [`metrics`] | every metric series, in one place |
//! | [`warn`] | rate-limited warnings for what an operator must see |
//!
//! The guarantee is per scope: once a write for scope `v` committed, later reads for `v` see
//! it. It is not a global order: on a Postgres leader, commit visibility order can differ
//! from WAL order, so two *different* sessions may observe each other's writes in different
//! orders.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod context;
mod error;
mod floors;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod layer;
pub mod metrics;
pub mod policy;
pub mod position;
pub mod store;
pub mod token;
pub mod warn;

/// The Redis client crate (`RedisStore::new` takes its `Client`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis;

pub use context::RywContext;
pub use error::RywError;
pub use floors::{
    ClusterFloors, ClusterId, EpochHistory, Family, Floor, Floors, LostFloor, ScopeKey, ScopeValue,
    Settled,
};
pub use policy::{Fallback, LeaderBusy, Prefer, ReadPolicy};
pub use position::{Position, PositionKind};
pub use store::{EpochStamp, MemoryStore, ScopeStore, StoredFloor};
pub use token::{KeyRing, TokenCodec};

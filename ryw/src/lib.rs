//! # ryw
//!
//! *Read-your-writes* for [diesel-async] on leader/follower replicated databases, in one
//! dependency. After a write, the leader's log position (Postgres LSN, MySQL GTID set, MariaDB
//! GTID list) becomes a *floor* for the writer's scope (say `user_id:42`); that scope's next
//! reads go to a replica that has replayed it, to the leader at once, or wait a bounded time.
//! Everyone else keeps reading replicas freely.
//!
//! ```toml
//! [dependencies]
//! ryw = { version = "0.1", features = ["postgres", "tower"] }
//! ```
//!
//! | feature | what it adds |
//! |---|---|
//! | `postgres` (default) | [`Postgres`] backend on `AsyncPgConnection` |
//! | `mysql` | [`Mysql`] backend (MySQL 8/9 and MariaDB) on `AsyncMysqlConnection` |
//! | `redis` | `store::RedisStore`: floors shared by app instances (standalone Redis or Redis Cluster) |
//! | `tower` | `layer::RywLayer`: the session token in a header or cookie |
//! | `metrics` | counters and histograms through the `metrics` facade (the [monitoring](guide::monitoring) chapter names them) |
//! | `uuid` | `uuid::Uuid` as a scope value |
//!
//! ## Where things are
//!
//! | | |
//! |---|---|
//! | the root | what an application names: the [`Router`] and its [`RouterConfig`], the [`ReplicatedPool`], backends, the [`ReadPolicy`], scopes ([`ScopeKey`]), the session ([`RywContext`], [`TokenCodec`]), outcomes ([`Routed`]) and the [`read_your_writes`] attribute |
//! | [`position`] | log positions: [`Lsn`](position::Lsn), [`GtidSet`](position::GtidSet), [`GtidList`](position::GtidList) |
//! | [`store`] | scope stores: in-process, Redis, or your own ([`ScopeStore`](store::ScopeStore)) |
//! | `layer` | the tower layer carrying the session token (feature `tower`) |
//! | [`backend`] | the backend trait, for code generic over the database |
//! //! | [`guide`] | the guide: routing policies and their costs, sessions, stores, failover, monitoring, benchmarks, settings, design, testing |
//!
//! The crates this one re-exports from (`ryw-core`, `ryw-diesel`, `ryw-macros`) are building
//! blocks, exempt from semver: depend on `ryw` and name items through it.
//!
//! [diesel-async]: https://docs.rs/diesel-async
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod guide;

#[doc(inline)]
pub use ryw_core::{
    ClusterId, Fallback, KeyRing, LeaderBusy, Prefer, ReadPolicy, RywContext, RywError, ScopeKey,
    ScopeValue, TokenCodec,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[doc(inline)]
pub use ryw_diesel::Postgres;
#[doc(inline)]
pub use ryw_diesel::{
    ApplyOn, AsRouter, Conn, ConnFn, ConnectionOf, Error, FallbackReason, PoolConfig, ReplicaPool,
    ReplicaStatus, Replicated, ReplicatedPool, ReplicatedPoolBuilder, Routed, Router, RouterConfig,
    RouterStats, RywRepository, ServedBy, TrackerConfig, WriteFence, is_connection_lost,
    read_your_writes,
};
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
#[doc(inline)]
pub use ryw_diesel::{Dialect, Mysql};

/// Log positions: what a write's floor is and what a replica has replayed.
pub mod position {
    #[doc(inline)]
    pub use ryw_core::position::{GtidList, GtidSet, Lsn};
    #[doc(inline)]
    pub use ryw_core::{EpochHistory, Position, PositionKind};
    #[doc(hidden)]
    pub use ryw_core::{Family, position::LeaderHolds};
}

/// Scope stores: where floors live between requests and instances.
///
/// [`MemoryStore`](store::MemoryStore) is the router's default (one process);
/// `RedisStore` (feature `redis`) shares floors and the [position
/// feed](store::PositionFeed) among instances; implement [`ScopeStore`](store::ScopeStore)
/// for another. The [stores](crate::guide::stores) chapter compares them.
pub mod store {
    /// The Redis client crate ([`RedisStore::new`] takes its `Client`).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[doc(inline)]
    pub use ryw_core::redis;
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[doc(inline)]
    pub use ryw_core::store::RedisStore;
    #[doc(inline)]
    pub use ryw_core::store::{
        Demand, EpochStamp, FeedEntry, Lease, MemoryStore, PositionFeed, Published, ScopeStore,
        StoreFuture, StoredFloor,
    };
}

/// The tower layer: the session token in a header or cookie, the context around each request.
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod layer {
    #[doc(inline)]
    pub use ryw_core::layer::{
        CookieConfig, DEFAULT_COOKIE, DEFAULT_HEADER, LayerStats, RywLayer, RywService, SameSite,
        TokenIssuer,
    };
}

/// The backend trait, for code generic over the database (`B: ReplicationBackend`); the
/// backends are [`Postgres`] and [`Mysql`]. Adding one is a change to ryw itself: see the
/// [guide](crate::guide::backends).
pub mod backend {
    #[doc(inline)]
    pub use ryw_diesel::backend::ReplicationBackend;
    #[doc(hidden)]
    pub use ryw_diesel::backend::{Captured, Decorator, ReplicaPosition, WaitMethod, WaitOutcome};
}

/// Paths the `#[read_your_writes]` expansion uses; not part of the API.
#[doc(hidden)]
#[doc(inline)]
pub use ryw_diesel::__private;

/// Input generators for the fuzz targets (`fuzz/`); not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __internals {
    pub use ryw_core::fuzzing;
}

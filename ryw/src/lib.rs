//! # ryw
//!
//! *Read-your-writes* for [diesel-async] on leader/follower replicated databases, in one
//! dependency. After a write, the leader's log position (Postgres LSN, MySQL GTID set, MariaDB
//! GTID list) becomes a *floor* for the writer's scope (say `user_id:42`); that scope's next
//! reads go to a replica that has replayed it, wait a bounded time, or fall back to the
//! leader. Everyone else keeps reading replicas freely.
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
//! | `redis` | `RedisStore`, floors shared by app instances (standalone Redis or Redis Cluster) |
//! | `tower` | `RywLayer`: the session token in a header or cookie |
//! | `metrics` | counters and histograms through the `metrics` facade |
//! | `uuid` | `uuid::Uuid` as a scope value |
//!
//! Everything here is re-exported from `ryw-core` (positions, floors, tokens, context,
//! stores, policies) and `ryw-diesel` (pools, backends, trackers, the [`Router`], the
//! [`read_your_writes`] attribute); depend on this crate, not on those.
//!
//! [diesel-async]: https://docs.rs/diesel-async
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use ryw_core::*;
pub use ryw_diesel::*;

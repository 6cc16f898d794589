//! # Guide
//!
//! How to use ryw beyond the README's first repository, chapter by chapter. Every code block
//! here is compiled by `cargo test`.
//!
//! * [Routing policies](crate::guide::routing): latency first, replica first, named
//!   policies, monotonic reads, write fences, several scopes, instant UI, verification, and
//!   what each costs.
//! * [Sessions](crate::guide::sessions): the token, the tower layer, spawned tasks and
//!   background jobs.
//! * [Stores](crate::guide::stores): in-process, Redis and Redis Cluster scope stores,
//!   scale-out, the position feed.
//! * [Failover](crate::guide::failover): guarantees and non-guarantees, failover, outages,
//!   store loss, the proof under faults, fuzzing.
//! * [Monitoring](crate::guide::monitoring): where a read went, the metric series, the
//!   dashboard.
//! * [Benchmarks](crate::guide::benchmarks): reads and writes, round trips, strategies under
//!   lag, the scope store, the position feed.
//! * [Settings](crate::guide::settings): every setting and its default.
//! * [Design](crate::guide::design): design notes, the MySQL family, the crates, status.
//! * [Backends](crate::guide::backends): what a database backend implements, to add one.
//! * [Testing](crate::guide::testing): testing your own read-your-writes flows with
//!   `ryw-testkit`.

#[doc = include_str!("../guide/routing.md")]
pub mod routing {}

#[doc = include_str!("../guide/sessions.md")]
pub mod sessions {}

#[doc = include_str!("../guide/stores.md")]
pub mod stores {}

#[doc = include_str!("../guide/failover.md")]
pub mod failover {}

#[doc = include_str!("../guide/monitoring.md")]
pub mod monitoring {}

#[doc = include_str!("../guide/benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("../guide/settings.md")]
pub mod settings {}

#[doc = include_str!("../guide/design.md")]
pub mod design {}

#[doc = include_str!("../guide/backends.md")]
pub mod backends {}

#[doc = include_str!("../guide/testing.md")]
pub mod testing {}

//! The payments example as a library, so its integration tests can start the same service
//! (two app instances sharing Redis, say) that the binary runs.

pub mod demo;
pub mod http;
pub mod metrics;
pub mod recipe;
pub mod repo;
pub mod serve;
pub mod service;

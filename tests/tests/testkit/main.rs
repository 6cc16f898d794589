//! The testkit's own tests, written once and run against every backend's real replicated
//! topology: the suite every database runs (lag, paused replay, kills and restarts, two
//! topologies at once), then what only one database offers (Postgres promotion and
//! switchover, MySQL's leader switch) and the harsher faults.
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a test failure"
)]

mod backend;
mod client;
mod steps;
#[macro_use]
mod suite;

mod mariadb;
mod mysql;
mod postgres;

//! What a router counts, and the rate limits of its warnings.

use std::sync::atomic::AtomicU64;

use ryw_core::warn::RateLimited;

/// Counters a router keeps (always on, independent of the `metrics` feature), for tests and
/// health pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// Reads served by a replica.
    pub replica_reads: u64,
    /// Reads served by the leader.
    pub leader_reads: u64,
    /// Fenced reads that fell back to the leader or failed.
    pub fallbacks: u64,
    /// Position queries sent by the trackers, per replica (configuration order).
    pub position_queries: Vec<u64>,
    /// Floors ignored because they belong to another cluster.
    pub foreign_floors: u64,
    /// Scope store failures (the request went on without the store).
    pub store_errors: u64,
    /// Writes whose position could not be captured.
    pub uncaptured_writes: u64,
    /// Writes whose capture failed on the committing connection and succeeded on a fresh one.
    pub recaptured_writes: u64,
    /// Replica checkouts and reads abandoned at their deadline.
    pub deadline_hits: u64,
    /// Dead leader connections a write's BEGIN met and left behind for another.
    pub begin_retries: u64,
    /// Server-side wait statements sent (backends with a server-side wait).
    pub server_waits: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) replica_reads: AtomicU64,
    pub(super) leader_reads: AtomicU64,
    pub(super) fallbacks: AtomicU64,
    pub(super) foreign_floors: AtomicU64,
    pub(super) store_errors: AtomicU64,
    pub(super) uncaptured_writes: AtomicU64,
    pub(super) recaptured_writes: AtomicU64,
    pub(super) deadline_hits: AtomicU64,
    pub(super) begin_retries: AtomicU64,
    pub(super) server_waits: AtomicU64,
}

/// One rate limit per kind of warning an operator must see.
#[derive(Default)]
pub(super) struct Warnings {
    pub(super) foreign: RateLimited,
    pub(super) store: RateLimited,
    pub(super) deadline: RateLimited,
    pub(super) replica: RateLimited,
}

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
    /// Reads of a scope written without a known position, fenced by the leader's position
    /// read at that moment.
    pub unfenced_resolved: u64,
    /// Reads of a scope written without a known position sent to the leader because its
    /// position could not be read.
    pub unfenced_leader_reads: u64,
    /// Floors a failover lost (beyond the end of their epoch in the new leader's history).
    pub lost_floors: u64,
    /// New leader epochs seen (Postgres: timelines after a promotion).
    pub epoch_changes: u64,
    /// Replica reads abandoned at their deadline and run again on the leader.
    pub reads_rerun_on_leader: u64,
    /// Writes made outside any context on a router without a store: their floor went nowhere.
    pub unfenced_by_setup: u64,
    /// Reads run on a replica while the scope store answered, and kept: the replica had
    /// applied the store's floor too, so the store's round trip cost no time.
    pub store_overlapped_reads: u64,
    /// Such reads discarded because the store held a floor the replica had not applied (or
    /// a mark): routed again with the merged floor.
    pub store_overlap_redone: u64,
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
    pub(super) unfenced_resolved: AtomicU64,
    pub(super) unfenced_leader_reads: AtomicU64,
    pub(super) lost_floors: AtomicU64,
    pub(super) epoch_changes: AtomicU64,
    pub(super) reads_rerun_on_leader: AtomicU64,
    pub(super) unfenced_by_setup: AtomicU64,
    pub(super) store_overlapped_reads: AtomicU64,
    pub(super) store_overlap_redone: AtomicU64,
}

/// One rate limit per kind of warning an operator must see.
#[derive(Default)]
pub(super) struct Warnings {
    pub(super) foreign: RateLimited,
    pub(super) store: RateLimited,
    pub(super) deadline: RateLimited,
    pub(super) replica: RateLimited,
    pub(super) lost: RateLimited,
    pub(super) unfenced: RateLimited,
}

//! What a router counts (booked by its ledger) and what it knows of its replicas.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Router;
use crate::backend::ReplicationBackend;
use crate::tracker::ReplicaStatus;

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
    /// New leader epochs seen (Postgres: timelines after a promotion; MySQL and MariaDB:
    /// another server leading).
    pub epoch_changes: u64,
    /// Times the scope store was seen to have lost its data (restarted empty, flushed,
    /// failed over), each answered by fencing reads with the leader's position until every
    /// replica passed it.
    pub store_losses: u64,
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
    /// Reads bound for the leader that found its fallback slots taken.
    pub leader_busy: u64,
    /// Of those, reads that waited for a slot (or a replica reaching their floor), once each.
    pub leader_budget_waits: u64,
    /// Of those, reads that failed with `Error::LeaderBusy` (at once, or after queueing).
    pub leader_shed: u64,
    /// The most fallback reads the leader served at once.
    pub leader_fallback_peak: usize,
    /// The bound on that ([`RouterConfig::with_leader_fallback_limit`](super::RouterConfig::with_leader_fallback_limit)).
    pub leader_fallback_limit: usize,
    /// The bound on fallback reads started per second
    /// ([`RouterConfig::with_leader_fallback_rate`](super::RouterConfig::with_leader_fallback_rate)).
    pub leader_fallback_rate: Option<usize>,
    /// Fallback reads started within the last second, counted under a rate bound.
    pub leader_fallback_last_second: Option<usize>,
    /// Times the circuit on leader connections opened: connecting to the leader failed, and
    /// its checkouts failed fast while one probe at a time tried again.
    pub leader_circuit_opened: u64,
    /// Leader checkouts failed fast while that circuit was open.
    pub leader_checkouts_refused: u64,
    /// Fenced reads that went to their fallback at once, without spending their budget,
    /// because no replica was expected to reach the floor within it.
    pub waits_skipped: u64,
    /// Replica reads that met a dead pooled connection and ran again on a fresh one.
    pub dead_connections_retried: u64,
    /// Monotonic reads after which neither the serving node's position nor the leader's
    /// could be read (the session's next unfenced read was pinned to the leader).
    pub monotonic_misses: u64,
    /// Sampled fenced replica reads that passed self-verification.
    pub verified_reads: u64,
    /// Sampled reads that failed it: the replica was behind the floor, or the leader
    /// disagreed with its value. Each is also logged at `error`.
    pub verify_mismatches: u64,
    /// Sampled reads whose check could not run (the position or the leader's read failed).
    pub verify_unchecked: u64,
}

impl<B: ReplicationBackend> Router<B> {
    /// What the trackers last saw of each replica, in configuration order.
    #[must_use]
    pub fn replica_status(&self) -> Vec<(Arc<str>, ReplicaStatus)> {
        self.inner.replicas.statuses()
    }

    /// Waits until the trackers have polled every replica at least once (online or not),
    /// at most `timeout`. Useful right after start-up.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.inner.replicas.all_checked() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A snapshot of the router's counters.
    #[must_use]
    pub fn stats(&self) -> RouterStats {
        let inner = &*self.inner;
        let slots = inner.leader.slots();
        let circuit = inner.pool.leader_circuit.counts();
        RouterStats {
            position_queries: inner.replicas.queries(),
            leader_fallback_peak: slots.peak(),
            leader_fallback_limit: slots.limit(),
            leader_fallback_rate: slots.rate_limit(),
            leader_fallback_last_second: slots.rate_used(),
            leader_circuit_opened: circuit.0,
            leader_checkouts_refused: circuit.1,
            ..inner.ledger.stats()
        }
    }
}

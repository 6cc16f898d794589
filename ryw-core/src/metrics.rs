//! Every metric series ryw records, named in one place.
//!
//! With the `metrics` feature the functions below record through the `metrics` crate's facade
//! (install any recorder: Prometheus, StatsD, …); without it they compile to nothing.
//!
//! | series | kind | labels |
//! |---|---|---|
//! | `ryw_reads_total` | counter | `route` = `replica` / `leader`, `fenced` = `true` / `false` |
//! | `ryw_read_wait_seconds` | histogram | `outcome` = `caught_up` / `timed_out` |
//! | `ryw_fallbacks_total` | counter | `reason` = `latency_first` / `budget_exhausted` / `no_healthy_replica` / `unfenced` / `pinned` / `replica_deadline` / `replica_lost` / `leader_busy` (shed) |
//! | `ryw_stale_reads_total` | counter | — (reads served stale by `Fallback::Stale`) |
//! | `ryw_writes_total` | counter | `captured` = `true` / `false` |
//! | `ryw_replica_lag_bytes` | gauge | `replica` |
//! | `ryw_replica_lag_seconds` | gauge | `replica` (replay lag: the age of the oldest commit the leader had that the replica has not applied; 0 when it has everything the router knows of) |
//! | `ryw_replica_last_replay_age_seconds` | gauge | `replica` (time since the replica replayed its last commit, as the server reports it — Postgres; it grows whenever writes pause) |
//! | `ryw_replica_online` | gauge | `replica` (1 online, 0 offline) |
//! | `ryw_position_queries_total` | counter | `replica` |
//! | `ryw_feed_reads_total` | counter | `replica`, `outcome` = `fresh` / `own_poll` (a shared position feed read instead of a poll; `own_poll`: none fresh enough, so the instance polled the replica itself) |
//! | `ryw_tokens_rejected_total` | counter | `reason` |
//! | `ryw_foreign_floors_total` | counter | — (floors of another cluster ignored) |
//! | `ryw_store_errors_total` | counter | `store` |
//! | `ryw_writes_recaptured_total` | counter | — (positions lost after COMMIT, read again on a fresh connection) |
//! | `ryw_deadline_hits_total` | counter | `what` = `replica_checkout` / `replica_read` / `server_wait` |
//! | `ryw_unfenced_reads_total` | counter | `outcome` = `fenced_by_leader_position` / `leader` (reads of a scope written without a known position) |
//! | `ryw_floors_lost_total` | counter | — (floors beyond the end of their epoch after a failover: writes the failover lost) |
//! | `ryw_epoch_changes_total` | counter | — (new leader epochs seen, e.g. a Postgres promotion) |
//! | `ryw_reads_rerun_on_leader_total` | counter | — (replica reads abandoned at their deadline and run again on the leader) |
//! | `ryw_verified_reads_total` | counter | `outcome` = `ok` / `mismatch` / `unchecked` (sampled fenced replica reads re-checked against the leader) |
//! | `ryw_leader_fallback_in_flight` | gauge | — (fallback reads the leader serves now: the budget used) |
//! | `ryw_leader_fallback_budget` | gauge | `bound` = `concurrent` / `per_second` (the leader budget, set at start) |
//! | `ryw_leader_budget_waits_total` | counter | — (reads that waited because the leader was at its budget) |

#![allow(unused_variables)] // arguments are unused when the feature is off

/// Metric names.
pub mod names {
    /// Reads by route.
    pub const READS: &str = "ryw_reads_total";
    /// Time fenced reads waited for a replica.
    pub const READ_WAIT_SECONDS: &str = "ryw_read_wait_seconds";
    /// Fenced reads that fell back, by reason.
    pub const FALLBACKS: &str = "ryw_fallbacks_total";
    /// Reads knowingly served stale.
    pub const STALE_READS: &str = "ryw_stale_reads_total";
    /// Writes, by whether a position was captured.
    pub const WRITES: &str = "ryw_writes_total";
    /// Replica lag in bytes of log (where the backend can tell).
    pub const REPLICA_LAG_BYTES: &str = "ryw_replica_lag_bytes";
    /// Replica replay lag in seconds (0 when caught up).
    pub const REPLICA_LAG_SECONDS: &str = "ryw_replica_lag_seconds";
    /// Time since the replica replayed its last commit.
    pub const REPLICA_LAST_REPLAY_AGE: &str = "ryw_replica_last_replay_age_seconds";
    /// Whether the tracker sees a replica online.
    pub const REPLICA_ONLINE: &str = "ryw_replica_online";
    /// Position queries sent to replicas by trackers.
    pub const POSITION_QUERIES: &str = "ryw_position_queries_total";
    /// Reads of the shared position feed, by replica and outcome.
    pub const FEED_READS: &str = "ryw_feed_reads_total";
    /// Incoming tokens rejected, by reason.
    pub const TOKENS_REJECTED: &str = "ryw_tokens_rejected_total";
    /// Floors ignored because they belong to another cluster.
    pub const FOREIGN_FLOORS: &str = "ryw_foreign_floors_total";
    /// Scope store failures.
    pub const STORE_ERRORS: &str = "ryw_store_errors_total";
    /// Writes whose lost capture was recovered on a fresh leader connection.
    pub const WRITES_RECAPTURED: &str = "ryw_writes_recaptured_total";
    /// Replica checkouts, reads and server-side waits abandoned at their deadline.
    pub const DEADLINE_HITS: &str = "ryw_deadline_hits_total";
    /// Reads of scopes written without a known position, by how they were fenced.
    pub const UNFENCED_READS: &str = "ryw_unfenced_reads_total";
    /// Floors a failover lost.
    pub const FLOORS_LOST: &str = "ryw_floors_lost_total";
    /// New leader epochs seen.
    pub const EPOCH_CHANGES: &str = "ryw_epoch_changes_total";
    /// Counter: new lives of the scope store seen (it lost its data), each fenced by the
    /// leader's position.
    pub const STORE_LOSSES: &str = "ryw_store_losses_total";
    /// Replica reads abandoned at their deadline and run again on the leader.
    pub const READS_RERUN: &str = "ryw_reads_rerun_on_leader_total";
    /// Sampled fenced replica reads re-checked against the leader, by outcome.
    pub const VERIFIED_READS: &str = "ryw_verified_reads_total";
    /// Fallback reads the leader serves now.
    pub const LEADER_FALLBACK_IN_FLIGHT: &str = "ryw_leader_fallback_in_flight";
    /// The leader budget's bounds.
    pub const LEADER_FALLBACK_BUDGET: &str = "ryw_leader_fallback_budget";
    /// Reads that waited because the leader was at its budget.
    pub const LEADER_BUDGET_WAITS: &str = "ryw_leader_budget_waits_total";
}

/// Counts a read served by `route` (`"replica"` or `"leader"`).
pub fn read(route: &'static str, fenced: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::READS, "route" => route, "fenced" => if fenced { "true" } else { "false" })
        .increment(1);
}

/// Records how long a fenced read waited and whether a replica caught up in time.
pub fn read_wait(waited: std::time::Duration, caught_up: bool) {
    #[cfg(feature = "metrics")]
    metrics::histogram!(names::READ_WAIT_SECONDS, "outcome" => if caught_up { "caught_up" } else { "timed_out" })
        .record(waited.as_secs_f64());
}

/// Counts a fallback.
pub fn fallback(reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::FALLBACKS, "reason" => reason).increment(1);
}

/// Counts a read knowingly served stale.
pub fn stale_read() {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::STALE_READS).increment(1);
}

/// Counts a write.
pub fn write(captured: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::WRITES, "captured" => if captured { "true" } else { "false" })
        .increment(1);
}

/// Publishes a replica's lag: in log bytes (where known), its replay lag, and the time since
/// its last replayed commit (where the server reports it).
pub fn replica_lag(
    replica: &str,
    bytes: Option<u64>,
    replay: std::time::Duration,
    last_replay_age: Option<f64>,
) {
    #[cfg(feature = "metrics")]
    {
        if let Some(b) = bytes {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(names::REPLICA_LAG_BYTES, "replica" => replica.to_owned())
                .set(b as f64);
        }
        metrics::gauge!(names::REPLICA_LAG_SECONDS, "replica" => replica.to_owned())
            .set(replay.as_secs_f64());
        if let Some(s) = last_replay_age {
            metrics::gauge!(names::REPLICA_LAST_REPLAY_AGE, "replica" => replica.to_owned()).set(s);
        }
    }
}

/// Publishes whether a replica is online.
pub fn replica_online(replica: &str, online: bool) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(names::REPLICA_ONLINE, "replica" => replica.to_owned()).set(if online {
        1.0
    } else {
        0.0
    });
}

/// Counts a position query sent to a replica.
pub fn position_query(replica: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::POSITION_QUERIES, "replica" => replica.to_owned()).increment(1);
}

/// Counts a read of a replica's shared position feed: `fresh` (used instead of a poll) or
/// not (the instance polled the replica itself).
pub fn feed_read(replica: &str, fresh: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        names::FEED_READS,
        "replica" => replica.to_owned(),
        "outcome" => if fresh { "fresh" } else { "own_poll" }
    )
    .increment(1);
}

/// Counts a rejected incoming token.
pub fn token_rejected(reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::TOKENS_REJECTED, "reason" => reason).increment(1);
}

/// Counts a floor ignored because it belongs to another cluster.
pub fn foreign_floor() {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::FOREIGN_FLOORS).increment(1);
}

/// Counts a scope store failure.
pub fn store_error(store: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::STORE_ERRORS, "store" => store).increment(1);
}

/// Counts a write whose position was recovered on a fresh leader connection.
pub fn write_recaptured() {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::WRITES_RECAPTURED).increment(1);
}

/// Counts an operation abandoned at its deadline (`"replica_checkout"`, `"replica_read"`,
/// `"server_wait"`).
pub fn deadline_hit(what: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::DEADLINE_HITS, "what" => what).increment(1);
}

/// Counts a read of a scope written without a known position (`"fenced_by_leader_position"`
/// or `"leader"`).
pub fn unfenced_read(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::UNFENCED_READS, "outcome" => outcome).increment(1);
}

/// Counts floors a failover lost.
pub fn floors_lost(n: u64) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::FLOORS_LOST).increment(n);
}

/// Counts a new life of the scope store fenced (it lost its data).
pub fn store_lost() {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::STORE_LOSSES).increment(1);
}

/// Counts a new leader epoch seen.
pub fn epoch_change() {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::EPOCH_CHANGES).increment(1);
}

/// Counts a replica read run again on the leader after its deadline.
pub fn read_rerun() {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::READS_RERUN).increment(1);
}

/// Counts a sampled fenced replica read re-checked against the leader: `ok`, `mismatch` (the
/// guarantee failed) or `unchecked` (the check itself could not run).
pub fn verified_read(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::VERIFIED_READS, "outcome" => outcome).increment(1);
}

/// Sets the number of fallback reads the leader serves now.
#[allow(clippy::cast_precision_loss)] // a count of reads in flight is far below 2^52
pub fn leader_fallback_in_flight(n: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(names::LEADER_FALLBACK_IN_FLIGHT).set(n as f64);
}

/// Publishes the leader budget: its concurrent bound and, if set, its per-second bound.
#[allow(clippy::cast_precision_loss)] // configured bounds are far below 2^52
pub fn leader_fallback_budget(concurrent: usize, per_second: Option<usize>) {
    #[cfg(feature = "metrics")]
    {
        metrics::gauge!(names::LEADER_FALLBACK_BUDGET, "bound" => "concurrent")
            .set(concurrent as f64);
        if let Some(n) = per_second {
            metrics::gauge!(names::LEADER_FALLBACK_BUDGET, "bound" => "per_second").set(n as f64);
        }
    }
}

/// Counts a read that waited because the leader was at its budget.
pub fn leader_budget_wait() {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::LEADER_BUDGET_WAITS).increment(1);
}

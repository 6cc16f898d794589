//! One booking per event: the router records what happened once, and the ledger derives the
//! counter ([`RouterStats`]), the metric series and the rate-limited warning from it.

use ryw_core::warn::RateLimited;
use ryw_core::{ClusterId, LostFloor, metrics};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub(super) use super::event::{Event, Overran, Verdict};
use super::lost_once::LostOnce;
use super::stats::RouterStats;

/// The counters behind [`RouterStats`], one per booked event kind.
#[derive(Default)]
struct Counts {
    replica_reads: AtomicU64,
    leader_reads: AtomicU64,
    fallbacks: AtomicU64,
    foreign_floors: AtomicU64,
    store_errors: AtomicU64,
    uncaptured_writes: AtomicU64,
    recaptured_writes: AtomicU64,
    deadline_hits: AtomicU64,
    begin_retries: AtomicU64,
    server_waits: AtomicU64,
    unfenced_resolved: AtomicU64,
    unfenced_leader_reads: AtomicU64,
    lost_floors: AtomicU64,
    epoch_changes: AtomicU64,
    store_losses: AtomicU64,
    reads_rerun_on_leader: AtomicU64,
    unfenced_by_setup: AtomicU64,
    store_overlapped_reads: AtomicU64,
    store_overlap_redone: AtomicU64,
    leader_busy: AtomicU64,
    leader_budget_waits: AtomicU64,
    leader_shed: AtomicU64,
    waits_skipped: AtomicU64,
    dead_connections_retried: AtomicU64,
    monotonic_misses: AtomicU64,
    verified_reads: AtomicU64,
    verify_mismatches: AtomicU64,
    verify_unchecked: AtomicU64,
}

/// One rate limit per kind of warning an operator must see.
#[derive(Default)]
struct Warnings {
    foreign: RateLimited,
    store: RateLimited,
    deadline: RateLimited,
    replica: RateLimited,
    lost: RateLimited,
    unfenced: RateLimited,
    /// Set once the write-outside-any-context warning was logged.
    no_context: AtomicBool,
}

/// The router's books.
#[derive(Default)]
pub(super) struct Ledger {
    counts: Counts,
    warnings: Warnings,
    /// Lost floors booked so far (a token and the store carry the same loss).
    lost_once: LostOnce,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Ledger {
    /// Books `event`: its counter, its metric and, rate-limited, its warning.
    pub(super) fn record(&self, event: Event<'_>) {
        let c = &self.counts;
        let w = &self.warnings;
        match event {
            Event::Read {
                leader,
                fenced,
                stale,
                fallback,
            } => {
                add(
                    if leader {
                        &c.leader_reads
                    } else {
                        &c.replica_reads
                    },
                    1,
                );
                metrics::read(if leader { "leader" } else { "replica" }, fenced);
                if stale {
                    metrics::stale_read();
                }
                if let Some(reason) = fallback {
                    add(&c.fallbacks, 1);
                    metrics::fallback(reason.label());
                }
            }
            Event::FenceTimeout => {
                add(&c.fallbacks, 1);
                metrics::fallback("error");
            }
            Event::ReadWait { waited, reached } => metrics::read_wait(waited, reached),
            Event::WaitSkipped => add(&c.waits_skipped, 1),
            Event::ServerWait => add(&c.server_waits, 1),
            Event::Deadline {
                replica,
                what,
                after,
            } => {
                add(&c.deadline_hits, 1);
                metrics::deadline_hit(what.label());
                if let Some(folded) = w.deadline.check() {
                    tracing::warn!(
                        replica,
                        what = what.what(),
                        ?after,
                        folded,
                        "abandoned at its deadline: the replica does not answer"
                    );
                }
            }
            Event::ReplicaUnreachable { replica, error } => {
                if let Some(folded) = w.replica.check() {
                    tracing::warn!(replica, error = %error, folded, "replica connection failed");
                }
            }
            Event::DeadConnectionRetried => add(&c.dead_connections_retried, 1),
            Event::ReadRerun => {
                add(&c.reads_rerun_on_leader, 1);
                metrics::read_rerun();
            }
            Event::LeaderBusy { waits } => {
                add(&c.leader_busy, 1);
                if waits {
                    add(&c.leader_budget_waits, 1);
                    metrics::leader_budget_wait();
                }
            }
            Event::LeaderShed { limit, waited } => {
                add(&c.leader_shed, 1);
                metrics::fallback("leader_busy");
                if let Some(folded) = w.deadline.check() {
                    tracing::warn!(
                        limit,
                        ?waited,
                        folded,
                        "leader fallback slots all taken; read shed"
                    );
                }
            }
            Event::Write { captured } => metrics::write(captured),
            Event::BeginRetries(n) => add(&c.begin_retries, n),
            Event::Recaptured {
                scope,
                first,
                leader_changed,
            } => {
                add(&c.recaptured_writes, 1);
                metrics::write_recaptured();
                if leader_changed {
                    tracing::warn!(scope = %scope, first_error = %first, "a write acknowledged just before a leader change: its position was recaptured on the new leader, which has the write only if the old leader had shipped it (else it was lost in the failover)");
                } else {
                    tracing::info!(scope = %scope, first_error = %first, "commit position recaptured on a fresh leader connection");
                }
            }
            Event::Uncaptured { scope, first, last } => {
                add(&c.uncaptured_writes, 1);
                tracing::warn!(scope = %scope, first_error = %first, last_error = %last, "write committed but its position could not be captured");
            }
            Event::UnfencedBySetup { scope } => {
                add(&c.unfenced_by_setup, 1);
                if !w.no_context.swap(true, Ordering::Relaxed) {
                    tracing::warn!(scope = %scope, "a write outside any RywContext on a router without a store: its floor goes nowhere and later reads of the scope are not fenced (run the request in RywContext::run / the RywLayer, or build the router with Router::new or Router::with_store)");
                }
            }
            Event::UnfencedResolved => {
                add(&c.unfenced_resolved, 1);
                metrics::unfenced_read("fenced_by_leader_position");
            }
            Event::UnfencedOnLeader { scope, error } => {
                add(&c.unfenced_leader_reads, 1);
                metrics::unfenced_read("leader");
                if let Some(folded) = w.unfenced.check() {
                    tracing::warn!(scope = %scope, error = %error, folded, "a scope written without a known position cannot be fenced: reading it from the leader");
                }
            }
            Event::ForeignFloor {
                scope,
                foreign,
                ours,
            } => {
                add(&c.foreign_floors, 1);
                metrics::foreign_floor();
                if let Some(folded) = w.foreign.check() {
                    tracing::warn!(scope = %scope, foreign = %foreign, ours = %ours, folded, "ignoring a floor from another cluster (a token or store entry of another deployment?)");
                }
            }
            Event::StoreError {
                store,
                scope,
                error,
            } => {
                add(&c.store_errors, 1);
                metrics::store_error(store);
                if let Some(folded) = w.store.check() {
                    tracing::warn!(scope = %scope, error = %error, folded, "scope store failed; the context and token still carry the floor");
                }
            }
            Event::StoreOverlapped => add(&c.store_overlapped_reads, 1),
            Event::StoreOverlapRedone => add(&c.store_overlap_redone, 1),
            Event::EpochChange { cluster, epoch } => {
                add(&c.epoch_changes, 1);
                metrics::epoch_change();
                tracing::warn!(cluster = %cluster, epoch, "the leader is on a new epoch (failover): floors of earlier epochs are reconciled with its history");
            }
            Event::LeaderChanged { cluster, server } => {
                add(&c.epoch_changes, 1);
                metrics::epoch_change();
                tracing::warn!(cluster = %cluster, server, "another server leads (failover or switchover): floors naming the old leader that the new one lacks are settled");
            }
            Event::FloorsLost { cluster, lost } => self.floors_lost(cluster, lost),
            Event::StoreLost { fence } => {
                add(&c.store_losses, 1);
                metrics::store_lost();
                tracing::warn!(fence = %fence, "the scope store lost its data: every read is fenced by the leader's position until each replica has passed it");
            }
            Event::MonotonicMiss => {
                add(&c.monotonic_misses, 1);
                tracing::warn!(
                    "could not read the position after a monotonic read, nor the leader's; the session's next unfenced read goes to the leader"
                );
            }
            Event::Verified(verdict) => {
                let (counter, label) = match verdict {
                    Verdict::Ok => (&c.verified_reads, "ok"),
                    Verdict::Mismatch => (&c.verify_mismatches, "mismatch"),
                    Verdict::Unchecked => (&c.verify_unchecked, "unchecked"),
                };
                add(counter, 1);
                metrics::verified_read(label);
            }
        }
    }

    fn floors_lost(&self, cluster: &ClusterId, lost: &[LostFloor]) {
        let lost = self.lost_once.first_seen(lost);
        let Some(first) = lost.first() else {
            return;
        };
        let n = lost.len() as u64;
        add(&self.counts.lost_floors, n);
        metrics::floors_lost(n);
        if let Some(folded) = self.warnings.lost.check() {
            tracing::warn!(
                cluster = %cluster,
                scope = first.scope.as_ref().map_or("<session>", |s| s.as_str()),
                epoch = first.epoch,
                lost = %first.lost,
                kept = %first.kept,
                floors = lost.len(),
                folded,
                "writes acknowledged before a failover are not in the new leader's history"
            );
        }
    }

    /// The counters as [`RouterStats`]; the parts fill in what they keep themselves
    /// (position queries, leader slots).
    pub(super) fn stats(&self) -> RouterStats {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RouterStats {
            replica_reads: get(&c.replica_reads),
            leader_reads: get(&c.leader_reads),
            fallbacks: get(&c.fallbacks),
            position_queries: Vec::new(),
            foreign_floors: get(&c.foreign_floors),
            store_errors: get(&c.store_errors),
            uncaptured_writes: get(&c.uncaptured_writes),
            recaptured_writes: get(&c.recaptured_writes),
            deadline_hits: get(&c.deadline_hits),
            begin_retries: get(&c.begin_retries),
            server_waits: get(&c.server_waits),
            unfenced_resolved: get(&c.unfenced_resolved),
            unfenced_leader_reads: get(&c.unfenced_leader_reads),
            lost_floors: get(&c.lost_floors),
            epoch_changes: get(&c.epoch_changes),
            store_losses: get(&c.store_losses),
            reads_rerun_on_leader: get(&c.reads_rerun_on_leader),
            unfenced_by_setup: get(&c.unfenced_by_setup),
            store_overlapped_reads: get(&c.store_overlapped_reads),
            store_overlap_redone: get(&c.store_overlap_redone),
            leader_busy: get(&c.leader_busy),
            leader_budget_waits: get(&c.leader_budget_waits),
            leader_shed: get(&c.leader_shed),
            leader_fallback_peak: 0,
            leader_fallback_limit: 0,
            leader_fallback_rate: None,
            leader_fallback_last_second: None,
            leader_circuit_opened: 0,
            leader_checkouts_refused: 0,
            waits_skipped: get(&c.waits_skipped),
            dead_connections_retried: get(&c.dead_connections_retried),
            monotonic_misses: get(&c.monotonic_misses),
            verified_reads: get(&c.verified_reads),
            verify_mismatches: get(&c.verify_mismatches),
            verify_unchecked: get(&c.verify_unchecked),
        }
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;

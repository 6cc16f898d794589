//! Online self-verification: a deployment that proves its own guarantee as it runs.
//!
//! One in [`RouterConfig::with_verification`] reads is sampled; a sampled read that was fenced
//! and served by a replica is checked against the leader after it returned: the replica's position read right after the read, on
//! the same connection, must cover the floor the read was fenced by; and with
//! [`Router::read_verified`], the same closure run on the leader must agree with the replica's
//! value by the application's own comparison (the leader has every write, so a replica value
//! it disagrees with is a missed write — unless others wrote the data since, which the
//! comparison is there to allow). Mismatches are counted, logged at `error` and exported
//! (`ryw_verified_reads_total{outcome="mismatch"}`).

use std::sync::atomic::{AtomicU64, Ordering};

use ryw_core::{Position, ReadPolicy, ScopeKey};

use super::Router;
use super::ledger::{Event, Verdict};
use super::outcome::Routed;
use crate::Error;
use crate::backend::ReplicationBackend;
use crate::conn_fn::ConnFn;

/// Which reads are sampled: one in `every`.
pub(super) struct Sampler {
    every: u32,
    tick: AtomicU64,
}

impl Sampler {
    pub(super) fn new(every: u32) -> Self {
        Self {
            every,
            tick: AtomicU64::new(0),
        }
    }

    /// Whether the next read is one to check.
    pub(super) fn sample(&self) -> bool {
        self.every > 0
            && self
                .tick
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(u64::from(self.every))
    }
}

impl<B: ReplicationBackend> Router<B> {
    /// Whether this read is one to check (one in `verify_one_in`).
    pub(super) fn sample(&self) -> bool {
        self.inner.sampler.sample()
    }

    /// The position check of a sampled read, on the connection of replica `i` that served it.
    pub(super) async fn verify_position(
        &self,
        conn: &mut B::Connection,
        i: usize,
        scope: &ScopeKey,
        floor: &Position,
    ) {
        let replicas = &self.inner.replicas;
        let verdict = match replicas.position_on(i, conn).await {
            Some(applied) if applied.covers(floor).unwrap_or(false) => Verdict::Ok,
            Some(applied) => {
                let replica = replicas.name(i);
                tracing::error!(scope = %scope, %replica, floor = %floor, applied = %applied, "self-verification: a fenced read was served by a replica behind its floor");
                Verdict::Mismatch
            }
            None => Verdict::Unchecked,
        };
        self.inner.ledger.record(Event::Verified(verdict));
    }

    /// As [`read_with`](Self::read_with), and when this read is sampled for verification
    /// ([`RouterConfig::with_verification`](super::RouterConfig::with_verification)) and a replica
    /// served it, `f` runs once more on the leader and `agree(replica_value, leader_value)`
    /// must hold — e.g. equality for data only this session writes, "the replica's version is
    /// at least the one I wrote" for shared data. A disagreement is a mismatch (counted,
    /// logged at `error`, exported); the caller still gets the replica's value, as an
    /// unverified read would.
    ///
    /// # Errors
    /// As [`read_with`](Self::read_with).
    pub async fn read_verified<R, E, F, A>(
        &self,
        scope: &ScopeKey,
        policy: &ReadPolicy,
        f: F,
        agree: A,
    ) -> Result<Routed<R>, E>
    where
        A: FnOnce(&R, &R) -> bool + Send,
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let sampled = self.sample();
        let read = self.read_sampled(scope, policy, f.clone(), sampled).await?;
        if !sampled || read.position.is_none() || read.served_by.is_leader() || read.stale {
            return Ok(read);
        }
        let verdict = match self.inner.leader.run_read(f).await.map(|(v, _)| v) {
            Ok(v) if agree(&read.value, &v) => Verdict::Ok,
            Ok(_) => {
                tracing::error!(scope = %scope, served_by = ?read.served_by, "self-verification: a fenced replica read disagrees with the leader");
                Verdict::Mismatch
            }
            Err(_) => Verdict::Unchecked,
        };
        self.inner.ledger.record(Event::Verified(verdict));
        Ok(read)
    }
}

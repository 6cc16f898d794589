//! Online self-verification: a deployment that proves its own guarantee as it runs.
//!
//! One in [`RouterConfig::verify_one_in`] reads is sampled; a sampled read that was fenced
//! and served by a replica is checked against the leader after it returned: the replica's position read right after the read, on
//! the same connection, must cover the floor the read was fenced by; and with
//! [`Router::read_verified`], the same closure run on the leader must agree with the replica's
//! value by the application's own comparison (the leader has every write, so a replica value
//! it disagrees with is a missed write — unless others wrote the data since, which the
//! comparison is there to allow). Mismatches are counted, logged at `error` and exported
//! (`ryw_verified_reads_total{outcome="mismatch"}`).

use std::sync::atomic::Ordering;

use ryw_core::{Position, ReadPolicy, ScopeKey, metrics};

use super::*;

/// What a sampled read's check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Mismatch,
    Unchecked,
}

impl<B: ReplicationBackend> Router<B> {
    /// Whether this fenced replica read is one to check (one in `verify_one_in`).
    pub(super) fn sample(&self) -> bool {
        let every = self.inner.config.verify_one_in;
        every > 0
            && self
                .inner
                .counters
                .verify_tick
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(u64::from(every))
    }

    /// The position check of a sampled read, on the connection that served it.
    pub(super) async fn verify_position(
        &self,
        conn: &mut B::Connection,
        replica: &str,
        scope: &ScopeKey,
        floor: &Position,
    ) -> bool {
        let within = self.inner.config.replica_checkout_timeout;
        let at = self.inner.pool.backend.replica_position(conn, replica);
        let verdict = match tokio::time::timeout(within, at).await {
            Ok(Ok(p)) if p.applied.covers(floor).unwrap_or(false) => Verdict::Ok,
            Ok(Ok(p)) => {
                tracing::error!(scope = %scope, %replica, floor = %floor, applied = %p.applied, "self-verification: a fenced read was served by a replica behind its floor");
                Verdict::Mismatch
            }
            _ => Verdict::Unchecked,
        };
        self.record_verdict(verdict);
        verdict != Verdict::Mismatch
    }

    fn record_verdict(&self, verdict: Verdict) {
        let c = &self.inner.counters;
        let (counter, label) = match verdict {
            Verdict::Ok => (&c.verified_reads, "ok"),
            Verdict::Mismatch => (&c.verify_mismatches, "mismatch"),
            Verdict::Unchecked => (&c.verify_unchecked, "unchecked"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::verified_read(label);
    }

    /// As [`read_with`](Self::read_with), and when this read is sampled for verification
    /// ([`RouterConfig::verify_one_in`]) and a replica served it, `f` runs once more on the
    /// leader and `agree(replica_value, leader_value)` must hold — e.g. equality for data
    /// only this session writes, "the replica's version is at least the one I wrote" for
    /// shared data. A disagreement is a mismatch (counted, logged at `error`, exported); the
    /// caller still gets the replica's value, as an unverified read would.
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
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Clone + Send,
        E: From<Error> + Send,
        R: Send,
        A: FnOnce(&R, &R) -> bool + Send,
    {
        let sampled = self.sample();
        let read = self.read_sampled(scope, policy, f.clone(), sampled).await?;
        if !sampled || read.position.is_none() || read.served_by.is_leader() || read.stale {
            return Ok(read);
        }
        let leader = async {
            let mut conn = self.leader_conn().await.map_err(E::from)?;
            f(&mut conn).await
        };
        let verdict = match leader.await {
            Ok(v) if agree(&read.value, &v) => Verdict::Ok,
            Ok(_) => {
                tracing::error!(scope = %scope, served_by = ?read.served_by, "self-verification: a fenced replica read disagrees with the leader");
                Verdict::Mismatch
            }
            Err(_) => Verdict::Unchecked,
        };
        self.record_verdict(verdict);
        Ok(read)
    }
}

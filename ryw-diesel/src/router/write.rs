//! The write path: a leader transaction, the commit position, the floors.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::{Floor, Position, RywContext, ScopeKey, metrics};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::*;

impl<B: ReplicationBackend> Router<B> {
    /// Runs `f` in a transaction on the leader, then captures the commit position and raises
    /// `scope`'s floor in the current [`RywContext`] (if any) and in the scope store.
    ///
    /// If the transaction fails it is rolled back and the error returned. If the capture fails
    /// after COMMIT (the connection died), the leader's current position is read on a fresh
    /// connection instead: it covers the commit. Only if the leader stays unreachable for
    /// [`RouterConfig::capture_retry`] is the write returned with `position: None`; the scope
    /// is then marked as written without a position in the context (so in the outgoing
    /// token) and the store, for [`ReadPolicy::unfenced_window`](ryw_core::ReadPolicy::unfenced_window), and the failure is logged and
    /// counted. Reads of a marked scope are fenced by the leader's position at read time.
    ///
    /// # Errors
    /// The closure's error, or a pool / BEGIN / COMMIT error converted into `E` (from
    /// [`Error`]).
    pub async fn write<R, E, F>(&self, scope: &ScopeKey, f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        self.write_scopes(std::slice::from_ref(scope), f).await
    }

    /// As [`write`](Self::write) for a write that changes several scopes (a user and their
    /// organisation): one transaction, one capture, and every scope's floor raised to it — in
    /// the context (so the token) and in the store in one call
    /// ([`ScopeStore::raise_many`]: one round trip on a
    /// standalone Redis).
    ///
    /// # Errors
    /// As [`write`](Self::write); [`Error::Config`] for an empty `scopes`, before anything
    /// runs.
    pub async fn write_scopes<R, E, F>(&self, scopes: &[ScopeKey], f: F) -> Result<Routed<R>, E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let Some(first) = scopes.first() else {
            return Err(E::from(Error::Config(
                "a write must name at least one scope".into(),
            )));
        };
        let span = tracing::debug_span!("ryw.write", scope = %first, scopes = scopes.len());
        async move {
            let inner = &self.inner;
            let (mut conn, retries) = begin(&inner.pool).await.map_err(E::from)?;
            inner
                .counters
                .begin_retries
                .fetch_add(retries, Ordering::Relaxed);
            let value = run_in_transaction::<B, R, E, F>(&mut conn, f).await?;
            let captured = inner.pool.backend.capture(&mut conn).await;
            drop(conn);
            let captured = match captured {
                Ok(p) => Some(p),
                Err(e) => self.recapture(first, &e).await,
            };
            metrics::write(captured.is_some());
            self.record_captured(scopes, captured.as_ref()).await;
            Ok(Routed {
                value,
                served_by: ServedBy::Leader,
                waited: Duration::ZERO,
                position: captured.map(|c| c.position),
                stale: false,
                fallback: None,
            })
        }
        .instrument(span)
        .await
    }

    /// The capture on the committing connection failed after COMMIT (the connection died, the
    /// leader restarted). The leader's current position, read on a fresh connection, covers
    /// the commit: retried within [`RouterConfig::capture_retry`]. `None` (counted, logged)
    /// when the leader stays unreachable that long.
    pub(super) async fn recapture(&self, scope: &ScopeKey, first: &Error) -> Option<Captured> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.config.capture_retry;
        let mut pause = Duration::from_millis(25);
        let mut last;
        loop {
            match self
                .leader_position_by(deadline, inner.config.capture_retry)
                .await
            {
                Ok(p) => {
                    inner
                        .counters
                        .recaptured_writes
                        .fetch_add(1, Ordering::Relaxed);
                    metrics::write_recaptured();
                    tracing::info!(scope = %scope, first_error = %first, "commit position recaptured on a fresh leader connection");
                    return Some(p);
                }
                Err(Error::Deadline { .. }) => last = "capture retry deadline passed".into(),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(400));
        }
        tracing::warn!(scope = %scope, first_error = %first, last_error = %last, "write committed but its position could not be captured");
        inner
            .counters
            .uncaptured_writes
            .fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Raises `scope`'s floor to `position` in the current context and the store, as
    /// [`write`](Self::write) does after its own capture (for writes made outside the router).
    /// The position is taken to be on the leader's current epoch. `None` marks the scope as
    /// written without a known position.
    pub async fn record_write(&self, scope: &ScopeKey, position: Option<&Position>) {
        let captured = position.map(|p| Captured {
            position: p.clone(),
            epoch: self.inner.epochs.current(),
        });
        self.record_captured(std::slice::from_ref(scope), captured.as_ref())
            .await;
    }

    async fn record_captured(&self, scopes: &[ScopeKey], captured: Option<&Captured>) {
        let inner = &self.inner;
        let ctx = RywContext::current();
        let Some(first) = scopes.first() else {
            return;
        };
        let Some(captured) = captured else {
            for scope in scopes {
                self.mark_unfenced(ctx.as_ref(), scope).await;
            }
            return;
        };
        self.observe_epoch(captured.epoch).await;
        let position = &captured.position;
        if ctx.is_none() && inner.store.is_none() {
            inner
                .counters
                .unfenced_by_setup
                .fetch_add(1, Ordering::Relaxed);
            if !inner.warned_no_context.swap(true, Ordering::Relaxed) {
                tracing::warn!(scope = %first, "a write outside any RywContext on a router without a store: its floor goes nowhere and later reads of the scope are not fenced (run the request in RywContext::run / the RywLayer, or build the router with Router::new or Router::with_store)");
            }
        }
        if let Some(ctx) = ctx {
            for scope in scopes {
                let floor = Floor::new(position.clone()).with_epoch(captured.epoch);
                if let Err(e) = ctx.raise_floor(&inner.cluster, scope, floor) {
                    tracing::warn!(scope = %scope, error = %e, "could not raise the context floor");
                }
            }
        }
        // The trackers poll at the pending cadence until their replica has it (no poll per
        // write: a burst of writes costs each replica one poll per interval).
        inner.history.record(Instant::now(), position);
        inner.leader_hint.send_if_modified(|hint| match hint {
            Some(h) if h.covers(position).unwrap_or(true) => false,
            _ => {
                *hint = Some(position.clone());
                true
            }
        });
        if let Some(store) = &inner.store
            && let Err(e) = store
                .raise_many(&inner.cluster, scopes, position, inner.config.store_ttl)
                .await
        {
            self.store_failed(store.name(), first, &e);
        }
    }

    /// A write of `scope` committed without a known position: mark the scope in the context
    /// (and so the outgoing token) and in the store, unless the policy turned marks off.
    async fn mark_unfenced(&self, ctx: Option<&RywContext>, scope: &ScopeKey) {
        let inner = &self.inner;
        let window = inner.config.policy.unfenced_window;
        if window.is_zero() {
            return;
        }
        if let Some(ctx) = ctx {
            ctx.mark_unfenced_write(&inner.cluster, scope);
        }
        if let Some(store) = &inner.store
            && let Err(e) = store.mark_unfenced(&inner.cluster, scope, window).await
        {
            self.store_failed(store.name(), scope, &e);
        }
    }

    pub(super) fn store_failed(
        &self,
        store: &'static str,
        scope: &ScopeKey,
        e: &ryw_core::RywError,
    ) {
        let inner = &self.inner;
        inner.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        metrics::store_error(store);
        if let Some(folded) = inner.warnings.store.check() {
            tracing::warn!(scope = %scope, error = %e, folded, "scope store failed; the context and token still carry the floor");
        }
    }
}

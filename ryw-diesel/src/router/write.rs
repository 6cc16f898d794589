//! The write path: a leader transaction, the commit position, the floors.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::{Position, RywContext, ScopeKey, metrics};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::*;

impl<B: Backend> Router<B> {
    /// Runs `f` in a transaction on the leader, then captures the commit position and raises
    /// `scope`'s floor in the current [`RywContext`] (if any) and in the scope store.
    ///
    /// If the transaction fails it is rolled back and the error returned. If the capture fails
    /// after COMMIT (the connection died), the leader's current position is read on a fresh
    /// connection instead: it covers the commit. Only if the leader stays unreachable for
    /// [`RouterConfig::capture_retry`] is the write returned with `position: None`; the scope
    /// is then marked as written without a position (see [`ReadPolicy::sticky_window`]) and
    /// the failure is logged and counted.
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
        let span = tracing::debug_span!("ryw.write", scope = %scope);
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
            let position = match captured {
                Ok(p) => Some(p),
                Err(e) => self.recapture(scope, &e).await,
            };
            metrics::write(position.is_some());
            self.record_write(scope, position.as_ref()).await;
            Ok(Routed {
                value,
                served_by: ServedBy::Leader,
                waited: Duration::ZERO,
                position,
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
    pub(super) async fn recapture(&self, scope: &ScopeKey, first: &Error) -> Option<Position> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.config.capture_retry;
        let mut pause = Duration::from_millis(25);
        let mut last;
        loop {
            let attempt = async {
                let mut conn = inner.pool.leader().await?;
                inner.pool.backend.leader_position(&mut conn).await
            };
            match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(p)) => {
                    inner
                        .counters
                        .recaptured_writes
                        .fetch_add(1, Ordering::Relaxed);
                    metrics::write_recaptured();
                    tracing::info!(scope = %scope, first_error = %first, "commit position recaptured on a fresh leader connection");
                    return Some(p);
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "capture retry deadline passed".into(),
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
    pub async fn record_write(&self, scope: &ScopeKey, position: Option<&Position>) {
        let inner = &self.inner;
        let ctx = RywContext::current();
        let Some(position) = position else {
            if let Some(ctx) = ctx {
                ctx.mark_unfenced_write(scope);
            }
            return;
        };
        if let Some(ctx) = ctx
            && let Err(e) = ctx.raise(&inner.cluster, scope, position.clone())
        {
            tracing::warn!(scope = %scope, error = %e, "could not raise the context floor");
        }
        // Refresh the trackers now, so the next fenced read finds a current cache.
        for t in &inner.trackers {
            t.poke();
        }
        inner.leader_hint.send_if_modified(|hint| match hint {
            Some(h) if h.covers(position).unwrap_or(true) => false,
            _ => {
                *hint = Some(position.clone());
                true
            }
        });
        if let Some(store) = &inner.store
            && let Err(e) = store
                .raise(&inner.cluster, scope, position, inner.config.store_ttl)
                .await
        {
            inner.counters.store_errors.fetch_add(1, Ordering::Relaxed);
            metrics::store_error(store.name());
            if let Some(folded) = inner.warnings.store.check() {
                tracing::warn!(scope = %scope, error = %e, folded, "scope store raise failed; the context and token still carry the floor");
            }
        }
    }
}

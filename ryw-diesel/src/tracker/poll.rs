//! The loop of one tracker task: poll, publish, sleep at the cadence the waiters ask for.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use deadpool::managed::Pool;
use ryw_core::Position;
use tokio::sync::watch;

use super::{ReplicaStatus, Tracker, TrackerConfig};
use crate::backend::ReplicationBackend;

/// One poll within `timeout`. A connection whose query overran is dropped, not returned to
/// the pool (its server may still answer the abandoned query later).
async fn poll<B: ReplicationBackend>(
    name: &Arc<str>,
    backend: &B,
    pool: &Pool<B::Manager>,
    timeout: Duration,
) -> Result<crate::backend::ReplicaPosition, crate::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let overran = |what| crate::Error::Deadline {
        node: name.to_string(),
        what,
        after: timeout,
    };
    let mut conn = match tokio::time::timeout_at(deadline, pool.get()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Err(crate::Error::Pool {
                node: name.to_string(),
                reason: e.to_string(),
            });
        }
        Err(_) => return Err(overran("connection checkout for a position poll")),
    };
    match tokio::time::timeout_at(deadline, backend.replica_position(&mut conn, name)).await {
        Ok(r) => r,
        Err(_) => {
            let _ = deadpool::managed::Object::take(conn);
            Err(overran("position poll"))
        }
    }
}

/// The loop of one tracker task; ends when `shutdown` flips or the router is dropped.
pub(crate) async fn run<B: ReplicationBackend>(
    tracker: Arc<Tracker>,
    backend: B,
    pool: Pool<B::Manager>,
    config: TrackerConfig,
    leader_hint: watch::Receiver<Option<Position>>,
    changed: Arc<watch::Sender<u64>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = config.min_backoff;
    loop {
        if *shutdown.borrow() {
            return;
        }
        tracker.queries.fetch_add(1, Ordering::Relaxed);
        ryw_core::metrics::position_query(&tracker.name);
        let polled = poll(&tracker.name, &backend, &pool, config.poll_timeout).await;
        let delay = match polled {
            Ok(at) => {
                backoff = config.min_backoff;
                let lag_bytes = match (&*leader_hint.borrow(), &at.applied) {
                    (Some(Position::Lsn(l)), Position::Lsn(a)) => Some(l.bytes_since(*a)),
                    _ => None,
                };
                ryw_core::metrics::replica_lag(&tracker.name, lag_bytes, at.lag_seconds);
                ryw_core::metrics::replica_online(&tracker.name, true);
                let moved = tracker.status.send_if_modified(|s| {
                    let moved = !s.online || s.applied.as_ref() != Some(&at.applied);
                    *s = ReplicaStatus {
                        online: true,
                        applied: Some(at.applied),
                        lag_seconds: at.lag_seconds,
                        lag_bytes,
                        checked_at: Some(Instant::now()),
                        error: None,
                    };
                    moved
                });
                if moved {
                    changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                if tracker.waiters.load(Ordering::Acquire) > 0 {
                    config.busy_interval
                } else {
                    config.idle_interval
                }
            }
            Err(e) => {
                let was_online = tracker.status.borrow().online;
                if was_online {
                    tracing::warn!(replica = %tracker.name, error = %e, "replica offline");
                }
                ryw_core::metrics::replica_online(&tracker.name, false);
                tracker.status.send_modify(|s| {
                    s.online = false;
                    s.checked_at = Some(Instant::now());
                    s.error = Some(e.to_string());
                });
                if was_online {
                    changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                let d = backoff;
                backoff = (backoff * 2).min(config.max_backoff);
                d
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = tracker.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

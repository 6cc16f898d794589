//! The loop of one tracker task: poll, publish, sleep at the cadence the waiters ask for.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use deadpool::managed::Pool;
use ryw_core::Position;
use ryw_core::store::Demand;
use tokio::sync::watch;

use super::feed::{FeedLink, FeedState};
use super::{ReplicaStatus, Tracker, TrackerConfig};
use crate::backend::ReplicationBackend;
use crate::leader_history::LeaderHistory;

/// One poll within `timeout`. A connection whose query overran is dropped, not returned to
/// the pool (its server may still answer the abandoned query later). A pooled connection
/// found dead (the pools skip the per-checkout liveness query) is dropped with the pool's
/// idle ones — they most likely died with it — and the poll is tried once more on a fresh one.
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
    let mut last = None;
    for _ in 0..2 {
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
            Ok(Ok(at)) => return Ok(at),
            Ok(Err(e)) => {
                let _ = deadpool::managed::Object::take(conn);
                crate::pool::evict_idle(pool);
                last = Some(e);
            }
            Err(_) => {
                let _ = deadpool::managed::Object::take(conn);
                return Err(overran("position poll"));
            }
        }
    }
    Err(last.unwrap_or_else(|| overran("position poll")))
}

/// One poll, counted as a position query of this instance.
pub(super) async fn counted<B: ReplicationBackend>(
    tracker: &Tracker,
    backend: &B,
    pool: &Pool<B::Manager>,
    config: &TrackerConfig,
) -> Result<crate::backend::ReplicaPosition, crate::Error> {
    tracker.queries.fetch_add(1, Ordering::Relaxed);
    ryw_core::metrics::position_query(&tracker.name);
    poll(&tracker.name, backend, pool, config.poll_timeout).await
}

/// What one successful poll learned, published to the status channel; returns whether the
/// replica moved (came online or applied more).
fn publish(tracker: &Tracker, at: crate::backend::ReplicaPosition, ctx: &Ctx) -> bool {
    let lag_bytes = ctx
        .leader_hint
        .borrow()
        .as_ref()
        .and_then(|leader| leader.bytes_since(&at.applied));
    let now = tokio::time::Instant::now();
    // Replay lag: how old the oldest commit is that the leader had and this replica has not
    // applied — zero when it has everything known, however long ago its last commit was.
    let replay = ctx
        .history
        .oldest_missing(&at.applied)
        .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
    ryw_core::metrics::replica_lag(&tracker.name, lag_bytes, replay, at.lag_seconds);
    ryw_core::metrics::replica_online(&tracker.name, true);
    tracker.status.send_if_modified(|s| {
        let moved = !s.online || s.applied.as_ref() != Some(&at.applied);
        // The newest commit seen applied since the last poll gives a fresh lag sample (not
        // at the first poll: what the replica had then, it may have applied long before).
        let sample = s
            .applied
            .as_ref()
            .and_then(|before| ctx.history.newly_applied(Some(before), &at.applied))
            .map(|t| now.saturating_duration_since(t));
        *s = ReplicaStatus {
            online: true,
            applied: Some(at.applied),
            lag_seconds: at.lag_seconds,
            lag_bytes,
            replay_lag: sample.or(s.replay_lag),
            checked_at: Some(Instant::now()),
            error: None,
        };
        moved
    })
}

/// What a tracker task shares with its router besides the tracker itself.
pub(crate) struct Ctx {
    /// The leader's latest known position (lag in bytes).
    pub(crate) leader_hint: watch::Receiver<Option<Position>>,
    /// The leader's positions over time (lag in time, pending floors).
    pub(crate) history: Arc<LeaderHistory>,
    /// Bumped whenever a replica moves, for readers that wait.
    pub(crate) changed: Arc<watch::Sender<u64>>,
    /// The shared position feed, when the router's store carries one and it is on.
    pub(crate) feed: Option<FeedLink>,
}

/// The loop of one tracker task; ends when `shutdown` flips or the router is dropped.
///
/// Cadence: every `busy_interval` while a reader waits on the replica; every
/// `pending_interval` while the leader is known to have commits the replica has not applied
/// (a floor is pending); every `idle_interval` otherwise. Writes do not poll: a new leader
/// position only brings the next poll forward to `pending_interval` after the last one, so
/// however many writes land, a replica costs at most one extra poll per interval.
pub(crate) async fn run<B: ReplicationBackend>(
    tracker: Arc<Tracker>,
    backend: B,
    pool: Pool<B::Manager>,
    config: TrackerConfig,
    mut ctx: Ctx,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = config.min_backoff;
    let mut feed = ctx.feed.take().map(FeedState::new);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let demand = if tracker.waiters.load(Ordering::Acquire) > 0 {
            Demand::Waiting
        } else if pending(&tracker, &ctx) {
            Demand::Pending
        } else {
            Demand::Idle
        };
        let step_began = tokio::time::Instant::now();
        let polled = match feed.as_mut() {
            Some(f) => f.step(&tracker, &backend, &pool, &config, demand).await,
            None => counted(&tracker, &backend, &pool, &config).await,
        };
        let last_poll = tokio::time::Instant::now();
        let delay = match polled {
            Ok(at) => {
                backoff = config.min_backoff;
                if publish(&tracker, at, &ctx) {
                    ctx.changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                cadence(&config, feed.as_ref(), demand)
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
                    ctx.changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                let d = backoff;
                backoff = (backoff * 2).min(config.max_backoff);
                d
            }
        };
        // A feed's holder keeps its cadence from the start of each step, so the replica's
        // load stays one poll per interval however long a step (poll and publish) takes.
        let holds = feed.as_ref().is_some_and(FeedState::holds);
        let mut next = if holds {
            step_began + delay
        } else {
            last_poll + delay
        };
        // A lease holder with nobody asking checks, between its idle polls, whether some
        // instance asks now.
        let holds_idle = holds && delay >= config.idle_interval;
        let mut check = holds_idle.then(|| last_poll + config.pending_interval);
        loop {
            let until = check.map_or(next, |c| c.min(next));
            tokio::select! {
                () = tokio::time::sleep_until(until) => {
                    if until >= next {
                        break;
                    }
                    if let Some(f) = feed.as_mut()
                        && f.demanded(&tracker.name, config.feed_lease).await
                    {
                        break;
                    }
                    check = Some(tokio::time::Instant::now() + config.pending_interval);
                }
                () = tracker.wake.notified() => break,
                r = ctx.leader_hint.changed() => {
                    if r.is_err() {
                        return;
                    }
                    // A write: poll at the pending cadence from the last poll, not at once.
                    next = next.min(last_poll + config.pending_interval);
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// How long until the next step: without a feed, or reading it, the cadence this instance's
/// readers ask for; as the feed's holder, one cadence while any instance had demand within
/// a lease time, the idle one otherwise.
fn cadence(config: &TrackerConfig, feed: Option<&FeedState>, demand: Demand) -> Duration {
    match (feed, demand) {
        (Some(f), _) if f.holds() => {
            if f.busy() {
                config.feed_interval
            } else {
                config.idle_interval
            }
        }
        (_, Demand::Waiting) => config.busy_interval,
        (_, Demand::Pending) => config.pending_interval,
        (_, Demand::Idle) => config.idle_interval,
    }
}

/// Whether the leader is known to have commits this replica has not applied.
fn pending(tracker: &Tracker, ctx: &Ctx) -> bool {
    let status = tracker.status.borrow();
    status
        .applied
        .as_ref()
        .is_some_and(|a| ctx.history.oldest_missing(a).is_some())
}

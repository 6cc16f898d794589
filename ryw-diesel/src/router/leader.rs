//! The leader as the router sees it: its connections, its positions over time (history and
//! hint behind one [`advanced`](Leader::advanced)), its epochs, the fallback slots it lends
//! to reads, and the background poll that keeps all of that fresh while nothing is written.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ryw_core::position::LeaderHolds;
use ryw_core::{ClusterId, EpochHistory, Position, RywContext};
use tokio::sync::watch;
use tokio::time::Instant;

use super::epochs::Epochs;
use super::leader_feed::LeaderFeed;
use super::leader_holds::HeldByLeader;
use super::leader_slots::{LeaderSlots, Slot};
use super::ledger::{Event, Ledger};
use crate::Error;
use crate::backend::{Captured, ReplicationBackend};
use crate::conn_fn::{CallError, ReadFn};
use crate::leader_history::LeaderHistory;
use crate::pool::{Conn, ReplicatedPool};

/// Deadline of one epoch-history refresh (a leader checkout and two short queries).
pub(super) const REFRESH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a leader read connection that failed a read may take to answer a liveness check.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(1);
/// A latency-first read waits for a replica at most this many leader round trips …
const HEDGE_ROUND_TRIPS: u32 = 3;
/// … and never less than this (no round trip measured yet, or a leader on the same host) …
const MIN_HEDGE: Duration = Duration::from_millis(1);
/// … nor more than this (a slow or distant leader is still faster than a lagging replica).
const MAX_HEDGE: Duration = Duration::from_millis(25);

/// The leader's two pools: one for writes (and the router's position reads), one for the
/// reads it serves.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pools {
    Writes,
    Reads,
}

/// The leader part of a router.
pub(super) struct Leader<B: ReplicationBackend> {
    pub(super) pool: ReplicatedPool<B>,
    pub(super) cluster: ClusterId,
    /// The leader's positions over time: lag in time, catch-up estimates, pending floors.
    history: Arc<LeaderHistory>,
    /// The latest position known (the trackers' lag in bytes, their pending cadence).
    hint: watch::Sender<Option<Position>>,
    epochs: Epochs,
    /// The bound on fallback reads the leader serves at once.
    slots: LeaderSlots,
    pub(super) ledger: Arc<Ledger>,
    /// The leader's round trip (checkout and a position read), µs, smoothed.
    rtt_us: AtomicU64,
    /// Who leads and what it holds, where positions name servers (MySQL, MariaDB).
    pub(super) holds: HeldByLeader,
    /// The last position read for fencing, and when its read began (shared by the reads that
    /// began before it).
    pub(super) fresh: tokio::sync::Mutex<Option<(Instant, Captured)>>,
}

/// What a new router learns from the leader before it starts.
pub(super) struct Start {
    pub(super) cluster: ClusterId,
    pub(super) position: Position,
    pub(super) epochs: Option<EpochHistory>,
}

impl<B: ReplicationBackend> Leader<B> {
    /// Reads the cluster identity, position and epoch history on one leader connection.
    pub(super) async fn introduce(pool: &ReplicatedPool<B>) -> Result<Start, Error> {
        let mut conn = pool.leader().await?;
        let backend = &pool.backend;
        Ok(Start {
            cluster: backend.cluster_id(&mut conn).await?,
            position: backend.leader_position(&mut conn).await?.position,
            epochs: backend.epoch_history(&mut conn).await?,
        })
    }

    pub(super) fn new(
        pool: ReplicatedPool<B>,
        start: Start,
        slots: LeaderSlots,
        ledger: Arc<Ledger>,
    ) -> Self {
        let history = Arc::new(LeaderHistory::default());
        history.record(Instant::now(), &start.position);
        Self {
            pool,
            cluster: start.cluster,
            history,
            hint: watch::Sender::new(Some(start.position)),
            epochs: Epochs::new(start.epochs),
            slots,
            ledger,
            rtt_us: AtomicU64::new(0),
            holds: HeldByLeader::default(),
            fresh: tokio::sync::Mutex::new(None),
        }
    }

    /// How long a latency-first read may wait for a replica expected soon:
    /// [`HEDGE_ROUND_TRIPS`] leader round trips, within [`MIN_HEDGE`]..=[`MAX_HEDGE`].
    pub(super) fn hedge(&self) -> Duration {
        let rtt = Duration::from_micros(self.rtt_us.load(Ordering::Relaxed));
        (rtt * HEDGE_ROUND_TRIPS).clamp(MIN_HEDGE, MAX_HEDGE)
    }

    /// Folds one measured round trip into the smoothed one (weight 1/8, as TCP's SRTT).
    fn sample_rtt(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .rtt_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    took
                } else {
                    old - old / 8 + took / 8
                })
            });
    }

    pub(super) fn cluster(&self) -> &ClusterId {
        &self.cluster
    }

    pub(super) fn history(&self) -> &Arc<LeaderHistory> {
        &self.history
    }

    /// A receiver of the latest known leader position.
    pub(super) fn hint(&self) -> watch::Receiver<Option<Position>> {
        self.hint.subscribe()
    }

    pub(super) fn slots(&self) -> &LeaderSlots {
        &self.slots
    }

    /// The current epoch, for backends with epochs.
    pub(super) fn epoch(&self) -> Option<u32> {
        self.epochs.current()
    }

    /// The leader's epoch history as last read, if the backend has epochs.
    pub(super) fn epoch_history(&self) -> Option<EpochHistory> {
        self.epochs.history()
    }

    /// Runs a read on a connection of the leader's read pool (see [`run_on`](Self::run_on)).
    /// Returns the connection it ran on (a monotonic read reads the position there).
    pub(super) async fn run_read<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        f: F,
    ) -> Result<(R, Conn<B>), E> {
        self.run_on(Pools::Reads, f).await
    }

    /// Runs `f` on a leader connection of `pools`. Neither pool checks a connection at
    /// checkout: when `f` fails and the connection then does not answer, the pool's idle
    /// connections are dropped (they most likely died with it) and `f` runs once more on a
    /// fresh one.
    pub(super) async fn run_on<R: Send, E: CallError, F: ReadFn<B::Connection, R, E>>(
        &self,
        pools: Pools,
        f: F,
    ) -> Result<(R, Conn<B>), E> {
        let pool = match pools {
            Pools::Reads => &self.pool.leader_reads,
            Pools::Writes => &self.pool.leader,
        };
        let circuit = &self.pool.leader_circuit;
        let mut conn = circuit.checkout(pool, "leader").await.map_err(E::from)?;
        let first = match f.clone()(&mut conn).await {
            Ok(v) => return Ok((v, conn)),
            Err(e) => e,
        };
        let alive = self.pool.backend.is_alive(&mut conn);
        if matches!(
            tokio::time::timeout(LIVENESS_TIMEOUT, alive).await,
            Ok(true)
        ) {
            return Err(first);
        }
        let _ = deadpool::managed::Object::take(conn);
        crate::pool::evict_idle(pool);
        self.ledger.record(Event::DeadConnectionRetried);
        tracing::debug!(
            ?pools,
            "a pooled leader connection was dead; ran again on a fresh one"
        );
        let mut fresh = circuit.checkout(pool, "leader").await.map_err(E::from)?;
        let v = f(&mut fresh).await?;
        Ok((v, fresh))
    }

    /// The leader had `position` committed by now (a capture, a poll): one entry in the
    /// history, and a new hint when it is past the last one.
    pub(super) fn advanced(&self, position: &Position) {
        self.history.record(Instant::now(), position);
        self.hint.send_if_modified(|hint| match hint {
            Some(h) if h.covers(position).unwrap_or(true) => false,
            _ => {
                *hint = Some(position.clone());
                true
            }
        });
    }

    /// The leader's current position and epoch on a fresh connection, within `within`
    /// (the [`Error::Deadline`] names it). The position is recorded as an advance.
    pub(super) async fn position(&self, within: Duration) -> Result<Captured, Error> {
        let started = Instant::now();
        let backend = &self.pool.backend;
        let read = async {
            let at = async |c: &mut B::Connection| backend.leader_position(c).await;
            self.run_on(Pools::Writes, at).await.map(|(p, _)| p)
        };
        let captured = tokio::time::timeout(within, read)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Deadline {
                    node: "leader".into(),
                    what: "leader position",
                    after: within,
                })
            })?;
        self.sample_rtt(started.elapsed());
        self.advanced(&captured.position);
        Ok(captured)
    }

    /// The leader's position on a connection the caller holds (after a read it served).
    pub(super) async fn position_on(&self, conn: &mut B::Connection) -> Result<Captured, Error> {
        self.pool.backend.leader_position(conn).await
    }

    /// A fallback slot now, if one is free.
    pub(super) fn try_slot(&self) -> Option<Slot> {
        self.slots.try_take()
    }

    /// Re-reads the epoch history (a capture, a tracker or a floor showed a later epoch).
    /// Returns whether the epoch moved on.
    pub(super) async fn refresh_epochs(&self) -> bool {
        let backend = &self.pool.backend;
        let read = async {
            let history = async |c: &mut B::Connection| backend.epoch_history(c).await;
            self.run_on(Pools::Writes, history).await.map(|(h, _)| h)
        };
        let moved = self
            .epochs
            .refresh(async {
                match tokio::time::timeout(REFRESH_TIMEOUT, read).await {
                    Ok(r) => r,
                    Err(_) => Ok(None),
                }
            })
            .await;
        if let Some(epoch) = moved {
            let cluster = &self.cluster;
            self.ledger.record(Event::EpochChange { cluster, epoch });
        }
        moved.is_some()
    }

    /// Refreshes the history when `epoch` (from a capture or a floor) is later than known.
    pub(super) async fn observe_epoch(&self, epoch: Option<u32>) {
        if self.epochs.is_newer(epoch) {
            self.refresh_epochs().await;
        }
    }

    /// Reconciles the context's floors of this cluster with the leader's history: floors of
    /// earlier epochs inside the new history stay fences, floors beyond the end of their
    /// epoch were lost in the failover and are counted and reported.
    pub(super) async fn reconcile(&self, ctx: &RywContext) {
        let since = Instant::now();
        let suspect = |h: &LeaderHolds| ctx.any_unreachable(&self.cluster, h);
        if let Some(holds) = self.holds_to_settle(since, suspect).await {
            let lost = ctx.settle_unreachable(&self.cluster, &holds);
            let cluster = &self.cluster;
            self.ledger.record(Event::FloorsLost {
                cluster,
                lost: &lost,
            });
        }
        if self.epochs.current().is_none() {
            return;
        }
        self.observe_epoch(ctx.latest_epoch(&self.cluster)).await;
        let Some(history) = self.epochs.history() else {
            return;
        };
        let lost = ctx.reconcile_epochs(&self.cluster, &history);
        let cluster = &self.cluster;
        self.ledger.record(Event::FloorsLost {
            cluster,
            lost: &lost,
        });
    }

    /// Keeps the leader's position fresh for lag-in-bytes figures, and notices a new epoch (a
    /// failover) even while nothing is written. Ends at `shutdown`.
    pub(super) async fn poll(
        self: Arc<Self>,
        interval: Duration,
        mut feed: Option<LeaderFeed>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let fed = match feed.as_mut() {
                Some(f) => f.fed(&self).await,
                None => false,
            };
            if !fed {
                let began = std::time::SystemTime::now();
                if let Ok(p) = self.position(interval.max(Duration::from_secs(1))).await {
                    self.observe_epoch(p.epoch).await;
                    if let Some(f) = feed.as_mut() {
                        f.polled(&p, began).await;
                    }
                }
                self.refresh_holds().await;
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

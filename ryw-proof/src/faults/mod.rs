//! Applies a [`Schedule`] to a real topology, logging every control into the history.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ryw_testkit::{RedisServer, TestkitError};
use tokio::sync::watch;
use tokio::time::Instant;

mod lossy;
mod target;

pub use target::FaultTarget;

use crate::backends::CaptureFault;
use crate::nemesis::{Fault, FaultKind, Schedule};
use crate::recorder::Recorder;

/// How many captures one capture-failure event sabotages.
const CAPTURE_FAILURES_PER_EVENT: u32 = 3;
/// How many times one kill-leader-connections event kills them.
const KILL_ROUNDS: u32 = 3;

/// Runs a schedule's two streams against a topology, a Redis and the capture hook.
pub struct Nemesis<'a, T, B> {
    topo: &'a T,
    redis: &'a RedisServer,
    capture: &'a CaptureFault<B>,
    rec: &'a Recorder,
    /// Replicas that still replicate (a switchover makes one the leader).
    live: Mutex<Vec<bool>>,
    /// Turns true once a switchover or failover succeeded.
    switched: watch::Sender<bool>,
    /// Set while a lossy failover arranges the replicas' lag itself.
    lags_held: AtomicBool,
}

impl<'a, T: FaultTarget, B> Nemesis<'a, T, B> {
    /// A nemesis over these targets.
    pub fn new(
        topo: &'a T,
        redis: &'a RedisServer,
        capture: &'a CaptureFault<B>,
        rec: &'a Recorder,
    ) -> Self {
        Self {
            live: Mutex::new(vec![true; topo.replica_count()]),
            switched: watch::Sender::new(false),
            lags_held: AtomicBool::new(false),
            topo,
            redis,
            capture,
            rec,
        }
    }

    /// Turns true once a switchover succeeded (to start app instances after the failover).
    pub fn switched(&self) -> watch::Receiver<bool> {
        self.switched.subscribe()
    }

    fn live(&self) -> Vec<usize> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.then_some(i))
            .collect()
    }

    /// Maps a scheduled replica onto one that still replicates.
    fn target(&self, replica: usize) -> Option<usize> {
        let live = self.live();
        (!live.is_empty()).then(|| live[replica % live.len()])
    }

    async fn control<F, R>(&self, fault: &str, detail: String, f: F) -> Option<R>
    where
        F: Future<Output = Result<R, TestkitError>>,
    {
        let start = self.rec.now_ns();
        match f.await {
            Ok(r) => {
                self.rec.fault(start, fault, detail, None);
                Some(r)
            }
            Err(e) => {
                self.rec.fault(start, fault, detail, Some(e.to_string()));
                None
            }
        }
    }

    /// Runs both streams of `schedule` from `start` until they end or `stop` turns true.
    pub async fn run(&self, schedule: &Schedule, start: Instant, stop: watch::Receiver<bool>) {
        tokio::join!(
            self.run_lags(schedule, start, stop.clone()),
            self.run_faults(schedule, start, stop),
        );
    }

    async fn run_lags(&self, s: &Schedule, start: Instant, mut stop: watch::Receiver<bool>) {
        for (at, replica, lag) in &s.lags {
            if !sleep_until(start + *at, &mut stop).await {
                return;
            }
            if !self.live().contains(replica) || self.lags_held.load(Ordering::SeqCst) {
                continue;
            }
            let detail = format!("r{replica} {}ms", lag.as_millis());
            self.control("set_lag", detail, self.topo.set_lag(*replica, *lag))
                .await;
        }
    }

    async fn run_faults(&self, s: &Schedule, start: Instant, mut stop: watch::Receiver<bool>) {
        for (at, fault) in &s.faults {
            if !sleep_until(start + *at, &mut stop).await {
                return;
            }
            self.apply(*fault, &mut stop).await;
        }
    }

    async fn apply(&self, f: Fault, stop: &mut watch::Receiver<bool>) {
        let hold = f.hold;
        let needs_replica = matches!(
            f.kind,
            FaultKind::PauseReplay
                | FaultKind::FreezeReplica
                | FaultKind::KillReplica
                | FaultKind::Switchover
                | FaultKind::LossyFailover
        );
        let r = self.target(f.replica);
        if needs_replica && r.is_none() {
            let start = self.rec.now_ns();
            let e = Some("no replica left".to_owned());
            self.rec.fault(start, f.kind.name(), String::new(), e);
            return;
        }
        let r = r.unwrap_or(0);
        let t = self.topo;
        let name = format!("r{r}");
        match f.kind {
            FaultKind::PauseReplay => {
                self.control("pause_replay", name.clone(), t.pause_replay(r))
                    .await;
                hold_for(hold, stop).await;
                self.control("resume_replay", name, t.resume_replay(r))
                    .await;
            }
            FaultKind::FreezeReplica => {
                self.control("freeze_replica", name.clone(), t.freeze_replica(r))
                    .await;
                hold_for(hold, stop).await;
                self.control("thaw_replica", name, t.thaw_replica(r)).await;
            }
            FaultKind::KillReplica => {
                self.control("kill_replica", name.clone(), t.kill_replica(r))
                    .await;
                hold_for(hold, stop).await;
                self.control("restart_replica", name, t.restart_replica(r))
                    .await;
            }
            FaultKind::RestartLeaderFast => {
                self.control("restart_leader_fast", String::new(), t.restart_primary())
                    .await;
            }
            FaultKind::RestartLeaderImmediate => {
                let f = t.restart_primary_immediate();
                self.control("restart_leader_immediate", String::new(), f)
                    .await;
            }
            FaultKind::KillLeaderConnections => {
                for round in 0..KILL_ROUNDS {
                    let start = self.rec.now_ns();
                    match t.kill_primary_connections().await {
                        Ok(n) => self.rec.fault(
                            start,
                            "kill_leader_connections",
                            format!("round {round}: {n} killed"),
                            None,
                        ),
                        Err(e) => self.rec.fault(
                            start,
                            "kill_leader_connections",
                            format!("round {round}"),
                            Some(e.to_string()),
                        ),
                    }
                    hold_for(hold / KILL_ROUNDS, stop).await;
                }
            }
            FaultKind::CaptureFailure => {
                let start = self.rec.now_ns();
                let before = self.capture.fired();
                self.capture.arm(CAPTURE_FAILURES_PER_EVENT);
                hold_for(hold, stop).await;
                let fired = self.capture.fired() - before;
                let detail = format!("armed {CAPTURE_FAILURES_PER_EVENT}, fired {fired}");
                self.rec.fault(start, "capture_failure", detail, None);
            }
            FaultKind::RestartRedis => {
                let start = self.rec.now_ns();
                self.redis.kill().await;
                self.rec.fault(start, "kill_redis", String::new(), None);
                hold_for(hold, stop).await;
                self.control("restart_redis", String::new(), self.redis.restart())
                    .await;
            }
            FaultKind::Switchover => {
                if self
                    .control("switchover", name, t.switchover(r))
                    .await
                    .is_some()
                {
                    self.promoted(r);
                }
            }
            FaultKind::LossyFailover => self.lossy_failover(r).await,
        }
    }

    /// Replica `r` no longer replicates: it leads.
    fn promoted(&self, r: usize) {
        if let Some(l) = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(r)
        {
            *l = false;
            self.switched.send_replace(true);
        }
    }

    /// Undoes whatever a stopped schedule may have left: thaws, resumes and restarts every
    /// replica that still replicates, removes lag, and makes sure Redis runs.
    pub async fn heal(&self) {
        for r in self.live() {
            let name = format!("r{r}");
            self.control("thaw_replica", name.clone(), self.topo.thaw_replica(r))
                .await;
            self.control("set_lag", format!("{name} 0ms"), async {
                self.topo.set_lag(r, Duration::ZERO).await
            })
            .await;
            // Resuming a replica that is not paused, or that was killed, fails harmlessly.
            let _ = self.topo.resume_replay(r).await;
        }
        if self.redis_down().await {
            self.control("restart_redis", String::new(), self.redis.restart())
                .await;
        }
    }

    async fn redis_down(&self) -> bool {
        tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", self.redis.port())),
        )
        .await
        .map_or(true, |r| r.is_err())
    }
}

/// Sleeps until `at`; `false` when `stop` turned true first.
async fn sleep_until(at: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep_until(at) => {}
        _ = stop.wait_for(|s| *s) => return false,
    }
    !*stop.borrow()
}

/// Holds a fault for `d`, cut short when the run stops.
async fn hold_for(d: Duration, stop: &mut watch::Receiver<bool>) {
    let _ = sleep_until(Instant::now() + d, stop).await;
}

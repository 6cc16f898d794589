//! One proof run: app instances over a real topology, sessions of both modes, and the
//! nemesis, all in one process and one time window.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use ryw::store::RedisStore;
use ryw::store::ScopeStore;
use ryw::{Fallback, KeyRing, ReadPolicy, TokenCodec};
use ryw::{PoolConfig, ReplicatedPool, Router, RouterConfig, RouterStats, TrackerConfig};
use ryw_testkit::RedisServer;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::ProofError;
use crate::backends::{CaptureFault, ProofBackend, setup_sql};
use crate::faults::{FaultTarget, Nemesis};
use crate::history::{Event, History, Mode};
use crate::nemesis::{FaultKind, Schedule};
use crate::recorder::Recorder;
use crate::repo::ProofRepo;
use crate::workload::{Shared, WorkloadConfig, session};

/// Settings of a run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunSettings {
    /// The backend's name, for the history header.
    pub backend: String,
    /// The sessions.
    pub workload: WorkloadConfig,
    /// The faults.
    pub schedule: Schedule,
    /// App instances (routers) sharing the Redis scope store.
    pub instances: usize,
    /// The ryw sessions' read policy.
    pub policy: ReadPolicy,
}

impl RunSettings {
    /// Settings with 2 app instances and a 1 s wait budget falling back to the leader.
    #[must_use]
    pub fn new(backend: impl Into<String>, workload: WorkloadConfig, schedule: Schedule) -> Self {
        Self {
            backend: backend.into(),
            workload,
            schedule,
            instances: 2,
            policy: ReadPolicy::default()
                .with_wait_budget(Duration::from_secs(1))
                .with_fallback(Fallback::Leader),
        }
    }
}

async fn router<T: FaultTarget, B: ProofBackend>(
    topo: &T,
    backend: &CaptureFault<B>,
    store: Arc<dyn ScopeStore>,
    policy: ReadPolicy,
) -> Result<Router<CaptureFault<B>>, ProofError> {
    let mut builder = ReplicatedPool::builder(backend.clone(), topo.leader_url()).config(
        PoolConfig::default()
            .with_max_size(16)
            .with_timeouts(Duration::from_secs(2)),
    );
    for (i, url) in topo.replica_urls().into_iter().enumerate() {
        builder = builder.replica(format!("r{i}"), url);
    }
    let config = RouterConfig::default()
        .with_policy(policy)
        .with_tracker(TrackerConfig::default().with_idle_interval(Duration::from_millis(100)));
    let router = Router::with_store(builder.build()?, config, store).await?;
    router.ready(Duration::from_secs(10)).await;
    Ok(router)
}

/// What a run produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOutcome {
    /// Every operation and fault event.
    pub history: History,
    /// Each app instance's router counters at the end.
    pub routers: Vec<RouterStats>,
    /// How many captures the capture-failure fault sabotaged.
    pub captures_sabotaged: u64,
    /// Acknowledged writes a lossy failover lost (missing on the new leader), excluded from
    /// the check: `(ryw and monotonic, plain)`.
    pub lost_writes: (u64, u64),
}

/// Runs sessions of both modes against `topo` while the schedule's faults are applied, and
/// returns the history (faults included). Leaves the topology healed (what a switchover
/// changed stays changed).
///
/// # Errors
/// Setting up the table, the store or the routers failed (faults during the run are recorded,
/// not returned).
pub async fn run<T: FaultTarget, B: ProofBackend>(
    topo: &T,
    redis: &RedisServer,
    backend: B,
    settings: RunSettings,
) -> Result<RunOutcome, ProofError> {
    let cfg = settings.workload;
    let scopes = i64::from(cfg.ryw_sessions)
        + i64::from(cfg.plain_sessions)
        + i64::from(cfg.monotonic_sessions);
    topo.execute_on_primary(&setup_sql(scopes)).await?;
    topo.execute_on_primary(B::LOG_SQL).await?;
    for r in 0..topo.replica_count() {
        topo.set_lag(r, Duration::ZERO).await?;
        topo.wait_caught_up(r, Duration::from_secs(30)).await?;
    }
    let backend = CaptureFault::new(backend);
    let store: Arc<dyn ScopeStore> = Arc::new(RedisStore::from_url_with_timeout(
        &redis.url(),
        "ryw-proof:",
        Duration::from_millis(200),
    )?);
    let mut routers = Vec::with_capacity(settings.instances);
    for _ in 0..settings.instances.max(1) {
        routers.push(router(topo, &backend, Arc::clone(&store), settings.policy).await?);
    }
    let codec = TokenCodec::new(KeyRing::new(1, b"ryw-proof: a test-only signing key!")?);
    let rec = Arc::new(Recorder::new());
    rec.push(Event::Run {
        backend: settings.backend.clone(),
        seed: settings.schedule.seed,
        settings: format!("{cfg:?}"),
    });
    let start = Instant::now();
    let budget = |n: u64| AtomicI64::new(i64::try_from(n).unwrap_or(i64::MAX));
    let repos = routers.iter().cloned().map(ProofRepo::new).collect();
    let shared = Arc::new(Shared {
        routers,
        repos,
        late: tokio::sync::OnceCell::new(),
        codec,
        rec: Arc::clone(&rec),
        config: cfg,
        ryw_left: budget(cfg.ops),
        plain_left: budget(cfg.ops),
        deadline: start + cfg.duration,
        expect_late: settings
            .schedule
            .faults
            .iter()
            .any(|(_, f)| f.kind.changes_leader()),
        late_at: std::sync::OnceLock::new(),
    });
    let mut tasks = Vec::new();
    for id in 0..cfg.ryw_sessions {
        tasks.push(tokio::spawn(session(Arc::clone(&shared), id, Mode::Ryw)));
    }
    for i in 0..cfg.plain_sessions {
        let id = cfg.ryw_sessions + i;
        tasks.push(tokio::spawn(session(Arc::clone(&shared), id, Mode::Plain)));
    }
    for i in 0..cfg.monotonic_sessions {
        let id = cfg.ryw_sessions + cfg.plain_sessions + i;
        tasks.push(tokio::spawn(session(
            Arc::clone(&shared),
            id,
            Mode::RywMonotonic,
        )));
    }
    let (stop_tx, stop) = watch::channel(false);
    let nemesis = Nemesis::new(topo, redis, &backend, &rec);
    let clients = async {
        for t in tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "a session task failed");
            }
        }
        stop_tx.send_replace(true);
    };
    // After a failover a deployment restarts or adds app instances; sessions move onto one.
    let (mut switched, mut stopped) = (nemesis.switched(), stop.clone());
    let late = async {
        tokio::select! {
            r = switched.wait_for(|s| *s) => if r.is_err() { return },
            _ = stopped.wait_for(|s| *s) => return,
        }
        // The leader may be down right then (the schedule goes on): retry, bounded.
        let t = rec.now_ns();
        let mut last = String::new();
        for _ in 0..50 {
            match router(topo, &backend, Arc::clone(&store), settings.policy).await {
                Ok(r) => {
                    let detail = format!("instance {} on {}", shared.routers.len(), r.cluster());
                    let _ = shared.late.set((r.clone(), ProofRepo::new(r)));
                    let _ = shared.late_at.set(Instant::now());
                    rec.fault(t, "start_instance", detail, None);
                    return;
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = shared.late_at.set(Instant::now());
        rec.fault(t, "start_instance", String::new(), Some(last));
    };
    tokio::join!(nemesis.run(&settings.schedule, start, stop), clients, late);
    nemesis.heal().await;
    let mut history = rec.history();
    let lost_writes = mark_lost(&mut history, &shared.routers[0]).await?;
    Ok(RunOutcome {
        history,
        lost_writes,
        routers: shared
            .routers
            .iter()
            .chain(shared.late.get().map(|(r, _)| r))
            .map(Router::stats)
            .collect(),
        captures_sabotaged: backend.fired(),
    })
}

/// After a lossy failover: marks the writes acknowledged before it that the new leader's
/// log lacks as lost (see [`History::mark_lost`]).
async fn mark_lost<B: ProofBackend>(
    history: &mut History,
    router: &Router<CaptureFault<B>>,
) -> Result<(u64, u64), ProofError> {
    let failover = history
        .faults()
        .find(|f| f.fault == FaultKind::LossyFailover.name() && f.error.is_none())
        .map(|f| f.end_ns);
    let Some(before_ns) = failover else {
        return Ok((0, 0));
    };
    // The leader may still be coming back from the schedule's last fault: retried, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let logged = loop {
        let read = async {
            let mut conn = router.pool().leader().await?;
            B::logged(&mut conn).await
        };
        match read.await {
            Ok(l) => break l,
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let present: std::collections::HashSet<(i64, i64)> = logged.into_iter().collect();
    Ok(history.mark_lost(before_ns, &present))
}

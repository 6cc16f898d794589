//! The tester's fault recipe, run against the payments service as a client would: 200
//! clients pay and read their balance back carrying their tokens (plus a few plain-routing
//! clients as the baseline), while the Postgres leader restarts (fast, then immediate), its
//! client connections are terminated in a loop, a replica is frozen (SIGSTOP) for 10 s, and a
//! replica is promoted. Counted per phase: stale reads, 503s, other errors, requests with no
//! answer within the client's deadline, and read latencies.
//!
//! `cargo run -p payments --release --bin fault_recipe` prints the table.

pub mod client;

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ryw::layer::RywLayer;
use ryw::store::MemoryStore;
use ryw::{KeyRing, TokenCodec};
use ryw::{Postgres, RouterConfig};
use ryw_testkit::{Faults, PgTopology, Topology};

use crate::http::{self, Limits, StatsBody};
use crate::repo::{self, PgPayments};
use crate::service::{self, START_BALANCE};
use client::{Session, Tally};

/// How the recipe runs.
#[derive(Debug, Clone)]
pub struct RecipeConfig {
    /// Clients carrying their tokens.
    pub clients: usize,
    /// Baseline clients reading replicas plainly.
    pub plain_clients: usize,
    /// Replication lag injected on both replicas.
    pub lag: Duration,
    /// Pause between a client's rounds.
    pub think: Duration,
    /// How long each phase runs on after its fault.
    pub settle: Duration,
    /// How long the replica stays frozen.
    pub freeze: Duration,
}

impl Default for RecipeConfig {
    fn default() -> Self {
        Self {
            clients: 200,
            plain_clients: 20,
            lag: Duration::from_millis(300),
            think: Duration::from_millis(50),
            settle: Duration::from_secs(5),
            freeze: Duration::from_secs(10),
        }
    }
}

/// The phases, in order.
pub const PHASES: [&str; 6] = [
    "steady",
    "leader restart -m fast",
    "leader restart -m immediate",
    "pg_terminate_backend loop",
    "replica SIGSTOP",
    "replica promotion",
];

/// What one phase saw.
#[derive(Debug)]
pub struct PhaseReport {
    /// The phase.
    pub name: &'static str,
    /// How long it ran (fault and settling).
    pub took: Duration,
    /// What the clients saw.
    pub tally: Tally,
}

/// The whole run.
#[derive(Debug)]
pub struct RecipeReport {
    /// Per phase.
    pub phases: Vec<PhaseReport>,
    /// The service's `/stats` at the end.
    pub stats: StatsBody,
    /// The clients' deadline: a request without an answer by then is counted as hung.
    pub client_deadline: Duration,
}

impl RecipeReport {
    /// All phases together.
    #[must_use]
    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        for p in &self.phases {
            t.absorb(p.tally.clone());
        }
        t
    }
}

type BoxError = Box<dyn Error + Send + Sync>;

/// Runs the recipe on a fresh Postgres primary + 2 replicas.
///
/// # Errors
/// When the topology, the service or a fault cannot be set up.
pub async fn run(config: &RecipeConfig) -> Result<RecipeReport, BoxError> {
    let topo = PgTopology::start(2).await?;
    let users = i64::try_from(config.clients + config.plain_clients)?;
    for stmt in repo::schema(true, users, START_BALANCE) {
        topo.execute_on_primary(&stmt).await?;
    }
    for r in 0..topo.replica_count() {
        topo.wait_caught_up(r, Duration::from_secs(30)).await?;
        topo.set_lag(r, config.lag).await?;
    }
    let layer = RywLayer::new(TokenCodec::new(KeyRing::new(1, &[42u8; 32])?));
    let limits = Limits::default();
    let router = service::router(
        Postgres::new(),
        &topo.leader_url(),
        &topo.replica_urls(),
        Arc::new(MemoryStore::new(100_000)),
        RouterConfig::default(),
    )
    .await?;
    let state = service::state(
        PgPayments {
            router: router.clone(),
        },
        router,
        &layer,
    );
    let app = http::app(state, layer, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(crate::serve::serve(listener, app, limits.header_timeout));

    let client_deadline = limits.request_timeout + Duration::from_secs(5);
    let http_client = reqwest::Client::builder()
        .timeout(client_deadline)
        .build()?;
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..config.clients + config.plain_clients {
        let session = Session {
            base: base.clone(),
            user: i64::try_from(i)? + 1,
            plain: i >= config.clients,
            phase: Arc::clone(&phase),
            stop: Arc::clone(&stop),
            think: config.think,
        };
        tasks.push(tokio::spawn(client::run(
            http_client.clone(),
            session,
            PHASES.len(),
        )));
    }

    let mut took = Vec::new();
    for (i, _) in PHASES.iter().enumerate() {
        phase.store(i, Ordering::Relaxed);
        let started = Instant::now();
        let fault = fault(&topo, i, config).await;
        tokio::time::sleep(config.settle).await;
        took.push(started.elapsed());
        if let Err(e) = fault {
            stop.store(true, Ordering::Relaxed);
            server.abort();
            return Err(format!("phase {:?}: {e}", PHASES[i]).into());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut tallies = vec![Tally::default(); PHASES.len()];
    for t in tasks {
        if let Ok(per_phase) = t.await {
            for (acc, t) in tallies.iter_mut().zip(per_phase) {
                acc.absorb(t);
            }
        }
    }
    let stats = http_client
        .get(format!("{base}/stats"))
        .send()
        .await?
        .json()
        .await?;
    server.abort();
    Ok(RecipeReport {
        phases: PHASES
            .iter()
            .zip(took)
            .zip(tallies)
            .map(|((name, took), tally)| PhaseReport { name, took, tally })
            .collect(),
        stats,
        client_deadline,
    })
}

/// The fault of phase `i`.
async fn fault(topo: &PgTopology, i: usize, config: &RecipeConfig) -> Result<(), BoxError> {
    match i {
        1 => topo.restart_primary().await?,
        2 => topo.restart_primary_immediate().await?,
        3 => {
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                topo.kill_primary_connections().await?;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        4 => {
            topo.freeze_replica(0).await?;
            tokio::time::sleep(config.freeze).await;
            topo.thaw_replica(0).await?;
        }
        5 => topo.switchover(1).await?,
        _ => {}
    }
    Ok(())
}

/// Prints the report as a table: the ryw clients' columns, then the plain baseline's stale
/// reads (of reads answered) and failed requests.
#[allow(clippy::print_stdout)]
pub fn print(report: &RecipeReport) {
    println!(
        "{:<28} {:>6} {:>7} {:>7} {:>6} {:>11} {:>5} {:>5} {:>5} {:>6} {:>5} {:>8} {:>8} {:>8}",
        "phase",
        "took",
        "paid",
        "reads",
        "stale",
        "plain stale",
        "503",
        "5xx",
        "4xx",
        "conn",
        "hung",
        "p50",
        "p99",
        "max"
    );
    let mut rows: Vec<(&str, Duration, Tally)> = report
        .phases
        .iter()
        .map(|p| (p.name, p.took, p.tally.clone()))
        .collect();
    rows.push((
        "total",
        report.phases.iter().map(|p| p.took).sum(),
        report.total(),
    ));
    for (name, took, t) in rows {
        let mut l = t.read_latencies.clone();
        l.sort_unstable();
        let pct = |p: f64| -> String {
            if l.is_empty() {
                return "-".into();
            }
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let i = ((l.len() - 1) as f64 * p).round() as usize;
            format!("{:.0} ms", l[i.min(l.len() - 1)].as_secs_f64() * 1000.0)
        };
        println!(
            "{:<28} {:>5.1}s {:>7} {:>7} {:>6} {:>5} {:>5} {:>5} {:>6} {:>5} {:>8} {:>8} {:>8}   {:>5}/{:<5} {:>6}",
            name,
            took.as_secs_f64(),
            t.paid,
            t.reads,
            t.stale,
            t.unavailable,
            t.server_errors,
            t.client_errors,
            t.transport_errors,
            t.hung,
            pct(0.5),
            pct(0.99),
            pct(1.0),
            t.plain_stale,
            t.plain_reads,
            t.plain_failed
        );
    }
    println!(
        "client deadline {:?}; service stats: {}",
        report.client_deadline,
        serde_json::to_string(&report.stats).unwrap_or_default()
    );
}

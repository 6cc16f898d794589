//! The soak: longer proof runs per backend and fault mix, a table each, histories on disk.
//!
//! ```text
//! cargo run --release -p ryw-proof --bin soak -- --sessions 64 --ops 20000 --seed 7
//! cargo run --release -p ryw-proof --bin soak -- --replay /tmp/ryw-soak-postgres-all.jsonl
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ryw::{Mysql, Postgres};
use ryw_proof::checker::check;
use ryw_proof::faults::FaultTarget;
use ryw_proof::history::{History, Mode};
use ryw_proof::nemesis::{FaultKind, Schedule};
use ryw_proof::run::{RunSettings, run};
use ryw_proof::workload::WorkloadConfig;
use ryw_proof::{ProofError, report};
use ryw_testkit::{MariaDbTopology, PgTopology, RedisServer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Postgres,
    Mariadb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mix {
    /// Lag changes only.
    Lag,
    /// Lag changes and every fault the backend supports.
    All,
    /// Lag changes and the kinds named by `--faults`.
    Only,
}

/// Proof runs of ryw's session guarantees under faults, on real replicated servers.
#[derive(Debug, Parser)]
struct Args {
    /// Backends to run (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["postgres", "mariadb"])]
    backend: Vec<Backend>,
    /// Fault mixes to run per backend.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["all"])]
    mix: Vec<Mix>,
    /// ryw sessions (plain sessions: half as many).
    #[arg(long, default_value_t = 64)]
    sessions: u32,
    /// Operations per mode (ryw, plain), over all its sessions.
    #[arg(long, default_value_t = 20_000)]
    ops: u64,
    /// The longest a run may last, in seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
    /// Seed of the fault schedule and the sessions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replicas per topology.
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// Where histories go (`<dir>/ryw-soak-<backend>-<mix>.jsonl`).
    #[arg(long, default_value = "/tmp")]
    out: PathBuf,
    /// With `--mix only`: the fault kinds to draw from (`freeze_replica`, `kill_replica`, …).
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Hold every replica freeze this many seconds (default: drawn, 0.3-1.5 s).
    #[arg(long)]
    freeze_secs: Option<u64>,
    /// Check a saved history instead of running.
    #[arg(long)]
    replay: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,ryw_proof=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match main_inner(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::from(2)
        }
    }
}

/// `Ok(false)` when ryw showed a read-your-writes violation.
async fn main_inner(args: Args) -> Result<bool, ProofError> {
    if let Some(path) = &args.replay {
        return replay(path);
    }
    if let Some(bad) = args
        .faults
        .iter()
        .find(|f| !FaultKind::ALL.iter().any(|k| k.name() == f.as_str()))
    {
        let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        return Err(ProofError::Usage(format!(
            "unknown fault {bad:?}; known: {}",
            known.join(", ")
        )));
    }
    if args.mix.contains(&Mix::Only) && args.faults.is_empty() {
        return Err(ProofError::Usage("--mix only needs --faults".into()));
    }
    let mut ok = true;
    for backend in &args.backend {
        for mix in &args.mix {
            ok &= match backend {
                Backend::Postgres => {
                    let topo = PgTopology::start(args.replicas).await?;
                    soak(&args, "postgres", *mix, &topo, Postgres::new()).await?
                }
                Backend::Mariadb => {
                    let topo = MariaDbTopology::start(args.replicas).await?;
                    let b = Mysql::new().with_cluster_name("ryw-soak");
                    soak(&args, "mariadb", *mix, &topo, b).await?
                }
            };
        }
    }
    Ok(ok)
}

async fn soak<T: FaultTarget, B: ryw_proof::backends::ProofBackend>(
    args: &Args,
    name: &str,
    mix: Mix,
    topo: &T,
    backend: B,
) -> Result<bool, ProofError> {
    let redis = RedisServer::start().await?;
    let duration = Duration::from_secs(args.max_secs);
    let kinds = match mix {
        Mix::Lag => Vec::new(),
        Mix::All => FaultKind::with_leader_change(T::LEADER_CHANGE),
        Mix::Only => FaultKind::ALL
            .into_iter()
            .filter(|k| args.faults.iter().any(|f| f == k.name()))
            .collect(),
    };
    let freeze = args.freeze_secs.map(Duration::from_secs);
    let schedule = Schedule::generate_holding(args.seed, duration, args.replicas, &kinds, |k| {
        (k == FaultKind::FreezeReplica).then_some(freeze).flatten()
    });
    let workload = WorkloadConfig {
        ryw_sessions: args.sessions,
        plain_sessions: (args.sessions / 2).max(1),
        ops: args.ops,
        duration,
        seed: args.seed,
        ..WorkloadConfig::default()
    };
    let mix_name = format!("{mix:?}").to_lowercase();
    eprintln!("soak: {name}, mix {mix_name}, seed {}", args.seed);
    let outcome = run(
        topo,
        &redis,
        backend,
        RunSettings::new(name, workload, schedule),
    )
    .await?;
    let history = outcome.history;
    let path = args.out.join(format!("ryw-soak-{name}-{mix_name}.jsonl"));
    history.save(&path)?;
    let rep = check(&history);
    let title = format!(
        "{name}, faults: {mix_name}, {} ryw + {} plain sessions, seed {} (history: {})",
        workload.ryw_sessions,
        workload.plain_sessions,
        args.seed,
        path.display()
    );
    println!("{}", report::table(&title, &rep));
    println!("fault events: {}", history.faults().count());
    Ok(rep.mode(Mode::Ryw).ryw_violations == 0)
}

fn replay(path: &std::path::Path) -> Result<bool, ProofError> {
    let history = History::load(path)?;
    let rep = check(&history);
    println!(
        "{}",
        report::table(&format!("replay of {}", path.display()), &rep)
    );
    print!("{}", report::faults(&history));
    print!("{}", report::violations(&rep, None, 50));
    Ok(rep.mode(Mode::Ryw).ryw_violations == 0)
}

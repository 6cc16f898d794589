//! Read-your-writes strategies compared on the workload of `shared/ROUTING.md`, on the
//! testkit's real PostgreSQL 15 with injected replication lag (the testkit's delaying proxy).
//!
//! 16 users (tokio tasks); each iteration writes the user's own row (a version counter) and
//! reads it at once with probability 0.1, else only reads it; think time uniform 0–100 ms.
//! Every read checks staleness: a version below the user's last write is a stale read.
//! Scenarios: (a) one replica 200 ms behind, (b) one replica 50 ms behind, (c) two replicas,
//! 50 ms and 400 ms behind, and (d) the budget binds: 64 users, one replica 200 ms behind,
//! every read 10 ms on the server, a leader budget of 2 concurrent fallback reads. Strategies,
//! each for D seconds: plain replica reads, leader only, sticky 5 s (Rails / Makara), a
//! per-read position check without wait (GitLab), a per-read wait on a replica polled every
//! 5 ms up to 1 s (MaxScale causal_reads) — the anchors, hand-written on ryw's plain pools —
//! ryw's default (latency first), and ryw replica first at several wait budgets (leader
//! fallback), which form a curve. In (d), while each ryw policy runs, the leader's paused
//! reads are sampled from `pg_stat_activity` against the budget.
//!
//! Prints per scenario a markdown table (reads, leader/replica share, stale reads, p50/p99 of
//! all reads, p99 of reads right after a write, statements per read and per write counted with
//! diesel instrumentation, pool `SELECT 1` included, and the statements run outside the user
//! tasks — ryw's tracker polls — per read) and a verdict: for each correct anchor, ryw's best
//! post-write p99 among its policies that put no more reads on the leader (a point further
//! left and lower dominates), against that anchor's; and the default against leader only
//! (post-write p99) and the per-read check (leader share). Writes `docs/strategies.svg`
//! (x: leader share, y: post-write p99).
//!
//! Run: `cargo bench -p ryw-integration-tests --bench strategies` (10 s per strategy, about
//! 8 minutes), or `-- 3` for 3 s per strategy.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

#[path = "strategies/anchors.rs"]
mod anchors;
#[path = "strategies/budget.rs"]
mod budget;
#[path = "strategies/chart.rs"]
mod chart;
#[path = "strategies/workload.rs"]
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use ryw::{Fallback, Prefer, ReadPolicy};
use ryw::{PoolConfig, Postgres, ReplicatedPool, Router, RouterConfig};
use ryw_testkit::{PgTopology, Topology};
use tokio::task::JoinSet;

use chart::{Panel, Point};
use workload::{Stats, Strategy};

/// ryw replica-first wait budgets (leader fallback), ms: the points of its curve.
const BUDGETS_MS: [u64; 7] = [0, 10, 25, 50, 100, 250, 1000];

/// One scenario of the bench.
struct Scenario {
    title: &'static str,
    /// Injected lag per replica.
    lags_ms: &'static [u64],
    users: usize,
    /// Server time of every read (see `anchors::set_read_pause`).
    pause_ms: u64,
    /// The leader's budget of concurrent fallback reads (`None`: the router's default), and
    /// whether the budget table is printed.
    budget: Option<usize>,
}

/// Brings a fresh router to the steady state of a long-running service: it has seen each
/// replica apply a write, so it knows their replay lag (until then its first fenced reads
/// wait up to their whole budget, as nothing says waiting cannot pay off), and its leader
/// read pool holds as many connections as the leader budget lets reads use at once (the
/// anchors' pools are warmed the same way, so nobody's p99 is a connection being opened).
/// The write leaves every version as it was.
async fn warm_up(router: &Router<Postgres>, users: usize) {
    let scope = ryw::ScopeKey::of("warm_up", 0);
    let ctx = ryw::RywContext::new();
    ctx.clone()
        .run(router.write(&scope, async |c| {
            diesel::sql_query("UPDATE users SET v = v WHERE id = 1")
                .execute(c)
                .await
                .map_err(ryw::Error::from_diesel)
        }))
        .await
        .expect("warm-up write");
    // Right after the write no replica has it: every one of these reads is a fallback read
    // on the leader, each holding its connection a moment so the next needs another.
    let now = ReadPolicy::leader_fallback_immediately();
    let reads = (0..users).map(|_| {
        ctx.clone().run(router.read_with(&scope, &now, async |c| {
            diesel::sql_query("SELECT pg_sleep(0.02)")
                .execute(c)
                .await
                .map_err(ryw::Error::from_diesel)
        }))
    });
    for r in futures_util::future::join_all(reads).await {
        r.expect("warm-up read");
    }
    let known = async {
        while router
            .replica_status()
            .iter()
            .any(|(_, s)| s.replay_lag.is_none())
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), known)
        .await
        .expect("the trackers never saw a replica apply the warm-up write");
}

async fn topology(replicas: usize) -> PgTopology {
    let topo = PgTopology::start(replicas).await.expect("topology");
    topo.execute_on_primary(anchors::SETUP_SQL)
        .await
        .expect("schema");
    topo
}

/// One connection per user to every node, opened before the first measure.
async fn warm(pool: &ReplicatedPool<Postgres>, users: usize) {
    let mut set = JoinSet::new();
    for _ in 0..users {
        for node in 0..=pool.replicas().len() {
            let pool = pool.clone();
            set.spawn(async move {
                let mut c = match node {
                    0 => pool.leader().await,
                    n => pool.replica(n - 1).await,
                }
                .expect("connection");
                let _: i64 = diesel::select(sql::<BigInt>("1::bigint"))
                    .get_result(&mut *c)
                    .await
                    .expect("warm-up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
    }
    while let Some(r) = set.join_next().await {
        r.expect("warm-up task");
    }
}

async fn caught_up(topo: &PgTopology) {
    for r in 0..topo.replica_count() {
        topo.wait_caught_up(r, Duration::from_secs(10))
            .await
            .expect("caught up");
    }
}

fn print_table(title: &str, rows: &mut [(String, Stats)]) {
    println!("\n### {title}\n");
    println!(
        "| strategy | reads | replica | leader | stale | p50 ms | p99 ms | post-write p99 ms \
         | stmts/read | stmts/write | background stmts/read |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, s) in rows.iter_mut() {
        let reads = s.reads().max(1) as f64;
        let write_statements = s.statements.user - s.statements.reads;
        println!(
            "| {label} | {} | {:.1}% | {:.1}% | {} | {:.2} | {:.1} | {:.1} \
             | {:.2} | {:.2} | {:.2} |",
            s.reads(),
            100.0 - s.leader_pct(),
            s.leader_pct(),
            s.count.stale,
            Stats::pct_ms(&mut s.reads_us, 0.5),
            Stats::pct_ms(&mut s.reads_us, 0.99),
            Stats::pct_ms(&mut s.post_write_us, 0.99),
            s.statements.reads as f64 / reads,
            write_statements as f64 / s.count.writes.max(1) as f64,
            (s.statements.all - s.statements.user) as f64 / reads,
        );
    }
}

/// The strategies of a scenario: the anchors (all, or in the budget scenario those that
/// bound the leader's share and latency), ryw's default, ryw replica first at each budget.
fn plan(sc: &Scenario) -> Vec<(String, Option<ReadPolicy>)> {
    let anchors: &[&str] = if sc.budget.is_some() {
        &["leader only", "per-read check, no wait"]
    } else {
        &[
            "plain replica reads",
            "leader only",
            "sticky 5 s",
            "per-read check, no wait",
            "per-read wait ≤ 1 s",
        ]
    };
    let mut plan: Vec<(String, Option<ReadPolicy>)> =
        anchors.iter().map(|a| ((*a).to_owned(), None)).collect();
    plan.push(("ryw default".into(), Some(ReadPolicy::default())));
    let budgets: &[u64] = if sc.budget.is_some() {
        &[1000]
    } else {
        &BUDGETS_MS
    };
    for &ms in budgets {
        let label = if ms >= 1000 {
            format!("ryw replica first {} s", ms / 1000)
        } else {
            format!("ryw replica first {ms} ms")
        };
        let policy = ReadPolicy::default()
            .with_wait_budget(Duration::from_millis(ms))
            .with_fallback(Fallback::Leader)
            .with_prefer(Prefer::Replica);
        plan.push((label, Some(policy)));
    }
    plan
}

fn anchor(label: &str) -> Strategy {
    match label {
        "plain replica reads" => Strategy::Plain,
        "leader only" => Strategy::Leader,
        "sticky 5 s" => Strategy::Sticky(Duration::from_secs(5)),
        "per-read check, no wait" => Strategy::CheckNoWait,
        _ => Strategy::WaitThere {
            poll: Duration::from_millis(5),
            timeout: Duration::from_secs(1),
        },
    }
}

async fn scenario(topo: &PgTopology, sc: &Scenario, d: Duration) -> Panel {
    let title = sc.title;
    eprintln!("{title}: {} s per strategy", d.as_secs_f64());
    caught_up(topo).await;
    let mut pool = ReplicatedPool::builder(Postgres::new(), topo.primary_url());
    for (i, url) in topo.replica_urls().iter().enumerate() {
        pool = pool.replica(format!("r{i}"), url);
    }
    let pool = pool
        .config(PoolConfig::default().with_max_size(2 * sc.users.min(32)))
        .build()
        .expect("pool");
    for (r, lag) in sc.lags_ms.iter().enumerate() {
        topo.set_lag(r, Duration::from_millis(*lag))
            .await
            .expect("lag");
    }
    warm(&pool, sc.users).await;
    let mut versions = anchors::versions(&pool).await;
    let versions = &mut versions[..sc.users];
    anchors::set_read_pause(sc.pause_ms);

    let mut rows = Vec::new();
    let mut budget_rows = Vec::new();
    for (label, policy) in plan(sc) {
        caught_up(topo).await;
        let (strategy, ryw) = match policy {
            Some(policy) => {
                let mut config = RouterConfig::default();
                if let Some(n) = sc.budget {
                    config = config.with_leader_fallback_limit(n, Duration::from_secs(2));
                }
                let router = Router::new(pool.clone(), config).await.expect("router");
                assert!(router.ready(Duration::from_secs(5)).await, "trackers");
                warm_up(&router, sc.users).await;
                let ryw = (router.clone(), policy.wait_budget());
                (Strategy::Ryw { router, policy }, Some(ryw))
            }
            None => (anchor(&label), None),
        };
        let sampler = match (&ryw, sc.budget) {
            (Some(_), Some(_)) => Some(budget::Sampler::start(&topo.primary_url()).await),
            _ => None,
        };
        let mut stats = workload::run(&pool, strategy, versions, d).await;
        eprintln!(
            "  {label}: {} reads, {} stale",
            stats.reads(),
            stats.count.stale
        );
        if let (Some(sampler), Some((router, wait))) = (sampler, &ryw) {
            let limit = *wait + Duration::from_millis(sc.pause_ms + 100);
            budget_rows.push(budget::Row {
                label: label.clone(),
                stats: router.stats(),
                sampled: sampler.stop().await,
                past_budget: stats
                    .reads_us
                    .iter()
                    .filter(|&&us| u128::from(us) > limit.as_micros())
                    .count(),
                stale: stats.count.stale,
                max_ms: Stats::pct_ms(&mut stats.reads_us, 1.0),
            });
        }
        rows.push((label, stats));
    }
    anchors::set_read_pause(0);
    print_table(title, &mut rows);
    let points = rows
        .iter_mut()
        .map(|(label, s)| Point {
            label: label.clone(),
            x: s.leader_pct(),
            y: Stats::pct_ms(&mut s.post_write_us, 0.99),
            stale: s.count.stale,
            ryw: label.starts_with("ryw"),
            default: label == "ryw default",
        })
        .collect();
    let panel = Panel {
        title: title.to_owned(),
        points,
    };
    println!("\n{}", chart::verdict(&panel));
    if let Some(n) = sc.budget {
        println!(
            "(the anchors are bound by no leader budget: up to {} reads on the leader at once; \
             ryw at most {n})",
            sc.users
        );
    }
    println!("{}", chart::default_verdict(&panel));
    if !budget_rows.is_empty() {
        budget::print(&budget_rows);
    }
    for r in 0..sc.lags_ms.len() {
        topo.set_lag(r, Duration::ZERO).await.expect("lag");
    }
    panel
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10.0);
    let d = Duration::from_secs_f64(secs.clamp(0.5, 600.0));
    workload::count_statements();
    println!(
        "ryw strategies bench: PostgreSQL 15, {} users (64 in (d)), {} s per strategy; \
         statements include the pool's `SELECT 1` on every checkout",
        workload::USERS,
        d.as_secs_f64()
    );
    let one = |title, lags_ms| Scenario {
        title,
        lags_ms,
        users: workload::USERS,
        pause_ms: 0,
        budget: None,
    };
    let mut panels = Vec::new();
    {
        let topo = topology(1).await;
        panels.push(scenario(&topo, &one("(a) one replica, lag 200 ms", &[200]), d).await);
        panels.push(scenario(&topo, &one("(b) one replica, lag 50 ms", &[50]), d).await);
        let binds = Scenario {
            title: "(d) the budget binds: 64 users, 10 ms reads, budget 2, lag 200 ms",
            users: 64,
            pause_ms: 10,
            budget: Some(2),
            ..one("", &[200])
        };
        panels.push(scenario(&topo, &binds, d).await);
    }
    {
        let topo = topology(2).await;
        let title = "(c) two replicas, lag 50 ms and 400 ms";
        panels.insert(2, scenario(&topo, &one(title, &[50, 400]), d).await);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/strategies.svg");
    chart::write_svg(&path, &panels).expect("chart");
    let shown = path.canonicalize().unwrap_or(path);
    println!("\nchart written to {}", shown.display());
}

//! Demo mode: many users pay and immediately read their balance, once with plain replica
//! routing and once with ryw, against the same lagging replicas.

use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder, Response};

use crate::http::{BalanceBody, PayRequest, StatsBody};

/// How a mode's sessions read their balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A replica without a fence (`?routing=plain`).
    Plain,
    /// Through ryw with the default policy (latency first).
    Ryw,
    /// Through ryw, replica first (`#[read(prefer = "replica")]`, `?routing=replica`).
    ReplicaFirst,
}

impl Mode {
    fn query(self) -> &'static str {
        match self {
            Self::Plain => "?routing=plain",
            Self::Ryw => "",
            Self::ReplicaFirst => "?routing=replica",
        }
    }
}

/// What one mode measured.
#[derive(Debug, Default)]
pub struct ModeResult {
    /// Reads made.
    pub reads: u64,
    /// Reads that did not show the user's own payment.
    pub stale: u64,
    /// Read latencies.
    pub latencies: Vec<Duration>,
    /// Server-side counters, before/after difference.
    pub stats: StatsBody,
}

impl ModeResult {
    fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort_unstable();
        if v.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        v[i.min(v.len() - 1)]
    }
}

async fn stats(client: &Client, base: &str) -> Result<StatsBody, reqwest::Error> {
    client
        .get(format!("{base}/stats"))
        .send()
        .await?
        .json()
        .await
}

/// One user's session: pay, read back at once, `rounds` times, carrying the token.
async fn user_session(
    client: Client,
    base: String,
    user: i64,
    start: i64,
    rounds: u32,
    mode: Mode,
) -> Result<ModeResult, reqwest::Error> {
    let mut out = ModeResult::default();
    let mut token: Option<String> = None;
    let mut expected = start;
    for _ in 0..rounds {
        let pay = client
            .post(format!("{base}/users/{user}/payments"))
            .json(&PayRequest { cents: 1 });
        send(pay, &mut token).await?;
        expected -= 1;
        let url = format!("{base}/users/{user}/balance{}", mode.query());
        let t0 = Instant::now();
        let resp = send(client.get(url), &mut token).await?;
        let body: BalanceBody = resp.json().await?;
        out.latencies.push(t0.elapsed());
        out.reads += 1;
        if body.balance != expected {
            out.stale += 1;
        }
    }
    Ok(out)
}

/// Sends `req` with the session's token, and keeps the token its response carries.
async fn send(req: RequestBuilder, token: &mut Option<String>) -> Result<Response, reqwest::Error> {
    let req = match token.as_deref() {
        Some(t) => req.header("ryw-token", t),
        None => req,
    };
    let resp = req.send().await?.error_for_status()?;
    if let Some(t) = resp
        .headers()
        .get("ryw-token")
        .and_then(|v| v.to_str().ok())
    {
        *token = Some(t.to_owned());
    }
    Ok(resp)
}

/// Runs `users` concurrent sessions in one mode.
///
/// # Errors
/// HTTP errors from the service.
pub async fn run_mode(
    base: &str,
    first_user: i64,
    users: i64,
    start: i64,
    rounds: u32,
    mode: Mode,
) -> Result<ModeResult, reqwest::Error> {
    let client = Client::new();
    let before = stats(&client, base).await?;
    let mut tasks = Vec::new();
    for user in first_user..first_user + users {
        tasks.push(tokio::spawn(user_session(
            client.clone(),
            base.to_owned(),
            user,
            start,
            rounds,
            mode,
        )));
    }
    let mut total = ModeResult::default();
    for t in tasks {
        let Ok(r) = t.await else { continue };
        let r = r?;
        total.reads += r.reads;
        total.stale += r.stale;
        total.latencies.extend(r.latencies);
    }
    let after = stats(&client, base).await?;
    total.stats = StatsBody {
        replica_reads: after.replica_reads - before.replica_reads,
        leader_reads: after.leader_reads - before.leader_reads,
        fallbacks: after.fallbacks - before.fallbacks,
        plain_reads: after.plain_reads - before.plain_reads,
        ..after
    };
    Ok(total)
}

/// Prints the modes side by side: plain replica routing, ryw's default, ryw replica first.
#[allow(clippy::print_stdout, clippy::cast_precision_loss)]
pub fn print_table(modes: [&ModeResult; 3], lag: Duration) {
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let row = |name: &str, cell: &dyn Fn(&ModeResult) -> String| {
        let [a, b, c] = modes.map(cell);
        println!("{name:<30} {a:>22} {b:>22} {c:>22}");
    };
    println!();
    println!(
        "payments demo: each user pays 1 cent, then immediately reads the balance (replica lag {lag:?})"
    );
    let head = [
        "plain replica routing",
        "ryw (default)",
        "ryw replica first",
    ];
    println!("{:<30} {:>22} {:>22} {:>22}", "", head[0], head[1], head[2]);
    row("reads", &|m| m.reads.to_string());
    row("stale reads", &|m| {
        format!("{} ({:.1}%)", m.stale, pct(m.stale, m.reads))
    });
    row("served by replicas", &|m| {
        (m.stats.replica_reads + m.stats.plain_reads).to_string()
    });
    row("served by the leader", &|m| {
        let share = pct(m.stats.leader_reads, m.reads);
        format!("{} ({share:.1}%)", m.stats.leader_reads)
    });
    row("leader fallback peak / budget", &|m| {
        format!(
            "{} / {}",
            m.stats.leader_fallback_peak, m.stats.leader_fallback_limit
        )
    });
    row("read p50", &|m| ms(m.percentile(0.5)));
    row("read p99", &|m| ms(m.percentile(0.99)));
}

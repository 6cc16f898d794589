//! Demo mode: many users pay and immediately read their balance, once with plain replica
//! routing and once with ryw, against the same lagging replicas.

use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder, Response};

use crate::http::{BalanceBody, PayRequest, StatsBody};

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
    plain: bool,
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
        let url = if plain {
            format!("{base}/users/{user}/balance?routing=plain")
        } else {
            format!("{base}/users/{user}/balance")
        };
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
    plain: bool,
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
            plain,
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

/// Prints the two modes side by side.
#[allow(clippy::print_stdout, clippy::cast_precision_loss)]
pub fn print_table(plain: &ModeResult, ryw: &ModeResult, lag: Duration) {
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!(
        "payments demo: each user pays 1 cent, then immediately reads the balance (replica lag {lag:?})"
    );
    println!("{:<28} {:>22} {:>22}", "", "plain replica routing", "ryw");
    println!("{:<28} {:>22} {:>22}", "reads", plain.reads, ryw.reads);
    println!(
        "{:<28} {:>22} {:>22}",
        "stale reads",
        format!("{} ({:.1}%)", plain.stale, pct(plain.stale, plain.reads)),
        format!("{} ({:.1}%)", ryw.stale, pct(ryw.stale, ryw.reads))
    );
    println!(
        "{:<28} {:>22} {:>22}",
        "served by replicas", plain.stats.plain_reads, ryw.stats.replica_reads
    );
    println!(
        "{:<28} {:>22} {:>22}",
        "served by the leader", 0, ryw.stats.leader_reads
    );
    println!(
        "{:<28} {:>22} {:>22}",
        "read p50",
        ms(plain.percentile(0.5)),
        ms(ryw.percentile(0.5))
    );
    println!(
        "{:<28} {:>22} {:>22}",
        "read p99",
        ms(plain.percentile(0.99)),
        ms(ryw.percentile(0.99))
    );
}

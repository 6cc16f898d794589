//! One client of the fault recipe: pays one cent and reads the balance back, over and over,
//! carrying its token (or, as the baseline, reading replicas plainly), and tallies what it saw
//! per phase.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

use crate::http::{BalanceBody, PayRequest};

/// What the clients saw in one phase.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Payments acknowledged (201).
    pub paid: u64,
    /// Balance reads answered (200).
    pub reads: u64,
    /// Reads older than the client's last acknowledged payment, with a token (ryw).
    pub stale: u64,
    /// The same for the plain baseline (`?routing=plain`, no token).
    pub plain_stale: u64,
    /// Plain baseline reads answered.
    pub plain_reads: u64,
    /// Plain baseline requests that failed (any status but success, or no answer); the
    /// columns below count the ryw clients only.
    pub plain_failed: u64,
    /// 503 answers (retryable: the leader is away).
    pub unavailable: u64,
    /// Other 5xx answers.
    pub server_errors: u64,
    /// 4xx answers (none expected: every request is valid).
    pub client_errors: u64,
    /// Requests that got no answer at all (connection refused or reset).
    pub transport_errors: u64,
    /// Requests with no answer within the client's deadline.
    pub hung: u64,
    /// Latencies of the ryw balance reads.
    pub read_latencies: Vec<Duration>,
}

impl Tally {
    /// Adds `other` in.
    pub fn absorb(&mut self, other: Self) {
        self.paid += other.paid;
        self.reads += other.reads;
        self.stale += other.stale;
        self.plain_stale += other.plain_stale;
        self.plain_reads += other.plain_reads;
        self.plain_failed += other.plain_failed;
        self.unavailable += other.unavailable;
        self.server_errors += other.server_errors;
        self.client_errors += other.client_errors;
        self.transport_errors += other.transport_errors;
        self.hung += other.hung;
        self.read_latencies.extend(other.read_latencies);
    }

    fn status(&mut self, status: StatusCode) {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            self.unavailable += 1;
        } else if status.is_server_error() {
            self.server_errors += 1;
        } else if status.is_client_error() {
            self.client_errors += 1;
        }
    }

    fn failed(&mut self, e: &reqwest::Error) {
        if e.is_timeout() {
            self.hung += 1;
        } else {
            self.transport_errors += 1;
        }
    }
}

/// Where a client is and what it shares with the runner.
pub struct Session {
    /// The service's base URL.
    pub base: String,
    /// The user this client pays for (no other client touches it).
    pub user: i64,
    /// Plain baseline: no token, balance read with `?routing=plain`.
    pub plain: bool,
    /// The phase requests are counted in.
    pub phase: Arc<AtomicUsize>,
    /// Set when the run is over.
    pub stop: Arc<AtomicBool>,
    /// Pause between rounds.
    pub think: Duration,
}

/// Runs one client until `stop`; returns its tallies per phase.
pub async fn run(client: Client, s: Session, phases: usize) -> Vec<Tally> {
    let mut tallies = vec![Tally::default(); phases];
    let mut token: Option<String> = None;
    // The balance after the client's last acknowledged payment: no read may show more.
    let mut acked: Option<i64> = None;
    // Each outcome counts in the phase it happened in (when the answer came).
    let phase = |s: &Session| s.phase.load(Ordering::Relaxed).min(phases - 1);
    while !s.stop.load(Ordering::Relaxed) {
        let mut t = Tally::default();
        let pay = client
            .post(format!("{}/users/{}/payments", s.base, s.user))
            .json(&PayRequest { cents: 1 });
        if let Some(b) = exchange(pay, StatusCode::CREATED, &s, &mut token, &mut t).await {
            t.paid += 1;
            acked = Some(acked.map_or(b.balance, |a| a.min(b.balance)));
        }
        tallies[phase(&s)].absorb(std::mem::take(&mut t));
        let started = Instant::now();
        let read = client.get(format!(
            "{}/users/{}/balance{}",
            s.base,
            s.user,
            if s.plain { "?routing=plain" } else { "" }
        ));
        if let Some(b) = exchange(read, StatusCode::OK, &s, &mut token, &mut t).await {
            let stale = acked.is_some_and(|a| b.balance > a);
            if s.plain {
                t.plain_reads += 1;
                t.plain_stale += u64::from(stale);
            } else {
                t.reads += 1;
                t.stale += u64::from(stale);
                t.read_latencies.push(started.elapsed());
            }
        }
        tallies[phase(&s)].absorb(t);
        tokio::time::sleep(s.think).await;
    }
    tallies
}

/// Sends `req` (with the token, unless plain), keeps the answer's token, and returns its
/// balance when the status is `want`; anything else is tallied.
async fn exchange(
    mut req: reqwest::RequestBuilder,
    want: StatusCode,
    s: &Session,
    token: &mut Option<String>,
    t: &mut Tally,
) -> Option<BalanceBody> {
    if let (Some(tok), false) = (token.as_ref(), s.plain) {
        req = req.header("ryw-token", tok);
    }
    match req.send().await {
        Ok(resp) if resp.status() == want => {
            if let Some(tok) = resp
                .headers()
                .get("ryw-token")
                .and_then(|v| v.to_str().ok())
            {
                *token = Some(tok.to_owned());
            }
            resp.json::<BalanceBody>().await.ok()
        }
        Ok(_) | Err(_) if s.plain => {
            t.plain_failed += 1;
            None
        }
        Ok(resp) => {
            t.status(resp.status());
            None
        }
        Err(e) => {
            t.failed(&e);
            None
        }
    }
}

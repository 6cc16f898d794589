//! The budget-binding scenario's own checks: while a ryw strategy runs, the leader's
//! concurrent fallback reads are sampled from `pg_stat_activity` (reads are slowed on every
//! node, so each holds the leader a while), beside the router's own count and its budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ryw::RouterStats;

use crate::anchors::PAUSE_MARK;

/// How often the sampler looks.
const EVERY: Duration = Duration::from_millis(2);
/// The longest it samples, whatever happens.
const AT_MOST: Duration = Duration::from_secs(900);

/// Samples the leader's paused reads until [`Sampler::stop`].
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(i64, u64)>,
}

impl Sampler {
    /// Starts sampling the leader at `url`.
    pub(crate) async fn start(url: &str) -> Self {
        let mut conn = AsyncPgConnection::establish(url).await.expect("sampler");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let q = format!(
            "(SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
             AND pid <> pg_backend_pid() AND query LIKE '%{PAUSE_MARK}%')"
        );
        let task = tokio::spawn(async move {
            let (mut max, mut samples) = (0, 0);
            let until = Instant::now() + AT_MOST;
            while !AtomicBool::load(&flag, Ordering::Relaxed) && Instant::now() < until {
                let n: i64 = diesel::select(sql::<BigInt>(&q))
                    .get_result(&mut conn)
                    .await
                    .expect("pg_stat_activity");
                max = max.max(n);
                samples += 1;
                tokio::time::sleep(EVERY).await;
            }
            (max, samples)
        });
        Self { stop, task }
    }

    /// Stops; the most paused reads seen on the leader at once, and the samples taken.
    pub(crate) async fn stop(self) -> (i64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("sampler task")
    }
}

/// One ryw strategy's row of the budget table.
pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) stats: RouterStats,
    pub(crate) sampled: (i64, u64),
    /// Reads slower than their wait budget plus the read itself.
    pub(crate) past_budget: usize,
    pub(crate) stale: u64,
    pub(crate) max_ms: f64,
}

/// Prints the budget table and its verdict.
#[allow(clippy::print_stdout)]
pub(crate) fn print(rows: &[Row]) {
    println!(
        "\n| ryw policy | budget | router peak | pg_stat_activity peak (samples) \
         | reads that waited at budget | stale | slowest read ms | past their budget |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ok = true;
    for r in rows {
        let limit = r.stats.leader_fallback_limit;
        println!(
            "| {} | {limit} | {} | {} ({}) | {} | {} | {:.1} | {} |",
            r.label,
            r.stats.leader_fallback_peak,
            r.sampled.0,
            r.sampled.1,
            r.stats.leader_budget_waits,
            r.stale,
            r.max_ms,
            r.past_budget
        );
        ok &= r.stats.leader_fallback_peak <= limit
            && usize::try_from(r.sampled.0).is_ok_and(|n| n <= limit)
            && r.stale == 0
            && r.past_budget == 0;
    }
    println!(
        "\nbudget verdict: {}",
        if ok {
            "the leader never served more fallback reads at once than its budget; \
             0 stale; none past its budget"
        } else {
            "VIOLATED (see the table)"
        }
    );
}

//! The ROUTING.md workload: 16 users, one tokio task each; with probability 0.1 an iteration
//! writes the user's row and reads it at once, else it reads it; think time uniform 0–100 ms.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::AsyncPgConnection;
use ryw::{Error, Postgres, ReplicatedPool, Router};
use ryw::{ReadPolicy, RywContext, ScopeKey};

use crate::anchors;

/// Users (tasks) of the workload.
pub(crate) const USERS: usize = 16;
/// Probability that an iteration writes (then reads) instead of only reading.
const WRITE_CHANCE: f64 = 0.1;
/// Upper bound of the uniform think time.
const THINK_MAX: Duration = Duration::from_millis(100);
/// Hard bound on iterations per user, whatever the duration.
const MAX_ITERATIONS: usize = 100_000;

/// Statements started on any diesel connection of this process.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

tokio::task_local! {
    /// Statements started by the current user task (its reads and writes, pool checks
    /// included; not the router's background polls).
    static TASK_STATEMENTS: Cell<u64>;
}

struct Count;

impl Instrumentation for Count {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
            let _ = TASK_STATEMENTS.try_with(|c| c.set(c.get() + 1));
        }
    }
}

/// Counts every statement of every diesel connection made from now on.
pub(crate) fn count_statements() {
    diesel::connection::set_default_instrumentation(|| Some(Box::new(Count))).unwrap();
}

fn all_statements() -> u64 {
    AtomicU64::load(&STATEMENTS, Ordering::Relaxed)
}

fn task_statements() -> u64 {
    TASK_STATEMENTS.try_with(Cell::get).unwrap_or(0)
}

/// How reads (and the writes before them) are routed.
pub(crate) enum Strategy {
    /// Every read on a random replica, no fence.
    Plain,
    /// Every read on the leader.
    Leader,
    /// The leader for this long after the user's last write (Rails / Makara), else a replica.
    Sticky(Duration),
    /// GitLab's web path: each read of a user with a pending write asks every replica for its
    /// replay position and reads a caught-up one, else the leader at once.
    CheckNoWait,
    /// MaxScale causal_reads: read a random replica after waiting there (polling) until it
    /// replayed the user's last write, up to `timeout`, else the leader.
    WaitThere { poll: Duration, timeout: Duration },
    /// ryw's router with this policy.
    Ryw {
        router: Router<Postgres>,
        policy: ReadPolicy,
    },
}

/// Tiny deterministic generator (splitmix64): the same user draws the same sequence under
/// every strategy.
pub(crate) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// One user: its row, what it last wrote, and its session state under each strategy.
pub(crate) struct User {
    pub(crate) id: i64,
    /// The version it last wrote (reads returning less are stale).
    pub(crate) version: i64,
    /// Leader WAL position captured after its last write, until known replayed everywhere.
    pub(crate) lsn: Option<i64>,
    pub(crate) last_write: Option<Instant>,
    pub(crate) rng: Rng,
    ctx: RywContext,
    scope: ScopeKey,
}

impl User {
    fn new(id: i64, version: i64) -> Self {
        Self {
            id,
            version,
            lsn: None,
            last_write: None,
            rng: Rng(0x5EED_0000 + id as u64),
            ctx: RywContext::new(),
            scope: ScopeKey::of("user_id", id),
        }
    }
}

/// What one strategy measured.
#[derive(Default)]
pub(crate) struct Stats {
    /// Latency of every read, µs.
    pub(crate) reads_us: Vec<u64>,
    /// Latency of the reads right after a write, µs.
    pub(crate) post_write_us: Vec<u64>,
    /// Reads the leader served, stale reads, writes.
    pub(crate) count: Counts,
    /// Statements sent.
    pub(crate) statements: Statements,
}

/// What a strategy's tasks did.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) leader: u64,
    pub(crate) stale: u64,
    pub(crate) writes: u64,
}

/// Statements a strategy sent.
#[derive(Default)]
pub(crate) struct Statements {
    /// Inside reads (pool checks included).
    pub(crate) reads: u64,
    /// By the user tasks (reads and writes).
    pub(crate) user: u64,
    /// By the whole process during the run (user tasks and background polls).
    pub(crate) all: u64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.reads_us.extend(o.reads_us);
        self.post_write_us.extend(o.post_write_us);
        self.count.leader += o.count.leader;
        self.count.stale += o.count.stale;
        self.count.writes += o.count.writes;
        self.statements.reads += o.statements.reads;
        self.statements.user += o.statements.user;
    }

    pub(crate) fn reads(&self) -> u64 {
        self.reads_us.len() as u64
    }

    /// Share of reads served by the leader, in percent.
    pub(crate) fn leader_pct(&self) -> f64 {
        100.0 * self.count.leader as f64 / self.reads().max(1) as f64
    }

    /// Nearest-rank percentile of `us`, in ms.
    pub(crate) fn pct_ms(us: &mut [u64], p: f64) -> f64 {
        if us.is_empty() {
            return f64::NAN;
        }
        us.sort_unstable();
        let i = ((us.len() as f64 * p).ceil() as usize).clamp(1, us.len()) - 1;
        us[i] as f64 / 1000.0
    }
}

async fn write(pool: &ReplicatedPool<Postgres>, strategy: &Strategy, user: &mut User) {
    let (id, v) = (user.id, user.version + 1);
    match strategy {
        Strategy::Ryw { router, .. } => {
            user.ctx
                .clone()
                .run(router.write(
                    &user.scope,
                    async move |c: &mut AsyncPgConnection| -> Result<usize, Error> {
                        Ok(anchors::update(c, id, v).await?)
                    },
                ))
                .await
                .expect("ryw write");
        }
        Strategy::CheckNoWait | Strategy::WaitThere { .. } => {
            user.lsn = Some(anchors::write(pool, id, v, true).await.expect("capture"));
        }
        Strategy::Plain | Strategy::Leader | Strategy::Sticky(_) => {
            anchors::write(pool, id, v, false).await;
        }
    }
    user.version = v;
    user.last_write = Some(Instant::now());
}

/// Reads the user's row; returns the version read and whether the leader served it.
async fn read(
    pool: &ReplicatedPool<Postgres>,
    strategy: &Strategy,
    user: &mut User,
) -> (i64, bool) {
    match strategy {
        Strategy::Ryw { router, policy } => {
            let id = user.id;
            let r = user
                .ctx
                .clone()
                .run(router.read_with(
                    &user.scope,
                    policy,
                    async move |c: &mut AsyncPgConnection| -> Result<i64, Error> {
                        Ok(anchors::select(c, id).await?)
                    },
                ))
                .await
                .expect("ryw read");
            (r.value, r.served_by.is_leader())
        }
        Strategy::Plain => anchors::read_replica(pool, user).await,
        Strategy::Leader => (anchors::read_leader(pool, user.id).await, true),
        Strategy::Sticky(window) => {
            if user.last_write.is_some_and(|t| t.elapsed() < *window) {
                (anchors::read_leader(pool, user.id).await, true)
            } else {
                anchors::read_replica(pool, user).await
            }
        }
        Strategy::CheckNoWait => anchors::read_checked(pool, user).await,
        Strategy::WaitThere { poll, timeout } => {
            anchors::read_waiting(pool, user, *poll, *timeout).await
        }
    }
}

async fn run_user(
    pool: ReplicatedPool<Postgres>,
    strategy: Arc<Strategy>,
    mut user: User,
    until: Instant,
) -> (User, Stats) {
    TASK_STATEMENTS
        .scope(Cell::new(0), async move {
            let mut s = Stats::default();
            for _ in 0..MAX_ITERATIONS {
                if Instant::now() >= until {
                    break;
                }
                let wrote = user.rng.chance(WRITE_CHANCE);
                if wrote {
                    write(&pool, &strategy, &mut user).await;
                    s.count.writes += 1;
                }
                let before = task_statements();
                let t = Instant::now();
                let (v, leader) = read(&pool, &strategy, &mut user).await;
                let us = t.elapsed().as_micros() as u64;
                s.statements.reads += task_statements() - before;
                s.reads_us.push(us);
                if wrote {
                    s.post_write_us.push(us);
                }
                s.count.leader += u64::from(leader);
                s.count.stale += u64::from(v < user.version);
                let think = user.rng.below(THINK_MAX.as_micros() as u64 + 1);
                tokio::time::sleep(Duration::from_micros(think)).await;
            }
            s.statements.user = task_statements();
            (user, s)
        })
        .await
}

/// Runs the workload for `duration` under `strategy`; `versions[i]` is user `i + 1`'s row
/// version on entry and on return.
pub(crate) async fn run(
    pool: &ReplicatedPool<Postgres>,
    strategy: Strategy,
    versions: &mut [i64],
    duration: Duration,
) -> Stats {
    let strategy = Arc::new(strategy);
    let before = all_statements();
    let until = Instant::now() + duration;
    let handles: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let user = User::new(i as i64 + 1, *v);
            tokio::spawn(run_user(pool.clone(), Arc::clone(&strategy), user, until))
        })
        .collect();
    let mut total = Stats::default();
    for (h, v) in handles.into_iter().zip(versions.iter_mut()) {
        let (user, s) = h.await.expect("user task");
        *v = user.version;
        total.merge(s);
    }
    total.statements.all = all_statements() - before;
    total
}

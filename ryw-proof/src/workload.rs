//! Client sessions: each owns one scope (`user_id`), writes strictly increasing versions to it
//! and reads it back, recording every operation.
//!
//! * **ryw sessions** go through [`Router::write`] / [`Router::read`] (even sessions) or the
//!   `#[read_your_writes]` repository [`ProofRepo`] (odd sessions) of one of several app
//!   instances (routers sharing a Redis scope store), in a fresh `RywContext` per operation
//!   resumed from the token the session carries — as a web client would. Now and then a
//!   session moves: to another device (the token is handed over) or to another app instance.
//! * **plain sessions** write on the leader and read any replica with no fence: the baseline
//!   that must show violations under the same faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ryw::Router;
use ryw::TokenCodec;
use tokio::time::Instant;

use crate::backends::{CaptureFault, ProofBackend};
use crate::history::{Mode, Op, OpKind, Outcome, Served};
use crate::recorder::Recorder;
use crate::repo::ProofRepo;

mod ops;

use ops::{plain_read, plain_write, ryw_read, ryw_write};

/// How the sessions behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkloadConfig {
    /// Sessions through ryw.
    pub ryw_sessions: u32,
    /// Sessions reading replicas plainly.
    pub plain_sessions: u32,
    /// Sessions through ryw with monotonic reads opted in.
    pub monotonic_sessions: u32,
    /// Share of a ryw session's reads (either kind) that read another ryw session's scope,
    /// which no floor of its own fences: there only monotonic reads keep it from going back
    /// in time.
    pub cross_read_ratio: f64,
    /// Share of a ryw session's reads of its own scope made from another device that has
    /// no token (a second client of the same user): only the scope store carries the floor.
    /// Not for monotonic sessions (their guarantee rides on the token).
    pub tokenless_read_ratio: f64,
    /// Operations per mode, over all its sessions (the run ends when both are done, or at
    /// `duration`).
    pub ops: u64,
    /// The longest the run lasts.
    pub duration: Duration,
    /// Share of operations that write.
    pub write_ratio: f64,
    /// Share of operations preceded by a move (half device, half instance).
    pub move_ratio: f64,
    /// Think time is drawn from zero to this.
    pub think: Duration,
    /// The deadline of one operation, after which it is recorded as failed (`timeout`).
    pub op_timeout: Duration,
    /// Seeds the sessions' choices.
    pub seed: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            ryw_sessions: 16,
            plain_sessions: 8,
            monotonic_sessions: 0,
            cross_read_ratio: 0.0,
            tokenless_read_ratio: 0.0,
            ops: u64::MAX,
            duration: Duration::from_secs(30),
            write_ratio: 0.3,
            move_ratio: 0.05,
            think: Duration::from_millis(10),
            op_timeout: Duration::from_secs(15),
            seed: 1,
        }
    }
}

/// What every session shares.
pub struct Shared<B: ProofBackend> {
    /// The app instances.
    pub routers: Vec<Router<CaptureFault<B>>>,
    /// The same instances' routers behind the macro-annotated repository.
    pub repos: Vec<ProofRepo<B>>,
    /// An app instance started after a failover (as a deployment restarts or scales out),
    /// joining the others once the nemesis switched the leader over.
    pub late: tokio::sync::OnceCell<(Router<CaptureFault<B>>, ProofRepo<B>)>,
    /// The token codec every instance uses.
    pub codec: TokenCodec,
    /// The recorder.
    pub rec: Arc<Recorder>,
    /// Workload settings.
    pub config: WorkloadConfig,
    /// Operations left, per mode.
    pub ryw_left: AtomicI64,
    /// Operations left for plain sessions.
    pub plain_left: AtomicI64,
    /// When the run must end.
    pub deadline: Instant,
    /// Whether the schedule switches the leader over, so that an instance starts late.
    pub expect_late: bool,
    /// When the late instance joined (or gave up joining).
    pub late_at: std::sync::OnceLock<Instant>,
}

/// How long sessions go on after the late instance joined, however late that was: a slow
/// switchover must not leave the new instance without traffic.
pub const LATE_TRAFFIC: Duration = Duration::from_secs(4);
/// The longest a run waits past its deadline for the late instance to join.
pub const LATE_GRACE: Duration = Duration::from_secs(20);

impl<B: ProofBackend> Shared<B> {
    /// When sessions stop: the deadline, pushed out (bounded by [`LATE_GRACE`]) until the late
    /// instance has had [`LATE_TRAFFIC`] of its own.
    fn ends_at(&self) -> Instant {
        let hard = self.deadline + LATE_GRACE;
        match (self.expect_late, self.late_at.get()) {
            (false, _) => self.deadline,
            (true, None) => hard,
            (true, Some(at)) => self.deadline.max(*at + LATE_TRAFFIC).min(hard),
        }
    }
}

struct Session {
    id: u32,
    scope: i64,
    mode: Mode,
    device: u32,
    instance: u32,
    next_version: i64,
    token: Option<String>,
    rng: StdRng,
    rr: usize,
    /// Goes through the `#[read_your_writes]` repository instead of the router's methods.
    via_macro: bool,
    /// Has seen the late instance join.
    saw_late: bool,
}

impl Session {
    fn op(&self, kind: OpKind, invoke_ns: u64) -> Op {
        Op {
            id: 0,
            session: self.id,
            device: self.device,
            instance: self.instance,
            scope: self.scope,
            kind,
            version: None,
            invoke_ns,
            complete_ns: invoke_ns,
            served: Served::Unknown,
            outcome: Outcome::Ok,
            mode: self.mode,
            position: None,
        }
    }
}

/// Runs one session until its mode's operation budget or the deadline is exhausted.
pub async fn session<B: ProofBackend>(shared: Arc<Shared<B>>, id: u32, mode: Mode) {
    let cfg = shared.config;
    let n_instances = |sh: &Shared<B>| {
        let n = sh.routers.len() + usize::from(sh.late.initialized());
        u32::try_from(n).unwrap_or(1).max(1)
    };
    let mut s = Session {
        id,
        scope: i64::from(id) + 1,
        mode,
        device: 0,
        instance: id % n_instances(&shared),
        next_version: 0,
        token: None,
        rng: StdRng::seed_from_u64(cfg.seed ^ (u64::from(id) << 32) ^ mode as u64),
        rr: id as usize,
        // The macro's reads take the router's policy: monotonic sessions call the router.
        via_macro: id % 2 == 1 && mode == Mode::Ryw,
        saw_late: false,
    };
    let left = match mode {
        Mode::Ryw | Mode::RywMonotonic => &shared.ryw_left,
        Mode::Plain => &shared.plain_left,
    };
    while Instant::now() < shared.ends_at() && left.fetch_sub(1, Ordering::Relaxed) > 0 {
        let think = cfg.think.mul_f64(s.rng.random::<f64>());
        tokio::time::sleep(think).await;
        // Once the late instance is up, half the ryw sessions move onto it, as a load
        // balancer would send them; the rest keep to the move ratio.
        let joined = !s.saw_late && shared.late.initialized();
        if joined {
            s.saw_late = true;
        }
        let routed = mode != Mode::Plain;
        if routed && joined && s.id.is_multiple_of(2) {
            let t = shared.rec.now_ns();
            s.instance = u32::try_from(shared.routers.len()).unwrap_or(0);
            shared.rec.op(s.op(OpKind::Move, t));
        } else if routed && s.rng.random_bool(cfg.move_ratio) {
            let t = shared.rec.now_ns();
            if s.rng.random_bool(0.5) {
                s.device += 1;
            } else {
                s.instance = (s.instance + 1) % n_instances(&shared);
            }
            shared.rec.op(s.op(OpKind::Move, t));
        }
        let write = s.rng.random_bool(cfg.write_ratio);
        let op = match (mode, write) {
            (Mode::Ryw | Mode::RywMonotonic, true) => ryw_write(&shared, &mut s).await,
            (Mode::Ryw | Mode::RywMonotonic, false) => ryw_read(&shared, &mut s).await,
            (Mode::Plain, true) => plain_write(&shared, &mut s).await,
            (Mode::Plain, false) => plain_read(&shared, &mut s).await,
        };
        shared.rec.op(op);
    }
}

//! The request-scoped context: the floors a request must read at or past, carried in a tokio
//! task-local from the incoming token to the outgoing one.
//!
//! # Task-locals and `tokio::spawn`
//! A task-local is visible only inside the future passed to [`RywContext::run`]. A task started
//! with `tokio::spawn` (or `spawn_blocking`, or a thread) does **not** inherit it: reads there see
//! no context and therefore no floor. Hand the context over explicitly:
//!
//! ```
//! use ryw_core::RywContext;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let ctx = RywContext::new();
//! ctx.clone().run(async {
//!     // Shares floors with the request: writes in the spawned task raise the request's floors.
//!     let shared = RywContext::current().unwrap_or_default();
//!     tokio::spawn(shared.run(async { /* reads here see the request's floors */ }))
//!         .await
//!         .unwrap();
//! }).await;
//! # }
//! ```
//!
//! For a background job that runs later (another process, a queue), export a token into the job
//! payload with [`RywContext::export_token`] and resume it in the worker with
//! [`RywContext::from_token`]; the job's reads then see the writes of the request that enqueued it.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::RywError;
use crate::floors::{ClusterId, EpochHistory, Floor, Floors, LostFloor, ScopeKey};
use crate::position::{LeaderHolds, Position};
use crate::token::TokenCodec;

tokio::task_local! {
    static CURRENT: RywContext;
}

/// Request-scoped read-your-writes state. Cheap to clone; clones share state.
///
/// ```
/// use ryw_core::{ClusterId, RywContext, ScopeKey, position::{Lsn, Position}};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ryw_core::RywError> {
/// let cluster = ClusterId::new("pg:1:1");
/// let user = ScopeKey::of("user_id", 7);
/// RywContext::new().run(async {
///     let ctx = RywContext::current().expect("inside run");
///     ctx.raise(&cluster, &user, Lsn::new(42).into())?;
///     assert_eq!(ctx.required(&cluster, &user)?, Some(Position::Lsn(Lsn::new(42))));
///     Ok(())
/// }).await
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RywContext {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    floors: Floors,
    /// Set when an incoming token was rejected and the caller asked to pin the next read.
    leader_next_read: bool,
}

impl RywContext {
    /// An empty context.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    #[doc(hidden)]
    /// A context holding `floors`.
    #[must_use]
    pub fn with_floors(floors: Floors) -> Self {
        let ctx = Self::new();
        ctx.lock().floors = floors;
        ctx
    }

    /// A context resumed from a token (for a background job, say).
    ///
    /// # Errors
    /// Whatever [`TokenCodec::decode`] returns.
    pub fn from_token(codec: &TokenCodec, token: &str) -> Result<Self, RywError> {
        Ok(Self::with_floors(codec.decode(token)?.floors))
    }

    /// Runs `fut` with this context as the current one.
    pub async fn run<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The context of the running task, if it runs inside [`run`](Self::run).
    #[must_use]
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Self::clone).ok()
    }

    /// An independent copy: later raises on either side do not reach the other.
    #[must_use]
    pub fn fork(&self) -> Self {
        Self::with_floors(self.floors())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock cannot leave the floors half-updated
        // (every update is a single assignment), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[doc(hidden)]
    /// Raises the floor of `scope` in `cluster` (never lowers). Returns whether it changed.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the scope holds a floor of another kind.
    pub fn raise(
        &self,
        cluster: &ClusterId,
        scope: &ScopeKey,
        pos: Position,
    ) -> Result<bool, RywError> {
        self.raise_floor(cluster, scope, Floor::new(pos))
    }

    #[doc(hidden)]
    /// Raises the floor of `scope` in `cluster` with `floor` (position, raise time, epoch);
    /// drops an older unfenced mark of the scope. Returns whether it changed.
    ///
    /// # Errors
    /// As [`raise`](Self::raise).
    pub fn raise_floor(
        &self,
        cluster: &ClusterId,
        scope: &ScopeKey,
        floor: Floor,
    ) -> Result<bool, RywError> {
        self.lock().floors.raise_floor(cluster, scope, floor)
    }

    #[doc(hidden)]
    /// Raises the session-wide floor of `cluster`, which fences every later read of the
    /// session whatever its scope (monotonic reads). Returns whether it changed.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when the session floor holds another kind.
    pub fn raise_session_floor(&self, cluster: &ClusterId, floor: Floor) -> Result<bool, RywError> {
        self.lock().floors.raise_session_floor(cluster, floor)
    }

    #[doc(hidden)]
    /// Reconciles the floors of `cluster` with the leader's epoch history after a failover
    /// (see [`Floors::reconcile_epochs`]); returns the floors the failover lost.
    pub fn reconcile_epochs(&self, cluster: &ClusterId, history: &EpochHistory) -> Vec<LostFloor> {
        self.lock().floors.reconcile_epochs(cluster, history)
    }

    #[doc(hidden)]
    /// Whether a floor of `cluster` has a part `leader` can never have (see
    /// [`Floors::any_unreachable`]).
    #[must_use]
    pub fn any_unreachable(&self, cluster: &ClusterId, leader: &LeaderHolds) -> bool {
        self.lock().floors.any_unreachable(cluster, leader)
    }

    #[doc(hidden)]
    /// Settles the floors of `cluster` with a leader that names its servers in its
    /// positions (see [`Floors::settle_unreachable`]); returns the floors a failover lost.
    pub fn settle_unreachable(&self, cluster: &ClusterId, leader: &LeaderHolds) -> Vec<LostFloor> {
        self.lock().floors.settle_unreachable(cluster, leader)
    }

    #[doc(hidden)]
    /// The position a read of `scope` in `cluster` must see, if any.
    ///
    /// # Errors
    /// [`RywError::ScopeKindMismatch`] when scope and session floors differ in kind.
    pub fn required(
        &self,
        cluster: &ClusterId,
        scope: &ScopeKey,
    ) -> Result<Option<Position>, RywError> {
        self.lock().floors.required(cluster, scope)
    }

    #[doc(hidden)]
    /// The latest epoch any floor of `cluster` was captured on.
    #[must_use]
    pub fn latest_epoch(&self, cluster: &ClusterId) -> Option<u32> {
        self.lock().floors.latest_epoch(cluster)
    }

    #[doc(hidden)]
    /// A snapshot of all floors.
    #[must_use]
    pub fn floors(&self) -> Floors {
        self.lock().floors.clone()
    }

    /// Merges the floors of an incoming token into this context.
    ///
    /// # Errors
    /// Whatever [`TokenCodec::decode`] returns; the context is unchanged then.
    pub fn import_token(&self, codec: &TokenCodec, token: &str) -> Result<(), RywError> {
        let decoded = codec.decode(token)?;
        let mut st = self.lock();
        st.floors.merge_from(&decoded.floors)
    }

    /// The outgoing token: every floor of this context, signed.
    ///
    /// # Errors
    /// Whatever [`TokenCodec::encode`] returns.
    pub fn export_token(&self, codec: &TokenCodec) -> Result<String, RywError> {
        codec.encode(&self.floors())
    }

    #[doc(hidden)]
    /// Records that `scope` of `cluster` was written but no position could be captured. The
    /// mark travels in the exported token until a later floor covers the scope; routers fence
    /// the scope's reads by the leader's position meanwhile.
    pub fn mark_unfenced_write(&self, cluster: &ClusterId, scope: &ScopeKey) {
        self.lock()
            .floors
            .mark_unfenced(cluster, scope, SystemTime::now());
    }

    #[doc(hidden)]
    /// When `scope` of `cluster` was last written without a captured position that no later
    /// floor covers.
    #[must_use]
    pub fn unfenced_since(&self, cluster: &ClusterId, scope: &ScopeKey) -> Option<SystemTime> {
        self.lock().floors.unfenced_since(cluster, scope)
    }

    /// Asks that the next read of this context go to the leader (used when the incoming
    /// token could not be trusted, so the session's floors are unknown).
    pub fn pin_next_read_to_leader(&self) {
        self.lock().leader_next_read = true;
    }

    #[doc(hidden)]
    /// Whether the next read is pinned to the leader (without taking the pin).
    #[must_use]
    pub fn leader_pinned(&self) -> bool {
        self.lock().leader_next_read
    }

    #[doc(hidden)]
    /// Takes the request made by [`pin_next_read_to_leader`](Self::pin_next_read_to_leader):
    /// returns `true` once, then `false`.
    #[must_use]
    pub fn take_leader_pin(&self) -> bool {
        std::mem::take(&mut self.lock().leader_next_read)
    }
}

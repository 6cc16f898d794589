//! The write-side fence: a write that returns only once replicas have applied it, so that
//! *other* sessions' plain replica reads see it at once (a published post, a price change).
//!
//! Postgres waits on the replica trackers (they poll at the busy cadence while a write
//! waits); MariaDB and MySQL run the server-side wait on every target replica at once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use ryw_core::{Position, ScopeKey};
use tokio::time::Instant;

use super::Router;
use super::decide::ReplicaView;
use super::outcome::Routed;
use crate::Error;
use crate::backend::{ReplicationBackend, WaitMethod};
use crate::conn_fn::ConnFn;

/// Which replicas a fenced write waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyOn {
    /// Any `n` replicas.
    Replicas(usize),
    /// The replica of this name.
    Named(Arc<str>),
    /// Every replica online when the write committed.
    AllOnline,
}

/// How long and for which replicas a write waits after COMMIT.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteFence {
    /// The replicas to wait for.
    pub(crate) on: ApplyOn,
    /// The longest the write waits for them after COMMIT.
    pub(crate) budget: Duration,
}

impl WriteFence {
    /// Waits up to `budget` for `on`.
    #[must_use]
    pub fn new(on: ApplyOn, budget: Duration) -> Self {
        Self { on, budget }
    }
}

/// Which replicas had applied a fenced write when it returned. The write committed either
/// way; `met` says whether the fence held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Replicated {
    /// Whether the replicas asked for had applied it within the budget.
    pub met: bool,
    /// The replicas known to have applied it.
    pub applied: Vec<Arc<str>>,
    /// The target replicas not known to have applied it.
    pub pending: Vec<Arc<str>>,
    /// How long the write waited after COMMIT.
    pub waited: Duration,
}

impl<B: ReplicationBackend> Router<B> {
    /// As [`write`](Self::write), then waits until the replicas `fence` names have applied the
    /// write (or its budget ran out) and says which did: after a fence that was `met`, a plain
    /// read on any of them — by any session, with or without ryw — sees the write.
    ///
    /// A write whose position could not be captured is fenced on the leader's position read
    /// afterwards (it covers the commit); if even that cannot be read, nothing is waited for
    /// and `met` is false.
    ///
    /// # Errors
    /// As [`write`](Self::write); [`Error::Config`] (converted into `E`) for a replica name
    /// the router does not know — before anything is written.
    pub async fn write_fenced<R, E, F>(
        &self,
        scope: &ScopeKey,
        fence: &WriteFence,
        f: F,
    ) -> Result<(Routed<R>, Replicated), E>
    where
        F: for<'r> ConnFn<&'r mut B::Connection, Result<R, E>, Fut: Send> + Send,
        E: From<Error> + Send,
        R: Send,
    {
        let replicas = &self.inner.replicas;
        let named = match &fence.on {
            ApplyOn::Named(name) => Some(replicas.index_of(name).ok_or_else(|| {
                E::from(Error::Config(format!(
                    "no replica named {name:?} on this router"
                )))
            })?),
            _ => None,
        };
        let routed = self.write(scope, f).await?;
        let started = Instant::now();
        let position = match &routed.position {
            Some(p) => Some(p.clone()),
            None => {
                let within = self.inner.config.replica_checkout_timeout;
                self.inner
                    .leader
                    .position(within)
                    .await
                    .ok()
                    .map(|c| c.position)
            }
        };
        let views = replicas.views();
        let targets: Vec<usize> = match (&fence.on, named) {
            (_, Some(i)) => vec![i],
            _ => (0..views.len()).filter(|&i| views[i].online).collect(),
        };
        let needed = match fence.on {
            ApplyOn::Replicas(n) => n,
            _ => targets.len(),
        };
        let applied = match &position {
            Some(p) if needed <= targets.len() => {
                self.reach(&targets, p, needed, started + fence.budget)
                    .await
            }
            _ => Vec::new(),
        };
        let names = |pick: &dyn Fn(usize) -> bool| -> Vec<Arc<str>> {
            targets
                .iter()
                .filter(|&&i| pick(i))
                .map(|&i| Arc::clone(replicas.name(i)))
                .collect()
        };
        let replicated = Replicated {
            met: position.is_some() && applied.len() >= needed,
            applied: names(&|i| applied.contains(&i)),
            pending: names(&|i| !applied.contains(&i)),
            waited: started.elapsed(),
        };
        Ok((routed, replicated))
    }

    /// Waits until `needed` of `targets` have applied `position` (on the trackers, or with
    /// the server-side wait on every target at once, each on its own connection); returns
    /// those known to have applied it when it stopped.
    async fn reach(
        &self,
        targets: &[usize],
        position: &Position,
        needed: usize,
        deadline: Instant,
    ) -> Vec<usize> {
        let replicas = &self.inner.replicas;
        if B::WAIT == WaitMethod::ServerSide {
            let mut waits: FuturesUnordered<_> = targets
                .iter()
                .map(|&i| async move {
                    let budget = deadline.saturating_duration_since(Instant::now());
                    replicas.server_wait(i, position, budget).await.map(|_| i)
                })
                .collect();
            let mut reached = Vec::new();
            while let Some(done) = waits.next().await {
                reached.extend(done);
                if reached.len() >= needed {
                    break;
                }
            }
            return reached;
        }
        let reached = |views: &[ReplicaView]| -> Vec<usize> {
            let applied = |i: &usize| views[*i].applied.as_ref();
            let has = |i: &usize| applied(i).is_some_and(|a| a.covers(position).unwrap_or(false));
            targets.iter().copied().filter(has).collect()
        };
        let mut watch = replicas.watch(targets.iter().copied());
        let enough = |views: &[ReplicaView]| Some(reached(views)).filter(|r| r.len() >= needed);
        match watch.until(deadline, enough).await {
            Some(r) => r,
            None => reached(&replicas.views()),
        }
    }
}

//! The write-side fence: a write that returns only once replicas have applied it, so that
//! *other* sessions' plain replica reads see it at once (a published post, a price change).
//!
//! Postgres waits on the replica trackers (they poll at the busy cadence while a write
//! waits); MariaDB and MySQL run the server-side wait on every target replica at once.

use std::sync::Arc;
use std::time::Duration;

use ryw_core::{Position, ScopeKey};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::*;

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
    pub on: ApplyOn,
    /// The longest the write waits for them after COMMIT.
    pub budget: Duration,
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
        let named = match &fence.on {
            ApplyOn::Named(name) => Some(self.replica_index(name).map_err(E::from)?),
            _ => None,
        };
        let routed = self.write(scope, f).await?;
        let started = Instant::now();
        let position = match &routed.position {
            Some(p) => Some(p.clone()),
            None => self.leader_now().await,
        };
        let targets: Vec<usize> = match (&fence.on, named) {
            (_, Some(i)) => vec![i],
            _ => (0..self.inner.trackers.len())
                .filter(|&i| self.inner.trackers[i].status.borrow().online)
                .collect(),
        };
        let needed = match fence.on {
            ApplyOn::Replicas(n) => n,
            _ => targets.len(),
        };
        let applied = match &position {
            Some(p) if needed <= targets.len() => {
                let deadline = started + fence.budget;
                if self.inner.pool.backend.has_server_wait() {
                    self.server_waits_on(&targets, p, needed, deadline).await
                } else {
                    self.trackers_reach(&targets, p, needed, deadline).await
                }
            }
            _ => Vec::new(),
        };
        let names = |pick: &dyn Fn(usize) -> bool| -> Vec<Arc<str>> {
            targets
                .iter()
                .filter(|&&i| pick(i))
                .map(|&i| Arc::clone(&self.inner.trackers[i].name))
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

    fn replica_index(&self, name: &str) -> Result<usize, Error> {
        self.inner
            .trackers
            .iter()
            .position(|t| &*t.name == name)
            .ok_or_else(|| Error::Config(format!("no replica named {name:?} on this router")))
    }

    /// The leader's current position, from a fresh connection, if it can be read in time.
    async fn leader_now(&self) -> Option<Position> {
        let read = async {
            let mut conn = self.leader_conn().await?;
            self.inner.pool.backend.leader_position(&mut conn).await
        };
        let within = self.inner.config.replica_checkout_timeout;
        match tokio::time::timeout(within, read).await {
            Ok(Ok(c)) => Some(c.position),
            _ => None,
        }
    }

    /// Waits on the trackers until `needed` of `targets` have applied `position`; returns
    /// those that had when it stopped.
    async fn trackers_reach(
        &self,
        targets: &[usize],
        position: &Position,
        needed: usize,
        deadline: Instant,
    ) -> Vec<usize> {
        let trackers = &self.inner.trackers;
        let _guards: Vec<_> = targets.iter().map(|&i| trackers[i].wait_guard()).collect();
        let mut changed = self.inner.changed.subscribe();
        loop {
            let reached: Vec<usize> = targets
                .iter()
                .copied()
                .filter(|&i| {
                    let s = trackers[i].status.borrow();
                    s.applied
                        .as_ref()
                        .is_some_and(|a| a.covers(position).unwrap_or(false))
                })
                .collect();
            if reached.len() >= needed
                || tokio::time::timeout_at(deadline, changed.changed())
                    .await
                    .is_err()
            {
                return reached;
            }
        }
    }

    /// The server-side wait on every target at once (each on its own connection); returns
    /// the replicas that reached `position`, as soon as `needed` have or all have answered.
    async fn server_waits_on(
        &self,
        targets: &[usize],
        position: &Position,
        needed: usize,
        deadline: Instant,
    ) -> Vec<usize> {
        let mut waits = JoinSet::new();
        for &i in targets {
            let (router, position) = (self.clone(), position.clone());
            waits.spawn(async move {
                let budget = deadline.saturating_duration_since(Instant::now());
                let mut conn = router.replica_conn(i).await?;
                let name = Arc::clone(&router.inner.trackers[i].name);
                let wait = router
                    .inner
                    .pool
                    .backend
                    .server_wait(&mut conn, &name, &position, budget);
                // The server times the wait out; a frozen one is abandoned a checkout
                // deadline later.
                let overall = budget + router.inner.config.replica_checkout_timeout;
                match tokio::time::timeout(overall, wait).await {
                    Ok(Ok(true)) => Some(i),
                    Ok(_) => None,
                    Err(_) => {
                        let _ = deadpool::managed::Object::take(conn);
                        None
                    }
                }
            });
        }
        let mut reached = Vec::new();
        while let Some(done) = waits.join_next().await {
            if let Ok(Some(i)) = done {
                reached.push(i);
                if reached.len() >= needed {
                    break;
                }
            }
        }
        reached
    }
}

//! A circuit on the leader's connections: when connecting to the leader fails
//! ([`FAILURES_TO_OPEN`] times in a row), checkouts fail fast for a while instead of each
//! trying again, then one probe tries; its success closes
//! the circuit, its failure opens it again for longer.
//!
//! Without it a stopped leader meets one connection attempt per request: under clients that
//! retry at once, thousands a second, and the recovering leader meets that storm. With it:
//! at most the pool's connections try at the first failure (they were already under way),
//! then one attempt at a time, at most one per [`MIN_OPEN`]–[`MAX_OPEN`] (doubling while it
//! keeps failing) — at most 20 a second — and a leader that comes back is found within
//! [`MAX_OPEN`].

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool::managed::{Manager, Object, Pool, PoolError, TimeoutType};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Error;

/// Connection attempts that must fail in a row before the circuit opens: one alone can be a
/// connection the server dropped while it was being set up (a server that kills sessions,
/// a restart just finishing) — the writes behind it should not fail for that.
pub(crate) const FAILURES_TO_OPEN: u32 = 2;
/// How long the circuit stays open after the first failed attempt …
pub(crate) const MIN_OPEN: Duration = Duration::from_millis(50);
/// … and at most, however often the probe failed.
pub(crate) const MAX_OPEN: Duration = Duration::from_millis(500);

/// The circuit of one server's pools.
#[derive(Debug, Default)]
pub(crate) struct Circuit {
    state: Mutex<State>,
    /// Woken when it opens: checkouts still waiting for a pool slot give up then, instead of
    /// each trying to connect in turn once a slot frees.
    opening: Notify,
    /// Times it opened (from closed).
    opened: AtomicU64,
    /// Checkouts failed fast while it was open.
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Open until then (`None`: closed).
    open_until: Option<Instant>,
    /// How long it opens next time.
    backoff: Duration,
    /// Whether a probe is under way.
    probing: bool,
    /// Connection attempts failed in a row.
    failures: u32,
}

/// What a checkout says about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A new connection was opened.
    Connected,
    /// Opening one failed.
    ConnectFailed,
    /// Neither (an idle connection, or every connection busy).
    NoNews,
}

/// What a checkout may do now.
enum Admit {
    /// Closed: go ahead.
    Go,
    /// Half-open: this checkout is the one probe.
    Probe,
    /// Open: fail fast; the next attempt is due in this long.
    Refuse(Duration),
}

impl Circuit {
    /// A connection of `pool` (the node called `node` in errors), through the circuit.
    pub(crate) async fn checkout<M: Manager>(
        &self,
        pool: &Pool<M>,
        node: &str,
    ) -> Result<Object<M>, Error>
    where
        M::Error: std::fmt::Display,
    {
        let refuse = |retry_in: Duration| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Error::Pool {
                node: node.into(),
                reason: format!(
                    "unreachable: connecting failed; the next attempt is in {} ms",
                    retry_in.as_millis()
                ),
            }
        };
        let opening = self.opening.notified();
        tokio::pin!(opening);
        opening.as_mut().enable();
        let probe = match self.admit() {
            Admit::Go => false,
            Admit::Probe => true,
            Admit::Refuse(retry_in) => return Err(refuse(retry_in)),
        };
        let got = if probe {
            pool.get().await
        } else {
            tokio::select! {
                got = pool.get() => got,
                () = opening => return Err(refuse(MIN_OPEN)),
            }
        };
        // Only a connection opened just now shows the server answers: an idle one is handed
        // out without a word to the server (no pool checks with a query).
        let outcome = match &got {
            Ok(conn) if Object::metrics(conn).recycle_count == 0 => Outcome::Connected,
            Err(PoolError::Backend(_) | PoolError::Timeout(TimeoutType::Create)) => {
                Outcome::ConnectFailed
            }
            _ => Outcome::NoNews,
        };
        self.settle(probe, outcome);
        got.map_err(|e| Error::Pool {
            node: node.into(),
            reason: e.to_string(),
        })
    }

    /// Times it opened, and checkouts it failed fast.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.opened.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    fn admit(&self) -> Admit {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(until) = s.open_until else {
            return Admit::Go;
        };
        let now = Instant::now();
        if now < until || s.probing {
            return Admit::Refuse(until.saturating_duration_since(now));
        }
        s.probing = true;
        Admit::Probe
    }

    /// Books how a checkout ended: a new connection closes the circuit; a failure to connect
    /// opens it (for twice as long as last time, within the bounds); anything else leaves it
    /// as it was.
    fn settle(&self, probe: bool, outcome: Outcome) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if probe {
            s.probing = false;
        }
        if outcome == Outcome::Connected {
            if s.open_until.is_some() {
                tracing::info!("leader reachable again");
            }
            *s = State::default();
        } else if outcome == Outcome::ConnectFailed {
            s.failures = s.failures.saturating_add(1);
            if s.open_until.is_none() && s.failures < FAILURES_TO_OPEN {
                return;
            }
            if s.open_until.is_none() {
                self.opened.fetch_add(1, Ordering::Relaxed);
                self.opening.notify_waiters();
                tracing::warn!(
                    "leader unreachable: connection attempts paused, then one probe at a time; \
                     checkouts fail fast meanwhile"
                );
            }
            let backoff = (s.backoff * 2).clamp(MIN_OPEN, MAX_OPEN);
            s.backoff = backoff;
            s.open_until = Some(Instant::now() + backoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn outage_circuit_opens_probes_once_and_closes() {
        let c = Circuit::default();
        assert!(matches!(c.admit(), Admit::Go));
        c.settle(false, Outcome::ConnectFailed);
        assert!(
            matches!(c.admit(), Admit::Go),
            "one failure alone does not open it"
        );
        c.settle(false, Outcome::ConnectFailed);
        assert!(matches!(c.admit(), Admit::Refuse(d) if d == MIN_OPEN));
        tokio::time::advance(MIN_OPEN).await;
        assert!(matches!(c.admit(), Admit::Probe));
        assert!(matches!(c.admit(), Admit::Refuse(_)), "one probe at a time");
        c.settle(true, Outcome::ConnectFailed);
        assert!(
            matches!(c.admit(), Admit::Refuse(d) if d == MIN_OPEN * 2),
            "doubled"
        );
        for _ in 0..10 {
            tokio::time::advance(MAX_OPEN).await;
            assert!(matches!(c.admit(), Admit::Probe));
            c.settle(true, Outcome::ConnectFailed);
        }
        assert!(
            matches!(c.admit(), Admit::Refuse(d) if d == MAX_OPEN),
            "bounded"
        );
        tokio::time::advance(MAX_OPEN).await;
        assert!(matches!(c.admit(), Admit::Probe));
        c.settle(true, Outcome::NoNews);
        assert!(
            matches!(c.admit(), Admit::Probe),
            "an idle connection proves nothing: the next checkout probes"
        );
        c.settle(true, Outcome::Connected);
        assert!(
            matches!(c.admit(), Admit::Go),
            "closed by a successful probe"
        );
        assert_eq!(c.counts().0, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn outage_circuit_ignores_a_busy_pool() {
        let c = Circuit::default();
        c.settle(false, Outcome::NoNews);
        assert!(matches!(c.admit(), Admit::Go));
    }
}

//! Connections for reads, with their deadlines and warnings.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ryw_core::metrics;

use super::*;

impl<B: ReplicationBackend> Router<B> {
    /// A connection to replica `i` within [`RouterConfig::replica_checkout_timeout`]; `None`
    /// (and a poll of its tracker) when it cannot be had that fast.
    pub(super) async fn replica_conn(&self, i: usize) -> Option<Conn<B>> {
        let deadline = self.inner.config.replica_checkout_timeout;
        let name = &self.inner.trackers[i].name;
        let error = match tokio::time::timeout(deadline, self.inner.pool.replica(i)).await {
            Ok(Ok(c)) => return Some(c),
            Ok(Err(e)) => e,
            Err(_) => {
                self.count_deadline_hit();
                self.warn_deadline(name, "replica connection checkout", deadline);
                Error::Deadline {
                    node: name.to_string(),
                    what: "replica connection checkout",
                    after: deadline,
                }
            }
        };
        if let Some(folded) = self.inner.warnings.replica.check() {
            tracing::warn!(replica = %name, error = %error, folded, "replica connection failed");
        }
        self.inner.trackers[i].poke();
        None
    }

    /// A read on a replica overran [`RouterConfig::replica_read_timeout`]: its connection is
    /// dropped (not returned to the pool, the server may still answer), the replica's tracker
    /// polls at once, and the caller gets a retryable [`Error::Deadline`].
    pub(super) fn abandon_read(&self, name: &Arc<str>, conn: Conn<B>) -> Error {
        let _ = deadpool::managed::Object::take(conn);
        self.count_deadline_hit();
        if let Some(t) = self.inner.trackers.iter().find(|t| &t.name == name) {
            t.poke();
        }
        let after = self.inner.config.replica_read_timeout;
        self.warn_deadline(name, "replica read", after);
        Error::Deadline {
            node: name.to_string(),
            what: "replica read",
            after,
        }
    }

    pub(super) fn count_deadline_hit(&self) {
        self.inner
            .counters
            .deadline_hits
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn warn_deadline(&self, replica: &str, what: &'static str, after: Duration) {
        metrics::deadline_hit(match what {
            "replica read" => "replica_read",
            "server-side wait" => "server_wait",
            _ => "replica_checkout",
        });
        if let Some(folded) = self.inner.warnings.deadline.check() {
            tracing::warn!(
                replica,
                what,
                ?after,
                folded,
                "abandoned at its deadline: the replica does not answer"
            );
        }
    }

    pub(super) async fn leader_conn(&self) -> Result<Conn<B>, Error> {
        self.inner.pool.leader().await
    }

    /// The leader's current position and epoch on a fresh connection, by `deadline` (the end
    /// of a `budget`, named in the [`Error::Deadline`] it overruns with).
    pub(super) async fn leader_position_by(
        &self,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Captured, Error> {
        let inner = &self.inner;
        let read = async {
            let mut conn = inner.pool.leader().await?;
            inner.pool.backend.leader_position(&mut conn).await
        };
        tokio::time::timeout_at(deadline, read)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Deadline {
                    node: "leader".into(),
                    what: "leader position",
                    after: budget,
                })
            })
    }
}

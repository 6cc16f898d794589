//! One Redis or a Redis Cluster behind the same store: the shared connection of either, and
//! the hash tag cluster keys need.

use std::fmt::Write as _;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell};

use crate::floors::{ClusterId, ScopeKey};

/// What a [`RedisStore`](super::RedisStore) talks through: one multiplexed connection shared
/// by every request (commands of concurrent requests are pipelined on it), reconnected in the
/// background after a failure. No per-operation checkout or liveness `PING`: a lookup is one
/// command and one round trip; a dead connection shows as that command's error.
pub(super) enum Link {
    /// A standalone Redis (or a Valkey), or a primary behind a proxy.
    Single {
        client: redis::Client,
        manager: OnceCell<ConnectionManager>,
    },
    /// A Redis Cluster (or Valkey cluster): commands follow `MOVED` / `ASK` redirections.
    /// A failed operation drops the connection; the next one opens a fresh one, with a fresh
    /// slot map (a client can otherwise stay stuck on a master that failed over).
    Cluster {
        urls: Vec<String>,
        conn: Mutex<Option<ClusterConnection>>,
    },
}

/// A handle on the shared connection (cheap to clone).
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Link {
    /// The shared connection, set up on first use (so a store can be built outside a
    /// runtime and while Redis is down) with `timeout` for connecting and each response.
    pub(super) async fn get(&self, timeout: Duration) -> Result<Conn, String> {
        match self {
            Self::Single { client, manager } => manager
                .get_or_try_init(async || {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout))
                        .set_min_delay(Duration::from_millis(50))
                        .set_max_delay(Duration::from_secs(2));
                    ConnectionManager::new_lazy_with_config(client.clone(), config)
                })
                .await
                .map(|m| Conn::Single(m.clone()))
                .map_err(|e| e.to_string()),
            Self::Cluster { urls, conn } => {
                // One opener at a time; the others wait for its connection (bounded by the
                // caller's operation deadline).
                let mut held = conn.lock().await;
                if let Some(c) = held.as_ref() {
                    return Ok(Conn::Cluster(c.clone()));
                }
                let fresh = ClusterClient::builder(urls.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .build()
                    .map_err(|e| e.to_string())?
                    .get_async_connection()
                    .await
                    .map_err(|e| e.to_string())?;
                *held = Some(fresh.clone());
                Ok(Conn::Cluster(fresh))
            }
        }
    }

    /// After a failed operation: a cluster connection is dropped so the next operation opens
    /// a fresh one. (A standalone connection manager reconnects by itself.)
    pub(super) fn reset(&self) {
        if let Self::Cluster { conn, .. } = self
            && let Ok(mut held) = conn.try_lock()
        {
            *held = None;
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The hash tag that puts a scope's floor key and mark key in one cluster slot, so that one
/// `MGET` reads both: `{` + 16 hex digits of SHA-256 over the length-prefixed cluster and
/// scope + `}`. Derived from the identity instead of copied from it, so braces inside a
/// scope value cannot cut the tag short; two keys of one scope share every byte up to the
/// closing brace, which keeps them in one slot whatever the prefix holds.
pub(super) fn slot_tag(cluster: &ClusterId, scope: &ScopeKey) -> String {
    let c = cluster.as_str();
    let digest = Sha256::new()
        .chain_update(c.len().to_string())
        .chain_update(":")
        .chain_update(c)
        .chain_update(":")
        .chain_update(scope.as_str())
        .finalize();
    let mut tag = String::with_capacity(18);
    tag.push('{');
    for b in &digest[..8] {
        // Writing to a String cannot fail.
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('}');
    tag
}

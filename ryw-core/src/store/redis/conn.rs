//! One Redis or a Redis Cluster behind the same store: the pool and connection of either,
//! and the key layout each needs.

use std::fmt::Write as _;

use deadpool_redis::redis::aio::ConnectionLike;
use deadpool_redis::redis::{Cmd, Pipeline, RedisFuture, Value};
use deadpool_redis::{Connection, Pool, Status, cluster};
use sha2::{Digest, Sha256};

use crate::floors::{ClusterId, ScopeKey};

/// The pool a [`RedisStore`](super::RedisStore) takes connections from.
#[derive(Clone)]
pub(super) enum Pools {
    /// A standalone Redis (or a Valkey), or a primary behind a proxy.
    Single(Pool),
    /// A Redis Cluster (or Valkey cluster): commands follow `MOVED` / `ASK` redirections.
    Cluster(cluster::Pool),
}

/// A connection from either pool.
pub(super) enum Conn {
    Single(Connection),
    Cluster(cluster::Connection),
}

impl Pools {
    pub(super) async fn get(&self) -> Result<Conn, String> {
        match self {
            Self::Single(p) => p.get().await.map(Conn::Single).map_err(|e| e.to_string()),
            Self::Cluster(p) => p.get().await.map(Conn::Cluster).map_err(|e| e.to_string()),
        }
    }

    pub(super) fn status(&self) -> Status {
        match self {
            Self::Single(p) => p.status(),
            Self::Cluster(p) => p.status(),
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
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

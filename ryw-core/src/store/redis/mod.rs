//! `RedisStore`: scope floors shared by every app instance through one Redis or a Redis
//! Cluster.

mod conn;
mod feed;
mod lives;
mod many;
mod ops;
mod scripts;
mod value;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::cluster::ClusterClient;
use tokio::sync::OnceCell;

use conn::{Conn, Link, slot_tag};

use value::store_err;

use crate::RywError;
use crate::floors::{ClusterId, ScopeKey};

const STORE: &str = "redis";

/// How often a GTID-set raise retries its compare-and-set before giving up (each retry means
/// another writer changed the floor in between, so the floor as a whole made progress).
const MAX_CAS_ATTEMPTS: usize = 64;

/// Longest TTL sent to Redis (100 years): keeps `PX` well inside Redis' limits.
const MAX_TTL_MS: u128 = 100 * 365 * 24 * 3600 * 1000;

/// A [`ScopeStore`](super::ScopeStore) in Redis, shared by every app instance that uses the same Redis and key
/// prefix (feature `redis`, on [`redis`]' multiplexed connections): a standalone Redis ≥ 6.2 or Valkey
/// ([`from_url`](Self::from_url)), or a Redis Cluster ([`cluster_from_urls`](Self::cluster_from_urls)).
///
/// # Keys and values
///
/// A floor lives under the key `{prefix}{n}:{cluster}:{scope}`, where `n` is the length of
/// the cluster id in bytes (decimal). The length prefix makes the encoding unambiguous
/// whatever bytes the cluster id and the scope key contain (`pg:1:1` + `user_id:42` and
/// `pg:1` + `1:user_id:42` land on different keys), and the key stays readable in
/// `redis-cli`: `ryw:6:pg:1:1:user_id:42` (see [`key`](Self::key)).
///
/// The value is the position's text form behind a one-letter kind tag: `L:16/B374D848`
/// (PostgreSQL LSN), `G:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5` (MySQL GTID set),
/// `M:0-1-100,1-2-5` (MariaDB GTID list).
///
/// A floor raised on a leader epoch (Postgres: the timeline) carries it after an `@`
/// (`L:16/B374D848@2`); values without one (older entries, backends without epochs) read as
/// no epoch.
///
/// An unfenced mark lives under its own key ([`mark_key`](Self::mark_key)), holding the
/// mark's time in Unix milliseconds and expiring after its window; a lookup reads both keys
/// with one `MGET`.
///
/// # Noticing a store that lost its data
///
/// The same `MGET` reads a generation key, `{prefix}generation` (on a cluster one per slot,
/// under a hash tag of that slot), written once per store life with `SET NX`: gone after a
/// restart without persistence or a flush, another value once some instance wrote a new one.
/// At most once a second a lookup also compares the servers' `run_id` and `master_replid`
/// (`INFO`, on every master of a cluster) beside its `MGET`: a restart or a failover changes
/// them. Every lookup reports when the store's current life began
/// ([`StoredFloor::life_began`](crate::StoredFloor::life_began)); a router fences reads for a
/// young one.
///
/// # Redis Cluster
///
/// On a cluster, both keys of a scope carry one hash tag right after the prefix,
/// `{prefix}{{16 hex digits}}{n}:{cluster}:{scope}`, so they live in one slot: the lookup
/// stays one `MGET` and each raise one script call on one key, routed to the slot's master
/// (following `MOVED` / `ASK` while slots migrate). Scopes spread over all masters. The
/// cluster's own replication is asynchronous: a master that dies before its replica copied a
/// raise loses that raise (the floor in the request context and token still fences the
/// writer's session). A coordinated `CLUSTER FAILOVER` and resharding lose nothing.
///
/// # Never lowering a floor
///
/// A raise is never a plain `SET`:
///
/// * LSNs and MariaDB GTID lists are merged inside Redis by a Lua script, in one round trip
///   (`EVALSHA`, falling back to `EVAL` after a Redis restart emptied the script cache).
///   Numbers are compared exactly although Lua numbers are doubles: an LSN as its two 32-bit
///   halves, a 64-bit sequence number as two parts below `2 * 10^10` and `10^9`.
/// * MySQL GTID sets are merged in Rust ([`Position::merge`](crate::Position::merge)) and written with a
///   compare-and-set script (set only if the stored value is still the one the merge started
///   from), retried when another writer got in between (one round trip for a new scope, two
///   otherwise; it gives up with [`RywError::Store`] after 64 lost races in a row).
///
/// Either way the write is atomic, so concurrent writers in any order end at the merge of
/// all their positions. A raise of another kind than the stored floor fails with
/// [`RywError::ScopeKindMismatch`] and keeps the stored floor. Every raise, even one that
/// does not change the floor, keeps the key for at least its `ttl` (a longer remaining TTL
/// is kept, never shortened).
///
/// # Redis down
///
/// Every operation has a deadline (default [`RedisStore::DEFAULT_TIMEOUT`], 250 ms): when
/// Redis is down or slow, `get` and `raise` return [`RywError::Store`] quickly instead of
/// holding up the request, and the caller carries on with the floors of the request context
/// and token (the router counts the failure in `ryw_store_errors_total`). The first failure
/// of a burst is logged at `warn`, the recovery at `info`. Connections are re-established
/// by the pool once Redis is back.
///
/// A stored value that is not a valid tagged position (written by something else) makes
/// `get` and `raise` of that scope fail with [`RywError::Store`] until it expires or is
/// deleted; it is never overwritten.
///
/// # Example
///
/// Needs a tokio runtime (with the timer enabled) to run its futures.
///
/// ```no_run
/// use std::time::Duration;
/// use ryw_core::store::RedisStore;
/// use ryw_core::{ClusterId, ScopeKey, ScopeStore, position::{Lsn, Position}};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ryw_core::RywError> {
/// let store = RedisStore::from_url("redis://127.0.0.1:6379", "ryw:")?;
/// let (c, s) = (ClusterId::new("pg:1:1"), ScopeKey::of("user_id", 1));
/// let ttl = Duration::from_secs(30);
/// store.raise(&c, &s, &Lsn::new(200).into(), ttl).await?;
/// store.raise(&c, &s, &Lsn::new(100).into(), ttl).await?; // never lowers
/// assert_eq!(store.get(&c, &s).await?, Some(Position::Lsn(Lsn::new(200))));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    link: Arc<Link>,
    /// The generations and server identities seen: how a lost store is noticed.
    lives: Arc<lives::Lives>,
    prefix: Arc<str>,
    timeout: Duration,
    failing: Arc<AtomicBool>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.link.is_cluster())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RedisStore {
    /// Default deadline of one `get` or `raise`, and of the pool's wait, create and recycle
    /// steps in [`from_url`](Self::from_url).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

    /// A store on `client`'s Redis, with keys starting with `prefix` (say `"ryw:"`; two stores
    /// with different prefixes on one Redis do not see each other's floors). Every request
    /// shares one multiplexed connection, opened on first use and reopened in the background
    /// after a failure; each operation is cut off after
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) (see [`with_timeout`](Self::with_timeout)).
    ///
    /// ```no_run
    /// use ryw_core::store::RedisStore;
    /// let client = ryw_core::redis::Client::open("redis://127.0.0.1:6379").map_err(|e| e.to_string())?;
    /// let store = RedisStore::new(client, "ryw:");
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn new(client: redis::Client, prefix: impl Into<String>) -> Self {
        Self::on(
            Link::Single {
                client,
                manager: OnceCell::new(),
            },
            prefix,
        )
    }

    fn on(link: Link, prefix: impl Into<String>) -> Self {
        Self {
            link: Arc::new(link),
            lives: Arc::default(),
            prefix: prefix.into().into(),
            timeout: Self::DEFAULT_TIMEOUT,
            failing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A store on the Redis at `url` (`redis://host:port/db`, `rediss://…`), with
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) for connecting and every operation.
    /// Connects lazily: this succeeds while Redis is down.
    ///
    /// ```no_run
    /// use ryw_core::store::RedisStore;
    /// let store = RedisStore::from_url("redis://127.0.0.1:6379/0", "ryw:")?;
    /// # Ok::<(), ryw_core::RywError>(())
    /// ```
    ///
    /// # Errors
    /// [`RywError::Store`] when the URL is invalid.
    pub fn from_url(url: &str, prefix: impl Into<String>) -> Result<Self, RywError> {
        Self::from_url_with_timeout(url, prefix, Self::DEFAULT_TIMEOUT)
    }

    /// Like [`from_url`](Self::from_url) with `timeout` for connecting and as the deadline
    /// of every operation.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ryw_core::store::RedisStore;
    /// let store =
    ///     RedisStore::from_url_with_timeout("redis://127.0.0.1", "ryw:", Duration::from_millis(100))?;
    /// # Ok::<(), ryw_core::RywError>(())
    /// ```
    ///
    /// # Errors
    /// [`RywError::Store`] when the URL is invalid.
    pub fn from_url_with_timeout(
        url: &str,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, RywError> {
        let client = redis::Client::open(url)
            .map_err(|e| store_err(format!("invalid Redis URL {url:?}: {e}")))?;
        Ok(Self::new(client, prefix).with_timeout(timeout))
    }

    /// A store on a Redis Cluster, given the URLs of one or more of its nodes (the rest are
    /// discovered), with [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) for connecting and every
    /// operation. Connects lazily.
    ///
    /// ```no_run
    /// use ryw_core::store::RedisStore;
    /// let store = RedisStore::cluster_from_urls(
    ///     &["redis://10.0.0.7:6379", "redis://10.0.0.8:6379"],
    ///     "ryw:",
    /// )?;
    /// # Ok::<(), ryw_core::RywError>(())
    /// ```
    ///
    /// # Errors
    /// [`RywError::Store`] when a URL is invalid or none is given.
    pub fn cluster_from_urls(urls: &[&str], prefix: impl Into<String>) -> Result<Self, RywError> {
        if urls.is_empty() {
            return Err(store_err("a Redis Cluster needs at least one node URL"));
        }
        let urls: Vec<String> = urls.iter().map(|u| (*u).to_owned()).collect();
        // Validates the URLs now; the connection is made on first use.
        ClusterClient::new(urls.clone())
            .map_err(|e| store_err(format!("invalid Redis Cluster URLs {urls:?}: {e}")))?;
        Ok(Self::on(
            Link::Cluster {
                urls,
                conn: tokio::sync::Mutex::new(None),
            },
            prefix,
        ))
    }

    /// Whether this store talks to a Redis Cluster.
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        self.link.is_cluster()
    }

    /// Sets the deadline of every `get` and `raise` (connection checkout included).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ryw_core::store::RedisStore;
    /// let store = RedisStore::from_url("redis://127.0.0.1", "ryw:")?
    ///     .with_timeout(Duration::from_millis(500));
    /// # Ok::<(), ryw_core::RywError>(())
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    #[doc(hidden)]
    /// The Redis key of a floor: `{prefix}{cluster length}:{cluster}:{scope}` (on a Redis
    /// Cluster, with the scope's hash tag after the prefix).
    ///
    /// ```
    /// use ryw_core::{ClusterId, ScopeKey, store::RedisStore};
    /// let store = RedisStore::from_url("redis://127.0.0.1", "ryw:")?;
    /// let key = store.key(&ClusterId::new("pg:1:1"), &ScopeKey::of("user_id", 42));
    /// assert_eq!(key, "ryw:6:pg:1:1:user_id:42");
    /// # Ok::<(), ryw_core::RywError>(())
    /// ```
    #[must_use]
    pub fn key(&self, cluster: &ClusterId, scope: &ScopeKey) -> String {
        self.key_with("", cluster, scope)
    }

    #[doc(hidden)]
    /// The Redis key of a scope's unfenced mark: `{prefix}u{cluster length}:{cluster}:{scope}`
    /// (the `u` keeps it apart from every floor key, whose length part is all digits; on a
    /// Redis Cluster, the floor key's hash tag follows the prefix).
    ///
    /// ```
    /// use ryw_core::{ClusterId, ScopeKey, store::RedisStore};
    /// let store = RedisStore::from_url("redis://127.0.0.1", "ryw:")?;
    /// let key = store.mark_key(&ClusterId::new("pg:1"), &ScopeKey::of("user_id", 42));
    /// assert_eq!(key, "ryw:u4:pg:1:user_id:42");
    /// # Ok::<(), ryw_core::RywError>(())
    /// ```
    #[must_use]
    pub fn mark_key(&self, cluster: &ClusterId, scope: &ScopeKey) -> String {
        self.key_with("u", cluster, scope)
    }

    /// The generation key the lookup of `scope` reads, and its shard: `{prefix}generation`
    /// on a standalone Redis (shard 0); on a Redis Cluster one per slot, under a hash tag of
    /// the slot that holds the scope's keys (shard = slot).
    fn generation_key(&self, cluster: &ClusterId, scope: &ScopeKey) -> (u16, String) {
        if !self.link.is_cluster() {
            return (0, format!("{}generation", self.prefix));
        }
        let tag = slot_tag(cluster, scope);
        let slot = lives::slot_of(tag.trim_start_matches('{').trim_end_matches('}'));
        let key = format!("{}{{{}}}generation", self.prefix, lives::tag_for_slot(slot));
        (slot, key)
    }

    fn key_with(&self, kind: &str, cluster: &ClusterId, scope: &ScopeKey) -> String {
        let c = cluster.as_str();
        let tag = if self.link.is_cluster() {
            slot_tag(cluster, scope)
        } else {
            String::new()
        };
        format!(
            "{}{tag}{kind}{}:{c}:{}",
            self.prefix,
            c.len(),
            scope.as_str()
        )
    }

    /// Runs one operation under the deadline and logs the first failure of a burst.
    async fn guarded<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = Result<T, RywError>>,
    ) -> Result<T, RywError> {
        let res = match tokio::time::timeout(self.timeout, op).await {
            Ok(res) => res,
            Err(_) => Err(store_err(format!(
                "{what} timed out after {:?}",
                self.timeout
            ))),
        };
        match &res {
            Err(RywError::Store { reason, .. }) => {
                self.link.reset();
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%reason, "redis scope store failing; using request floors only");
                }
            }
            _ => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis scope store recovered");
                }
            }
        }
        res
    }

    async fn conn(&self) -> Result<Conn, RywError> {
        self.link
            .get(self.timeout)
            .await
            .map_err(|e| store_err(format!("no connection: {e}")))
    }
}

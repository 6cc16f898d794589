//! The store operations on Redis: one lookup, one mark, one atomic raise.

use std::time::Duration;

use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};

use super::conn::Conn;
use super::lives::{Seen, new_generation};
use super::scripts::{CAS, MERGE};
use super::value::{decode, encode, ends_arg, epoch_arg, split, store_err, tag_of};
use super::{MAX_CAS_ATTEMPTS, MAX_TTL_MS, RedisStore, STORE};
use crate::RywError;
use crate::floors::{ClusterId, ScopeKey, from_unix_ms, unix_ms};
use crate::position::{Position, PositionKind};
use crate::store::{EpochStamp, ScopeStore, StoreFuture, StoredFloor, merge_stored};

impl RedisStore {
    /// The floor, mark and generation of one scope, and the values of `extra` keys, in one
    /// `MGET`.
    async fn lookup_inner(
        &self,
        key: String,
        mark: String,
        (shard, generation): (u16, String),
        extra: &[String],
    ) -> Result<(StoredFloor, Vec<Option<String>>), RywError> {
        let mut conn = self.conn().await?;
        let mut cmd = redis::cmd("MGET");
        cmd.arg(&key).arg(&mark).arg(&generation).arg(extra);
        let mget = cmd.query_async::<Vec<Option<String>>>(&mut conn);
        // The identity check runs beside the MGET; a change it finds begins a new life that
        // `observe` below reports.
        let (answer, ()) = tokio::join!(mget, self.check_identity());
        let mut values = answer
            .map_err(|e| store_err(format!("MGET {key:?}: {e}")))?
            .into_iter();
        let (value, since, life) = (
            values.next().flatten(),
            values.next().flatten(),
            values.next().flatten(),
        );
        let unfenced_since = since
            .map(|v| {
                v.parse::<u64>().map(from_unix_ms).map_err(|_| {
                    let shown: String = v.chars().take(40).collect();
                    store_err(format!("key {mark:?} holds {shown:?}, not a time"))
                })
            })
            .transpose()?;
        let (position, epoch) = match value {
            Some(v) => {
                let (p, e) = decode(&key, &v)?;
                (Some(p), e)
            }
            None => (None, None),
        };
        let life_began = match self.lives.observe(shard, life.as_deref()) {
            Seen::Began(at) => at,
            Seen::Absent => self.begin_life(&mut conn, shard, &generation).await?,
        };
        let floor = StoredFloor {
            position,
            epoch,
            unfenced_since,
            life_began: Some(life_began),
        };
        Ok((floor, values.collect()))
    }

    /// Writes a generation where there is none (`SET NX`; another instance may win the race,
    /// whose value is then learnt).
    async fn begin_life(
        &self,
        conn: &mut Conn,
        shard: u16,
        key: &str,
    ) -> Result<std::time::SystemTime, RywError> {
        let value = new_generation();
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(&value)
            .arg("NX")
            .query_async(conn)
            .await
            .map_err(|e| store_err(format!("SET {key:?} NX: {e}")))?;
        let now_held = if set.is_some() {
            value
        } else {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(conn)
                .await
                .map_err(|e| store_err(format!("GET {key:?}: {e}")))?
                .unwrap_or(value)
        };
        tracing::warn!(
            key,
            "the redis scope store holds no generation: it lost its data (restarted empty or flushed) or is new; floors written before now may be gone"
        );
        Ok(self.lives.began_now(shard, &now_held))
    }

    /// Compares the servers' identities with the last ones seen, at most once per
    /// [`IDENTITY_EVERY`](super::lives::IDENTITY_EVERY): a change (a restart, a failover)
    /// begins a new life for every shard. An unreadable answer changes nothing.
    async fn check_identity(&self) {
        if !self.lives.identity_due() {
            return;
        }
        let Ok(mut conn) = self.conn().await else {
            return;
        };
        let answers = match &mut conn {
            Conn::Single(c) => redis::pipe()
                .cmd("INFO")
                .arg("server")
                .cmd("INFO")
                .arg("replication")
                .query_async::<Vec<redis::Value>>(c)
                .await
                .map_err(|e| e.to_string()),
            Conn::Cluster(c) => {
                let masters =
                    || RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let mut answers = Vec::new();
                let mut failed = None;
                for section in ["server", "replication"] {
                    let mut cmd = redis::cmd("INFO");
                    cmd.arg(section);
                    match c.route_command(cmd, masters()).await {
                        Ok(v) => answers.push(v),
                        Err(e) => failed = Some(e.to_string()),
                    }
                }
                failed.map_or(Ok(answers), Err)
            }
        };
        match answers {
            Ok(answers) => {
                if self.lives.identity_changed(&answers) {
                    tracing::warn!(
                        "the redis servers restarted or failed over: floors written before now may be gone"
                    );
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read the redis servers' identities"),
        }
    }

    async fn mark_inner(&self, mark: String, window: Duration) -> Result<(), RywError> {
        let mut conn = self.conn().await?;
        let now = unix_ms(std::time::SystemTime::now()).to_string();
        let ttl_ms = window.as_millis().clamp(1, MAX_TTL_MS).to_string();
        redis::cmd("SET")
            .arg(&mark)
            .arg(now)
            .arg("PX")
            .arg(ttl_ms)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| store_err(format!("SET {mark:?}: {e}")))
    }

    pub(super) async fn raise_inner(
        &self,
        key: String,
        scope: &ScopeKey,
        position: &Position,
        stamp: EpochStamp<'_>,
        ttl: Duration,
    ) -> Result<(), RywError> {
        let ttl_ms = ttl.as_millis().clamp(1, MAX_TTL_MS).to_string();
        let mismatch = |held: PositionKind| RywError::ScopeKindMismatch {
            scope: scope.to_string(),
            held,
            offered: position.kind(),
        };
        let mut conn = self.conn().await?;
        if let Position::GtidSet(_) = position {
            return self
                .raise_cas(&mut conn, &key, position, stamp, &ttl_ms, mismatch)
                .await;
        }
        let tag = tag_of(position.kind());
        let text = position.to_string();
        let (epoch, ends) = (epoch_arg(stamp.epoch), ends_arg(stamp.history));
        let (done, value): (i64, String) = MERGE
            .run(&mut conn, &key, &[tag, &text, &ttl_ms, &epoch, &ends])
            .await
            .map_err(|e| store_err(format!("raise {key:?}: {e}")))?;
        if done == 1 {
            return Ok(());
        }
        let (held, _, _) = split(&key, &value)?;
        Err(mismatch(held))
    }

    /// Merge in Rust, then compare-and-set; retried while other writers interleave.
    async fn raise_cas(
        &self,
        conn: &mut Conn,
        key: &str,
        position: &Position,
        stamp: EpochStamp<'_>,
        ttl_ms: &str,
        mismatch: impl Fn(PositionKind) -> RywError,
    ) -> Result<(), RywError> {
        let offered = encode(position, stamp.epoch);
        // First guess: the key is absent (one round trip for a new scope).
        let mut expected = String::new();
        let mut value = offered.clone();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (done, held): (i64, String) = CAS
                .run(conn, key, &[&expected, &value, ttl_ms])
                .await
                .map_err(|e| store_err(format!("raise {key:?}: {e}")))?;
            if done == 1 {
                return Ok(());
            }
            if held.is_empty() {
                value.clone_from(&offered);
            } else {
                let (held_pos, held_epoch) = decode(key, &held)?;
                let (merged, epoch) = merge_stored(&held_pos, held_epoch, position, stamp)
                    .map_err(|_| mismatch(held_pos.kind()))?;
                value = encode(&merged, epoch);
            }
            expected = held;
        }
        Err(store_err(format!(
            "raise {key:?}: still contended after {MAX_CAS_ATTEMPTS} attempts"
        )))
    }
}

impl ScopeStore for RedisStore {
    fn lookup<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
    ) -> StoreFuture<'a, StoredFloor> {
        let (key, mark) = (self.key(cluster, scope), self.mark_key(cluster, scope));
        let generation = self.generation_key(cluster, scope);
        Box::pin(self.guarded("get", async move {
            Ok(self.lookup_inner(key, mark, generation, &[]).await?.0)
        }))
    }

    fn lookup_fed<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        nodes: &'a [&'a str],
    ) -> StoreFuture<'a, (StoredFloor, Vec<Option<crate::store::FeedEntry>>)> {
        if self.link.is_cluster() {
            return Box::pin(async move { Ok((self.lookup(cluster, scope).await?, Vec::new())) });
        }
        let (key, mark) = (self.key(cluster, scope), self.mark_key(cluster, scope));
        let generation = self.generation_key(cluster, scope);
        let entries: Vec<String> = nodes.iter().map(|n| self.entry_key(cluster, n)).collect();
        Box::pin(self.guarded("get", async move {
            let (floor, values) = self.lookup_inner(key, mark, generation, &entries).await?;
            // An unreadable entry is no entry: the tracker reads the feed itself.
            let fed = entries
                .iter()
                .zip(values)
                .map(|(k, v)| v.and_then(|v| super::feed::parse_entry(k, &v).ok()))
                .collect();
            Ok((floor, fed))
        }))
    }

    fn mark_unfenced<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scope: &'a ScopeKey,
        window: Duration,
    ) -> StoreFuture<'a, ()> {
        let mark = self.mark_key(cluster, scope);
        Box::pin(self.guarded("mark", self.mark_inner(mark, window)))
    }

    fn raise_stamped<'a>(
        &'a self,
        cluster: &'a ClusterId,
        scopes: &'a [ScopeKey],
        position: &'a Position,
        stamp: EpochStamp<'a>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.guarded(
            "raise",
            self.raise_many_inner(cluster, scopes, position, stamp, ttl),
        ))
    }

    fn name(&self) -> &'static str {
        STORE
    }

    fn feed(&self) -> Option<&dyn crate::store::PositionFeed> {
        Some(self)
    }
}

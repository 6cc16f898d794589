//! The store operations on Redis: one lookup, one mark, one atomic raise.

use std::time::Duration;

use super::conn::Conn;
use super::scripts::{CAS, MERGE};
use super::value::{decode, encode, ends_arg, epoch_arg, split, store_err, tag_of};
use super::{MAX_CAS_ATTEMPTS, MAX_TTL_MS, RedisStore, STORE};
use crate::RywError;
use crate::floors::{ClusterId, ScopeKey, from_unix_ms, unix_ms};
use crate::position::{Position, PositionKind};
use crate::store::{EpochStamp, ScopeStore, StoreFuture, StoredFloor, merge_stored};

impl RedisStore {
    async fn lookup_inner(&self, key: String, mark: String) -> Result<StoredFloor, RywError> {
        let mut conn = self.conn().await?;
        let (value, since): (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg(&key)
            .arg(&mark)
            .query_async(&mut conn)
            .await
            .map_err(|e| store_err(format!("MGET {key:?}: {e}")))?;
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
        Ok(StoredFloor {
            position,
            epoch,
            unfenced_since,
        })
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
        Box::pin(self.guarded("get", self.lookup_inner(key, mark)))
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
}

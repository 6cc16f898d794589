//! Raising several scopes' floors for one write: one pipelined round trip.

use std::time::Duration;

use super::conn::Conn;
use super::scripts::MERGE;
use super::value::{ends_arg, epoch_arg, split, store_err, tag_of};
use super::{MAX_TTL_MS, RedisStore};
use crate::RywError;
use crate::floors::{ClusterId, ScopeKey};
use crate::position::Position;
use crate::store::EpochStamp;

impl RedisStore {
    /// Every scope's atomic max-merge in one pipeline on a standalone Redis. A Redis Cluster
    /// keeps each scope on its own slot, and MySQL GTID sets merge by compare-and-set in
    /// Rust: those raise one by one (and so does a Redis that lost its script cache meanwhile).
    pub(super) async fn raise_many_inner(
        &self,
        cluster: &ClusterId,
        scopes: &[ScopeKey],
        position: &Position,
        stamp: EpochStamp<'_>,
        ttl: Duration,
    ) -> Result<(), RywError> {
        let mut conn = self.conn().await?;
        let pipelined =
            matches!(conn, Conn::Single(_)) && !matches!(position, Position::GtidSet(_));
        if pipelined
            && let Some(done) = self
                .pipelined(&mut conn, cluster, scopes, position, stamp, ttl)
                .await
        {
            return done;
        }
        let mut first = None;
        for scope in scopes {
            let key = self.key(cluster, scope);
            if let Err(e) = self.raise_inner(key, scope, position, stamp, ttl).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The pipelined raise; `None` when Redis does not hold the script (it restarted, or
    /// another server loaded it under this process's cache): the caller raises one by one,
    /// which loads it again.
    async fn pipelined(
        &self,
        conn: &mut Conn,
        cluster: &ClusterId,
        scopes: &[ScopeKey],
        position: &Position,
        stamp: EpochStamp<'_>,
        ttl: Duration,
    ) -> Option<Result<(), RywError>> {
        match self
            .pipeline(conn, cluster, scopes, position, stamp, ttl)
            .await
        {
            Err(None) => None,
            Err(Some(e)) => Some(Err(e)),
            Ok(()) => Some(Ok(())),
        }
    }

    async fn pipeline(
        &self,
        conn: &mut Conn,
        cluster: &ClusterId,
        scopes: &[ScopeKey],
        position: &Position,
        stamp: EpochStamp<'_>,
        ttl: Duration,
    ) -> Result<(), Option<RywError>> {
        let ttl_ms = ttl.as_millis().clamp(1, MAX_TTL_MS).to_string();
        let (tag, text) = (tag_of(position.kind()), position.to_string());
        let (epoch, ends) = (epoch_arg(stamp.epoch), ends_arg(stamp.history));
        let sha = MERGE
            .sha(conn)
            .await
            .map_err(|e| Some(store_err(format!("SCRIPT LOAD: {e}"))))?;
        let keys: Vec<String> = scopes.iter().map(|s| self.key(cluster, s)).collect();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("EVALSHA")
                .arg(&sha)
                .arg(1)
                .arg(key)
                .arg(tag)
                .arg(&text)
                .arg(&ttl_ms)
                .arg(&epoch)
                .arg(&ends);
        }
        let answers: Vec<(i64, String)> = match pipe.query_async(conn).await {
            Ok(a) => a,
            Err(e) if e.code() == Some("NOSCRIPT") => return Err(None),
            Err(e) => return Err(Some(store_err(format!("raise {} scopes: {e}", keys.len())))),
        };
        for ((done, value), (key, scope)) in answers.into_iter().zip(keys.iter().zip(scopes)) {
            if done != 1 {
                let (held, _, _) = split(key, &value).map_err(Some)?;
                return Err(Some(RywError::ScopeKindMismatch {
                    scope: scope.to_string(),
                    held,
                    offered: position.kind(),
                }));
            }
        }
        Ok(())
    }
}

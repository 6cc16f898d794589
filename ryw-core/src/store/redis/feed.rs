//! The position feed in Redis: per replica a lease (`{token} {holder}`), a token counter, the
//! published entry and the readers' demand, under one hash tag on a cluster, each operation
//! one script call.

use std::time::{Duration, SystemTime};

use super::RedisStore;
use super::scripts::Script;
use super::value::{decode, encode, store_err};
use crate::floors::{ClusterId, ScopeKey};
use crate::store::{Demand, FeedEntry, Lease, PositionFeed, Published, StoreFuture};

/// KEYS: lease, token counter. ARGV: holder, TTL ms. The token held (renewed) or newly
/// taken, 0 while another holder has the lease.
const LUA_ACQUIRE: &str = r"
local held = redis.call('GET', KEYS[1])
if held then
  local sep = string.find(held, ' ', 1, true)
  if sep and string.sub(held, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(held, 1, sep - 1))
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return token
";

/// KEYS: lease, entry, demand. ARGV: token, value, lease TTL ms, entry TTL ms. -1 when the
/// token is not the lease's (nothing stored), else the demand level (0 idle, 1 pending,
/// 2 waiting).
const LUA_PUBLISH: &str = r"
local held = redis.call('GET', KEYS[1])
if not held then return -1 end
local sep = string.find(held, ' ', 1, true)
if not sep or string.sub(held, 1, sep - 1) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
return tonumber(redis.call('GET', KEYS[3]) or '0')
";

/// KEYS: entry, demand. ARGV: demand level, its TTL ms. `{demand now, entry}` (no entry
/// when none); a demand at least as high as the one held is stored for the TTL.
const LUA_READ: &str = r"
local level = tonumber(ARGV[1])
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if level > 0 and level >= held then
  redis.call('SET', KEYS[2], level, 'PX', ARGV[2])
  held = level
end
return {held, redis.call('GET', KEYS[1])}
";

static ACQUIRE: Script = Script::new(LUA_ACQUIRE);
static PUBLISH: Script = Script::new(LUA_PUBLISH);
static READ: Script = Script::new(LUA_READ);

/// How long a reader's demand lasts unless renewed: a few of its polls.
const DEMAND_TTL: Duration = Duration::from_millis(100);

/// Entries outlive their lease, so readers can tell a stale feed from none.
const ENTRY_TTL_FACTOR: u32 = 20;

fn demand_of(level: i64) -> Demand {
    match level {
        2.. => Demand::Waiting,
        1 => Demand::Pending,
        _ => Demand::Idle,
    }
}

fn ms(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

impl RedisStore {
    /// The key of `node`'s published entry, `{prefix}[tag]f{n}:{cluster}:replica:{node}`
    /// (built on every fenced read's lookup: the other keys only when a script needs them).
    pub(super) fn entry_key(&self, cluster: &ClusterId, node: &str) -> String {
        self.key_with("f", cluster, &ScopeKey::of("replica", node))
    }

    /// The feed keys of `node`: the lease, the token counter, the entry and the demand.
    fn feed_keys(&self, cluster: &ClusterId, node: &str) -> [String; 4] {
        let base = self.entry_key(cluster, node);
        [
            format!("{base}:lease"),
            format!("{base}:token"),
            base.clone(),
            format!("{base}:demand"),
        ]
    }
}

/// The stored form of an entry: the tagged position (with its epoch), the observation
/// time in Unix milliseconds after a `|`, and `|off` when the replica was unreachable.
fn entry_value(entry: &FeedEntry) -> String {
    let at = entry
        .observed_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let off = if entry.online { "" } else { "|off" };
    format!("{}|{at}{off}", encode(&entry.position, entry.epoch))
}

pub(super) fn parse_entry(key: &str, value: &str) -> Result<FeedEntry, crate::RywError> {
    let (value, online) = match value.strip_suffix("|off") {
        Some(v) => (v, false),
        None => (value, true),
    };
    let (tagged, at) = value
        .rsplit_once('|')
        .ok_or_else(|| store_err(format!("key {key:?} holds no feed entry")))?;
    let at: u64 = at
        .parse()
        .map_err(|_| store_err(format!("key {key:?} holds a bad observation time")))?;
    let (position, epoch) = decode(key, tagged)?;
    let observed_at = SystemTime::UNIX_EPOCH + Duration::from_millis(at);
    Ok(if online {
        FeedEntry::new(position, epoch, observed_at)
    } else {
        FeedEntry::unreachable(position, epoch, observed_at)
    })
}

impl PositionFeed for RedisStore {
    fn acquire<'a>(
        &'a self,
        cluster: &'a ClusterId,
        node: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Option<Lease>> {
        Box::pin(self.guarded("feed lease", async move {
            let [lease, token, _, _] = self.feed_keys(cluster, node);
            let mut conn = self.conn().await?;
            let got: u64 = ACQUIRE
                .run_keys(&mut conn, &[&lease, &token], &[holder, &ms(ttl)])
                .await
                .map_err(store_err)?;
            Ok((got > 0).then_some(Lease(got)))
        }))
    }

    fn publish<'a>(
        &'a self,
        cluster: &'a ClusterId,
        node: &'a str,
        lease: Lease,
        entry: &'a FeedEntry,
        ttl: Duration,
    ) -> StoreFuture<'a, Published> {
        Box::pin(self.guarded("feed publish", async move {
            let [lease_key, _, entry_key, demand] = self.feed_keys(cluster, node);
            let mut conn = self.conn().await?;
            let value = entry_value(entry);
            let token = lease.0.to_string();
            let args = [&*token, &value, &ms(ttl), &ms(ttl * ENTRY_TTL_FACTOR)];
            let keys = [&*lease_key, &entry_key, &demand];
            let level: i64 = PUBLISH
                .run_keys(&mut conn, &keys, &args)
                .await
                .map_err(store_err)?;
            Ok(if level < 0 {
                Published::Fenced
            } else {
                Published::Stored(demand_of(level))
            })
        }))
    }

    fn read<'a>(
        &'a self,
        cluster: &'a ClusterId,
        node: &'a str,
        demand: Demand,
    ) -> StoreFuture<'a, (Option<FeedEntry>, Demand)> {
        Box::pin(self.guarded("feed read", async move {
            let [_, _, entry_key, demand_key] = self.feed_keys(cluster, node);
            let mut conn = self.conn().await?;
            let level = match demand {
                Demand::Idle => "0",
                Demand::Pending => "1",
                Demand::Waiting => "2",
            };
            let args = [level, &ms(DEMAND_TTL)];
            let (held, value): (i64, Option<String>) = READ
                .run_keys(&mut conn, &[&entry_key, &demand_key], &args)
                .await
                .map_err(store_err)?;
            let entry = value.map(|v| parse_entry(&entry_key, &v)).transpose()?;
            Ok((entry, demand_of(held)))
        }))
    }
}

//! The Lua scripts that raise a floor atomically inside Redis, and how they are run.

use std::sync::OnceLock;

use redis::FromRedisValue;

use super::conn::Conn;

/// Shared by both scripts: store `value` under `key`, keeping it for at least `ttl_ms`
/// (`ttl_arg` is the same number as text, passed through to `PX` untouched).
/// A remaining TTL that is longer (or none at all) is kept; an unchanged value with a long
/// enough TTL is not written at all.
const LUA_STORE: &str = r"
local function store(key, old, value, ttl_ms, ttl_arg)
  local pttl = redis.call('PTTL', key)
  if pttl == -1 or pttl >= ttl_ms then
    if value ~= old then
      redis.call('SET', key, value, 'KEEPTTL')
    end
  else
    redis.call('SET', key, value, 'PX', ttl_arg)
  end
end
";

/// Max-merge of an LSN (`L`) or MariaDB GTID list (`M`), with the epochs they were raised on.
/// KEYS[1] floor key; ARGV[1] kind tag; ARGV[2] offered position text; ARGV[3] TTL in ms;
/// ARGV[4] the offered epoch (`''` for none); ARGV[5] where earlier epochs ended
/// (`epoch=lsn,...`, `''` for none). A held LSN of an earlier epoch is first lowered to its
/// epoch's end when ARGV[5] has it (the part beyond was lost in a failover); the merged
/// value carries the later epoch. Values without `@epoch` (older entries) have none.
/// Returns `{1, merged value}`, or `{0, held value}` when the key holds another kind.
const LUA_MERGE: &str = r"
local key, tag, offered, ttl_arg = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local offered_epoch, ends = tonumber(ARGV[4] or ''), ARGV[5] or ''

-- A decimal number of up to 20 digits as two exact doubles: hi * 10^9 + lo.
local function big(s)
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end

-- The larger of two LSNs `HI/LO` (hex halves of at most 32 bits each), nil if malformed.
local function lsn_max(a, b)
  local ah, al = string.match(a, '^(%x+)/(%x+)$')
  local bh, bl = string.match(b, '^(%x+)/(%x+)$')
  if not ah or not bh then return nil end
  ah, al, bh, bl = tonumber(ah, 16), tonumber(al, 16), tonumber(bh, 16), tonumber(bl, 16)
  if bh > ah or (bh == ah and bl > al) then return b end
  return a
end

-- Per-domain max of two GTID lists `d-s-q,...` on (seq, server), sorted by domain.
local function list_merge(a, b)
  local by, domains = {}, {}
  for _, list in ipairs({a, b}) do
    for item in string.gmatch(list, '[^,]+') do
      local d, s, q = string.match(item, '^(%d+)-(%d+)-(%d+)$')
      if not d then return nil end
      local qh, ql = big(q)
      local e = {tonumber(s), qh, ql, item}
      local dn = tonumber(d)
      local cur = by[dn]
      if not cur then
        by[dn] = e
        table.insert(domains, dn)
      elseif e[2] > cur[2] or (e[2] == cur[2] and (e[3] > cur[3]
          or (e[3] == cur[3] and e[1] > cur[1]))) then
        by[dn] = e
      end
    end
  end
  table.sort(domains)
  local out = {}
  for i, dn in ipairs(domains) do out[i] = by[dn][4] end
  return table.concat(out, ',')
end

-- A stored value's position text and epoch (nil when it has none).
local function parts(v)
  local text, e = string.match(v, '^(.*)@(%d+)$')
  if text then return text, tonumber(e) end
  return v, nil
end

-- Where epoch `e` ended, from `ends`; nil when it is not there.
local function end_of(e)
  for ep, pos in string.gmatch(ends, '(%d+)=([^,]+)') do
    if tonumber(ep) == e then return pos end
  end
  return nil
end

local held = redis.call('GET', key)
local merged, epoch = offered, offered_epoch
if held then
  if string.sub(held, 1, 2) ~= tag .. ':' then return {0, held} end
  local text, held_epoch = parts(string.sub(held, 3))
  if tag == 'L' and held_epoch and offered_epoch and held_epoch < offered_epoch then
    local e = end_of(held_epoch)
    -- min(text, e): what the failover kept of the held floor.
    if e and lsn_max(text, e) == text then text = e end
  end
  if tag == 'L' then
    merged = lsn_max(text, offered)
  else
    merged = list_merge(text, offered)
  end
  if not merged then
    return redis.error_reply('RYWCORRUPT stored floor ' .. key .. ' is not a valid position')
  end
  if held_epoch and (not epoch or held_epoch > epoch) then epoch = held_epoch end
end
local value = tag .. ':' .. merged
if epoch then value = value .. '@' .. string.format('%d', epoch) end
store(key, held, value, tonumber(ttl_arg), ttl_arg)
return {1, value}
";

/// Compare-and-set. KEYS[1] floor key; ARGV[1] the value the caller merged from (`''` when
/// absent); ARGV[2] the new value; ARGV[3] TTL in ms.
/// Returns `{1, new value}`, or `{0, held value or ''}` when the key changed meanwhile.
const LUA_CAS: &str = r"
local key, expected, value, ttl_arg = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('GET', key)
if (held or '') ~= expected then return {0, held or ''} end
store(key, held, value, tonumber(ttl_arg), ttl_arg)
return {1, value}
";

/// A Lua script and its SHA1 once Redis told us (from `SCRIPT LOAD`).
pub(super) struct Script {
    parts: [&'static str; 2],
    sha: OnceLock<String>,
}

impl Script {
    pub(super) const fn new(body: &'static str) -> Self {
        Self {
            parts: [LUA_STORE, body],
            sha: OnceLock::new(),
        }
    }

    fn body(&self) -> String {
        self.parts.concat()
    }

    /// The script's SHA1, loading it into Redis the first time.
    pub(super) async fn sha(&self, conn: &mut Conn) -> redis::RedisResult<String> {
        if let Some(sha) = self.sha.get() {
            return Ok(sha.clone());
        }
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(self.body())
            .query_async(conn)
            .await?;
        Ok(self.sha.get_or_init(|| sha).clone())
    }

    /// Runs the script on one key: `EVALSHA`, or `EVAL` when Redis lost its script cache.
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        conn: &mut Conn,
        key: &str,
        args: &[&str],
    ) -> redis::RedisResult<T> {
        self.run_keys(conn, &[key], args).await
    }

    /// Runs the script on `keys` (on a cluster, all in one slot).
    pub(super) async fn run_keys<T: FromRedisValue>(
        &self,
        conn: &mut Conn,
        keys: &[&str],
        args: &[&str],
    ) -> redis::RedisResult<T> {
        let sha = self.sha(conn).await?;
        let res = redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(keys.len())
            .arg(keys)
            .arg(args)
            .query_async(conn)
            .await;
        match res {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                redis::cmd("EVAL")
                    .arg(self.body())
                    .arg(keys.len())
                    .arg(keys)
                    .arg(args)
                    .query_async(conn)
                    .await
            }
            other => other,
        }
    }
}

pub(super) static MERGE: Script = Script::new(LUA_MERGE);
pub(super) static CAS: Script = Script::new(LUA_CAS);

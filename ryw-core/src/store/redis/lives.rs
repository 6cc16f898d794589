//! The store's lives: noticing that Redis lost what it held.
//!
//! Two signs, both cheap:
//!
//! * **A generation key**, written once per store life (`SET NX`) and read by every lookup in
//!   the same `MGET` as the floor: gone after a restart without persistence or a flush; a
//!   different value once another instance wrote a new one. On a Redis Cluster there is one
//!   per slot, under a hash tag of that slot, so it sits beside every floor key of the slot.
//! * **The servers' identities** (`run_id`, `master_replid` from `INFO`), read at most once
//!   per [`IDENTITY_EVERY`] alongside a lookup: a restart (even one that kept its data but
//!   maybe not its last writes) changes the run id; a replica promoted by a failover, which
//!   may lack writes its old master acknowledged, changes the replication id. The
//!   generation key survives both (it was written long before), so it cannot tell.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use redis::Value;
use sha2::{Digest, Sha256};

use crate::floors::{from_unix_ms, unix_ms};

/// How often the servers' identities are compared (at most; only when lookups happen).
pub(super) const IDENTITY_EVERY: Duration = Duration::from_secs(1);
/// Redis Cluster slots.
const SLOTS: u16 = 16384;

/// What a lookup learnt about the store's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// A generation is in place; the store's current life began at this time (as far as
    /// this instance can tell).
    Began(SystemTime),
    /// No generation: the store (or this slot of it) lost everything. The caller writes one
    /// and reports [`Lives::began_now`].
    Absent,
}

/// The generations and identities this store instance saw, and when it saw each life begin.
#[derive(Default)]
pub(super) struct Lives {
    /// Per shard: the generation value known and when its life began.
    generations: Mutex<HashMap<u16, (String, SystemTime)>>,
    identity: Mutex<Option<String>>,
    /// Unix ms of the last identity check (claimed by one lookup at a time).
    identity_checked: AtomicU64,
    /// Unix ms when the servers' identities last changed (0: never seen to).
    identity_changed_at: AtomicU64,
}

impl Lives {
    /// Compares the generation a lookup read for `shard` with the one known, learns it, and
    /// tells when the life holding it began: when this instance first saw it replace
    /// another; the generation's own creation time when it is the first one seen; never
    /// earlier than the last change of the servers' identities. The same answer on every
    /// lookup of that life, so a caller that missed one lookup is told again.
    pub(super) fn observe(&self, shard: u16, value: Option<&str>) -> Seen {
        let Some(value) = value else {
            return Seen::Absent;
        };
        let began = match self.generations.lock() {
            Ok(mut known) => {
                let now = from_unix_ms(unix_ms(SystemTime::now()));
                let entry = known.entry(shard).or_insert_with(|| {
                    let created = created_at(value).unwrap_or(SystemTime::UNIX_EPOCH);
                    (value.to_owned(), created)
                });
                if entry.0 != value {
                    *entry = (value.to_owned(), now);
                }
                entry.1
            }
            Err(_) => SystemTime::UNIX_EPOCH,
        };
        Seen::Began(began.max(self.identity_changed_at()))
    }

    /// Learns the generation this instance wrote (or lost the race to write): a life that
    /// began when that generation was created (every instance dates it alike).
    pub(super) fn began_now(&self, shard: u16, value: &str) -> SystemTime {
        let began = created_at(value).unwrap_or_else(SystemTime::now);
        if let Ok(mut known) = self.generations.lock() {
            known.insert(shard, (value.to_owned(), began));
        }
        began
    }

    fn identity_changed_at(&self) -> SystemTime {
        from_unix_ms(self.identity_changed_at.load(Ordering::Relaxed))
    }

    /// Whether an identity check is due; claims it when it is.
    pub(super) fn identity_due(&self) -> bool {
        let now = unix_ms(SystemTime::now());
        let last = self.identity_checked.load(Ordering::Relaxed);
        let every = u64::try_from(IDENTITY_EVERY.as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(last) >= every
            && self
                .identity_checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Compares the servers' identities (from `INFO` answers) with the ones known, and learns
    /// them; a change (a restart or a failover since the last check) begins a new life for
    /// every shard. True when they changed.
    pub(super) fn identity_changed(&self, answers: &[Value]) -> bool {
        let mut ids = Vec::new();
        for a in answers {
            collect_ids(a, &mut ids);
        }
        if ids.is_empty() {
            return false;
        }
        ids.sort();
        let now = ids.join(",");
        let Ok(mut known) = self.identity.lock() else {
            return false;
        };
        let changed = known.replace(now.clone()).is_some_and(|old| old != now);
        if changed {
            let at = unix_ms(SystemTime::now());
            self.identity_changed_at.store(at, Ordering::Relaxed);
        }
        changed
    }
}

/// A new generation value: its creation time (Unix ms) and a nonce.
pub(super) fn new_generation() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let digest = Sha256::new()
        .chain_update(nanos.to_le_bytes())
        .chain_update(std::process::id().to_le_bytes())
        .chain_update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes())
        .finalize();
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&digest[..8]);
    format!("{}-{:016x}", unix_ms(now), u64::from_le_bytes(nonce))
}

/// When a generation was created (`None` for a value this crate did not write).
fn created_at(value: &str) -> Option<SystemTime> {
    let (ms, _) = value.split_once('-')?;
    ms.parse().ok().map(from_unix_ms)
}

/// The `run_id:` and `master_replid:` lines of every text in an `INFO` answer (a map of
/// answers per node on a cluster).
fn collect_ids(v: &Value, out: &mut Vec<String>) {
    let text = match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(items) | Value::Set(items) => {
            items.iter().for_each(|i| collect_ids(i, out));
            return;
        }
        Value::Map(pairs) => {
            pairs.iter().for_each(|(_, i)| collect_ids(i, out));
            return;
        }
        _ => return,
    };
    for line in text.lines() {
        if let Some(id) = line
            .strip_prefix("run_id:")
            .or_else(|| line.strip_prefix("master_replid:"))
        {
            out.push(id.trim().to_owned());
        }
    }
}

/// The slot of a hash tag's content (CRC16/XMODEM, as Redis Cluster computes it).
pub(super) fn slot_of(tag: &str) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) % SLOTS
}

/// For every slot, a short hash-tag content that lands on it (found once per process).
pub(super) fn tag_for_slot(slot: u16) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags = vec![String::new(); usize::from(SLOTS)];
        let mut left = usize::from(SLOTS);
        let mut n: u64 = 0;
        while left > 0 {
            let candidate = format!("g{n:x}");
            let slot = &mut tags[usize::from(slot_of(&candidate))];
            if slot.is_empty() {
                *slot = candidate;
                left -= 1;
            }
            n += 1;
        }
        tags
    });
    tags.get(usize::from(slot % SLOTS))
        .map_or("", String::as_str)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_slot_has_a_tag_that_lands_on_it() {
        for slot in [0u16, 1, 5000, 16383] {
            assert_eq!(slot_of(tag_for_slot(slot)), slot);
        }
        // Redis' own example: the slot of "123456789" is 0x31C3 % 16384.
        assert_eq!(slot_of("123456789"), 0x31C3);
    }

    #[test]
    fn generations_are_told_apart_and_dated() {
        let lives = Lives::default();
        let g1 = new_generation();
        let g2 = new_generation();
        assert_ne!(g1, g2);
        assert_eq!(lives.observe(0, None), Seen::Absent);
        let Seen::Began(first) = lives.observe(0, Some(&g1)) else {
            panic!("a generation is in place");
        };
        assert!(SystemTime::now().duration_since(first).unwrap() < Duration::from_secs(5));
        assert_eq!(
            lives.observe(0, Some(&g1)),
            Seen::Began(first),
            "told again"
        );
        std::thread::sleep(Duration::from_millis(5));
        let Seen::Began(second) = lives.observe(0, Some(&g2)) else {
            panic!("a generation is in place");
        };
        assert!(second > first, "a changed generation is a new life");
        assert_eq!(
            lives.observe(1, Some("x")),
            Seen::Began(SystemTime::UNIX_EPOCH)
        );
        let g3 = new_generation();
        let now = lives.began_now(1, &g3);
        assert_eq!(lives.observe(1, Some(&g3)), Seen::Began(now));
    }

    #[test]
    fn identities_change_on_a_new_run_id_or_replication_id() {
        let lives = Lives::default();
        let info = |run: &str, repl: &str| {
            Value::BulkString(
                format!("# Server\r\nrun_id:{run}\r\nmaster_replid:{repl}\r\n").into(),
            )
        };
        assert!(!lives.identity_changed(&[info("a", "r")]));
        assert!(!lives.identity_changed(&[info("a", "r")]));
        assert_eq!(
            lives.observe(0, Some("g")),
            Seen::Began(SystemTime::UNIX_EPOCH)
        );
        assert!(lives.identity_changed(&[info("b", "r")]));
        assert!(
            matches!(lives.observe(0, Some("g")), Seen::Began(t) if t > SystemTime::UNIX_EPOCH),
            "a restart or failover begins a new life for every shard"
        );
        assert!(lives.identity_changed(&[info("b", "s")]));
        assert!(!lives.identity_changed(&[Value::Nil]));
    }
}

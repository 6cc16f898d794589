use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::{LogPosition, PositionKind};
use crate::RywError;

/// Largest transaction number MySQL hands out (`2^63 - 1`).
const MAX_GNO: u64 = i64::MAX as u64;
/// Longest tag MySQL 8.3+ accepts.
const MAX_TAG_LEN: usize = 32;

/// A server UUID (`@@server_uuid`), printed lowercase and hyphenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Uuid {
    type Err = RywError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || RywError::parse(PositionKind::GtidSet, s, format!("{s:?} is not a UUID"));
        let hyphenated = s.len() == 36
            && s.char_indices()
                .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
        if !(hyphenated || s.len() == 32) {
            return Err(err());
        }
        let digits: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
        let mut out = [0u8; 16];
        for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let hex = std::str::from_utf8(pair).map_err(|_| err())?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *slot = u8::from_str_radix(hex, 16).map_err(|_| err())?;
        }
        if digits.len() != 32 {
            return Err(err());
        }
        Ok(Self(out))
    }
}

/// An inclusive range of transaction numbers, `start-end` (or `n` when both are equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GtidInterval {
    /// First transaction number, at least 1.
    pub start: u64,
    /// Last transaction number, at least `start`.
    pub end: u64,
}

/// A MySQL 8 GTID set: per source UUID (and, from MySQL 8.3, per tag) a set of transaction
/// numbers, e.g. `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,<uuid2>:1-27` or the tagged
/// form `<uuid>:1-3:mytag:1-2`.
///
/// Parsing accepts what `@@GLOBAL.gtid_executed` prints (upper or lower case, newlines after
/// commas, unsorted or overlapping intervals) and normalises: UUIDs lowercase and sorted, tags
/// lowercase, intervals sorted and coalesced. [`covers`](LogPosition::covers) is the superset
/// relation, [`merge`](LogPosition::merge) the union.
///
/// ```
/// use ryw_core::position::{GtidSet, LogPosition};
/// let executed: GtidSet = "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:6-9:11-18".parse()?;
/// assert_eq!(executed.to_string(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9:11-18");
/// assert!(executed.covers(&"3e11fa47-71ca-11e1-9e33-c80aa9429562:3-7".parse()?));
/// assert!(!executed.covers(&"3e11fa47-71ca-11e1-9e33-c80aa9429562:10".parse()?));
/// # Ok::<(), ryw_core::RywError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GtidSet {
    /// (source uuid, tag — empty when untagged) -> normalised intervals (never empty).
    sets: BTreeMap<(Uuid, String), Vec<GtidInterval>>,
}

impl GtidSet {
    #[doc(hidden)]
    /// Builds a set from `(uuid, tag, intervals)` triples (tag `""` when untagged),
    /// normalising the intervals.
    ///
    /// # Errors
    /// [`RywError::ParsePosition`] when an interval is empty, starts at 0 or exceeds
    /// `2^63 - 1`, or a tag is not a valid MySQL tag.
    pub fn from_parts(
        parts: impl IntoIterator<Item = (Uuid, String, Vec<GtidInterval>)>,
    ) -> Result<Self, RywError> {
        let mut set = Self::default();
        for (uuid, tag, intervals) in parts {
            let tag = normalise_tag(&tag)?;
            for iv in intervals {
                check_interval(iv, &format!("{}-{}", iv.start, iv.end))?;
                set.sets.entry((uuid, tag.clone())).or_default().push(iv);
            }
        }
        for ivs in set.sets.values_mut() {
            normalise(ivs);
        }
        Ok(set)
    }

    #[doc(hidden)]
    /// The `(uuid, tag, intervals)` triples, sorted; tag is `""` when untagged.
    pub fn parts(&self) -> impl Iterator<Item = (&Uuid, &str, &[GtidInterval])> {
        self.sets
            .iter()
            .map(|((uuid, tag), ivs)| (uuid, tag.as_str(), ivs.as_slice()))
    }

    /// Whether the set holds no transaction.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

fn normalise(ivs: &mut Vec<GtidInterval>) {
    ivs.sort_unstable();
    let mut out: Vec<GtidInterval> = Vec::with_capacity(ivs.len());
    for iv in ivs.drain(..) {
        match out.last_mut() {
            Some(last) if iv.start <= last.end.saturating_add(1) => last.end = last.end.max(iv.end),
            _ => out.push(iv),
        }
    }
    *ivs = out;
}

fn check_interval(iv: GtidInterval, text: &str) -> Result<(), RywError> {
    if iv.start == 0 || iv.end < iv.start || iv.end > MAX_GNO {
        return Err(RywError::parse(
            PositionKind::GtidSet,
            text,
            format!("interval {text:?} must satisfy 1 <= start <= end <= 2^63-1"),
        ));
    }
    Ok(())
}

fn normalise_tag(tag: &str) -> Result<String, RywError> {
    let ok = tag.is_empty()
        || (tag.len() <= MAX_TAG_LEN
            && tag
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if ok {
        Ok(tag.to_ascii_lowercase())
    } else {
        Err(RywError::parse(
            PositionKind::GtidSet,
            tag,
            "a tag is 1-32 letters, digits or '_' and starts with a letter or '_'",
        ))
    }
}

fn contains(ivs: &[GtidInterval], iv: &GtidInterval) -> bool {
    // Intervals are coalesced, so a contained interval lies inside a single one of ours.
    let idx = ivs.partition_point(|x| x.start <= iv.start);
    idx > 0 && ivs[idx - 1].end >= iv.end
}

impl LogPosition for GtidSet {
    const KIND: PositionKind = PositionKind::GtidSet;

    fn covers(&self, other: &Self) -> bool {
        other.sets.iter().all(|(key, theirs)| {
            self.sets
                .get(key)
                .is_some_and(|ours| theirs.iter().all(|iv| contains(ours, iv)))
        })
    }

    fn merge(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (key, ivs) in &other.sets {
            let mine = out.sets.entry(key.clone()).or_default();
            mine.extend_from_slice(ivs);
            normalise(mine);
        }
        out
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut current: Option<&Uuid> = None;
        for ((uuid, tag), ivs) in &self.sets {
            if current == Some(uuid) {
                // Same source: continue the group (untagged sorts first, as "" < any tag).
            } else {
                if current.is_some() {
                    f.write_str(",")?;
                }
                write!(f, "{uuid}")?;
                current = Some(uuid);
            }
            if !tag.is_empty() {
                write!(f, ":{tag}")?;
            }
            for iv in ivs {
                if iv.start == iv.end {
                    write!(f, ":{}", iv.start)?;
                } else {
                    write!(f, ":{}-{}", iv.start, iv.end)?;
                }
            }
        }
        Ok(())
    }
}

impl FromStr for GtidSet {
    type Err = RywError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| RywError::parse(PositionKind::GtidSet, s, reason);
        let mut parts: Vec<(Uuid, String, Vec<GtidInterval>)> = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        for group in s.split(',') {
            let mut items = group.trim().split(':');
            let uuid: Uuid = items.next().unwrap_or_default().trim().parse()?;
            let mut tag = String::new();
            let mut pending: Vec<GtidInterval> = Vec::new();
            for item in items {
                let item = item.trim();
                if item.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
                    let (a, b) = item.split_once('-').unwrap_or((item, item));
                    let num = |p: &str| {
                        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                            return Err(err(format!("{item:?} is not an interval")));
                        }
                        p.parse::<u64>()
                            .map_err(|e| err(format!("interval {item:?}: {e}")))
                    };
                    let iv = GtidInterval {
                        start: num(a)?,
                        end: num(b)?,
                    };
                    check_interval(iv, item)?;
                    pending.push(iv);
                } else {
                    // A tag switches the current tag; intervals gathered so far belong to the
                    // previous (possibly empty) tag.
                    if !pending.is_empty() {
                        parts.push((uuid, tag.clone(), std::mem::take(&mut pending)));
                    } else if !tag.is_empty() {
                        return Err(err(format!("tag {tag:?} of {uuid} has no interval")));
                    }
                    tag = normalise_tag(item)?;
                    if tag.is_empty() {
                        return Err(err(format!("empty item after {uuid}")));
                    }
                }
            }
            if pending.is_empty() {
                return Err(err(if tag.is_empty() {
                    format!("{uuid} has no interval")
                } else {
                    format!("tag {tag:?} of {uuid} has no interval")
                }));
            }
            parts.push((uuid, tag, pending));
        }
        Self::from_parts(parts)
    }
}

use std::fmt;
use std::str::FromStr;

use super::{LogPosition, PositionKind};
use crate::RywError;

/// One MariaDB GTID: `domain-server-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MariaGtid {
    /// Replication domain id (`gtid_domain_id`).
    pub domain: u32,
    /// Id of the server that wrote the transaction. Does not take part in ordering.
    pub server: u32,
    /// Sequence number within the domain.
    pub seq: u64,
}

/// A MariaDB GTID position: at most one GTID per replication domain, e.g. `0-1-100,1-2-5`
/// (the form of `@@last_gtid`, `@@gtid_slave_pos`, `@@gtid_binlog_pos`).
///
/// Order is per domain on the sequence number; the server id is carried but does not order
/// (MariaDB's `MASTER_GTID_WAIT` compares the same way). So two lists that differ only in a
/// server id cover each other without being equal. Parsing a list that names a domain twice
/// keeps the larger sequence number; the empty string is the empty position.
///
/// ```
/// use ryw_core::position::{GtidList, LogPosition};
/// let replica: GtidList = "0-1-100,1-2-5".parse()?;
/// assert!(replica.covers(&"0-2-99".parse()?));
/// assert!(!replica.covers(&"2-1-1".parse()?));
/// # Ok::<(), ryw_core::RywError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GtidList {
    /// Sorted by domain, one entry per domain.
    gtids: Vec<MariaGtid>,
}

impl GtidList {
    #[doc(hidden)]
    /// The list holding the given GTIDs (a domain named twice keeps its larger sequence).
    #[must_use]
    pub fn from_gtids(gtids: impl IntoIterator<Item = MariaGtid>) -> Self {
        gtids.into_iter().fold(Self::default(), |mut acc, g| {
            acc.insert(g);
            acc
        })
    }

    #[doc(hidden)]
    /// The GTIDs, sorted by domain.
    #[must_use]
    pub fn gtids(&self) -> &[MariaGtid] {
        &self.gtids
    }

    /// Whether no domain has a position.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.gtids.is_empty()
    }

    fn insert(&mut self, g: MariaGtid) {
        match self.gtids.binary_search_by_key(&g.domain, |x| x.domain) {
            Ok(i) => {
                let cur = &mut self.gtids[i];
                if (g.seq, g.server) > (cur.seq, cur.server) {
                    *cur = g;
                }
            }
            Err(i) => self.gtids.insert(i, g),
        }
    }

    fn seq_of(&self, domain: u32) -> Option<u64> {
        self.gtids
            .binary_search_by_key(&domain, |x| x.domain)
            .ok()
            .map(|i| self.gtids[i].seq)
    }
}

impl LogPosition for GtidList {
    const KIND: PositionKind = PositionKind::GtidList;

    fn covers(&self, other: &Self) -> bool {
        other
            .gtids
            .iter()
            .all(|g| self.seq_of(g.domain).is_some_and(|seq| seq >= g.seq))
    }

    fn merge(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for g in &other.gtids {
            out.insert(*g);
        }
        out
    }
}

impl fmt::Display for GtidList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.gtids.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}-{}-{}", g.domain, g.server, g.seq)?;
        }
        Ok(())
    }
}

impl FromStr for GtidList {
    type Err = RywError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| RywError::parse(PositionKind::GtidList, s, reason);
        let mut list = Self::default();
        if s.trim().is_empty() {
            return Ok(list);
        }
        for item in s.split(',') {
            let item = item.trim();
            let mut parts = item.split('-');
            let (Some(d), Some(sv), Some(n), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(err(format!("{item:?} is not domain-server-seq")));
            };
            let num = |p: &str, what: &str| -> Result<u64, RywError> {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(format!(
                        "{what} {p:?} in {item:?} is not a decimal number"
                    )));
                }
                p.parse::<u64>()
                    .map_err(|e| err(format!("{what} {p:?} in {item:?}: {e}")))
            };
            let u32_of = |v: u64, what: &str| {
                u32::try_from(v).map_err(|_| err(format!("{what} {v} in {item:?} exceeds 32 bits")))
            };
            list.insert(MariaGtid {
                domain: u32_of(num(d, "domain id")?, "domain id")?,
                server: u32_of(num(sv, "server id")?, "server id")?,
                seq: num(n, "sequence number")?,
            });
        }
        Ok(list)
    }
}

//! Log positions of a leader's replication stream and their partial order.
//!
//! A *position* names a point in the leader's log: every write committed at or before it. A
//! replica that has applied position `p` shows every write that `p` covers. The three kinds:
//!
//! | type | database | text form |
//! |---|---|---|
//! | [`Lsn`] | PostgreSQL | `16/B374D848` |
//! | [`GtidSet`] | MySQL 8 | `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18` (8.3+: `uuid:tag:1-5`) |
//! | [`GtidList`] | MariaDB | `0-1-100,1-2-5` |
//!
//! Each implements [`LogPosition`]: a text round trip (`FromStr` / `Display`), [`covers`]
//! (is every write in `other` also in `self`?) and [`merge`] (least upper bound). [`Position`]
//! holds any of them; comparing two of different kinds is a typed error, never `false`.
//!
//! [`covers`]: LogPosition::covers
//! [`merge`]: LogPosition::merge
//!
//! ```
//! use ryw_core::position::{GtidList, LogPosition, Lsn};
//!
//! let replica: Lsn = "16/B374D848".parse()?;
//! let fence: Lsn = "16/B374D800".parse()?;
//! assert!(replica.covers(&fence));
//!
//! let a: GtidList = "0-1-100,1-2-5".parse()?;
//! let b: GtidList = "0-1-90,2-3-7".parse()?;
//! assert_eq!(a.merge(&b).to_string(), "0-1-100,1-2-5,2-3-7");
//! # Ok::<(), ryw_core::RywError>(())
//! ```

mod gtid_list;
mod gtid_set;
mod lsn;
mod reach;

use std::fmt;
use std::str::FromStr;

pub use gtid_list::{GtidList, MariaGtid};
pub use gtid_set::{GtidInterval, GtidSet, Uuid};
pub use lsn::Lsn;
pub use reach::LeaderHolds;

use crate::RywError;

/// Behaviour shared by every kind of log position.
#[doc(hidden)]
pub trait LogPosition: Clone + fmt::Debug + fmt::Display + FromStr<Err = RywError> {
    /// Which kind this is.
    const KIND: PositionKind;

    /// Whether every write contained in `other` is also contained in `self`
    /// (a replica at `self` shows everything a fence at `other` demands).
    fn covers(&self, other: &Self) -> bool;

    /// The least position that covers both `self` and `other`.
    #[must_use]
    fn merge(&self, other: &Self) -> Self;
}

/// The kind of a [`Position`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PositionKind {
    /// PostgreSQL WAL LSN.
    Lsn,
    /// MySQL 8 GTID set.
    GtidSet,
    /// MariaDB GTID list.
    GtidList,
}

impl fmt::Display for PositionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lsn => "PostgreSQL LSN",
            Self::GtidSet => "MySQL GTID set",
            Self::GtidList => "MariaDB GTID list",
        })
    }
}

/// A log position of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Position {
    /// PostgreSQL WAL LSN.
    Lsn(Lsn),
    /// MySQL 8 GTID set.
    GtidSet(GtidSet),
    /// MariaDB GTID list.
    GtidList(GtidList),
}

impl Position {
    /// Which kind this is.
    #[must_use]
    pub fn kind(&self) -> PositionKind {
        match self {
            Self::Lsn(_) => PositionKind::Lsn,
            Self::GtidSet(_) => PositionKind::GtidSet,
            Self::GtidList(_) => PositionKind::GtidList,
        }
    }

    /// Parses the text form of a position of the given kind.
    ///
    /// ```
    /// use ryw_core::position::{Position, PositionKind};
    /// let p = Position::parse(PositionKind::GtidList, "0-1-7")?;
    /// assert_eq!(p.to_string(), "0-1-7");
    /// # Ok::<(), ryw_core::RywError>(())
    /// ```
    pub fn parse(kind: PositionKind, text: &str) -> Result<Self, RywError> {
        Ok(match kind {
            PositionKind::Lsn => Self::Lsn(text.parse()?),
            PositionKind::GtidSet => Self::GtidSet(text.parse()?),
            PositionKind::GtidList => Self::GtidList(text.parse()?),
        })
    }

    /// Whether every write in `other` is also in `self`.
    ///
    /// # Errors
    /// [`RywError::KindMismatch`] when the two are of different kinds.
    pub fn covers(&self, other: &Self) -> Result<bool, RywError> {
        match (self, other) {
            (Self::Lsn(a), Self::Lsn(b)) => Ok(a.covers(b)),
            (Self::GtidSet(a), Self::GtidSet(b)) => Ok(a.covers(b)),
            (Self::GtidList(a), Self::GtidList(b)) => Ok(a.covers(b)),
            _ => Err(self.mismatch(other)),
        }
    }

    /// The least position covering both.
    ///
    /// # Errors
    /// [`RywError::KindMismatch`] when the two are of different kinds.
    pub fn merge(&self, other: &Self) -> Result<Self, RywError> {
        match (self, other) {
            (Self::Lsn(a), Self::Lsn(b)) => Ok(Self::Lsn(a.merge(b))),
            (Self::GtidSet(a), Self::GtidSet(b)) => Ok(Self::GtidSet(a.merge(b))),
            (Self::GtidList(a), Self::GtidList(b)) => Ok(Self::GtidList(a.merge(b))),
            _ => Err(self.mismatch(other)),
        }
    }

    /// Bytes of log between `earlier` and `self`, where positions are byte offsets
    /// (Postgres LSNs); `None` for GTIDs, which count transactions, not bytes.
    #[must_use]
    pub fn bytes_since(&self, earlier: &Self) -> Option<u64> {
        match (self, earlier) {
            (Self::Lsn(a), Self::Lsn(b)) => Some(a.bytes_since(*b)),
            _ => None,
        }
    }

    #[doc(hidden)]
    /// The higher of two optional floors: their [`merge`](Self::merge), or the first when
    /// they cannot be merged (positions of different kinds never raise each other).
    #[must_use]
    pub fn max_of(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.merge(&b).unwrap_or(a)),
            (a, b) => a.or(b),
        }
    }

    fn mismatch(&self, other: &Self) -> RywError {
        RywError::KindMismatch {
            left: self.kind(),
            right: other.kind(),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lsn(p) => p.fmt(f),
            Self::GtidSet(p) => p.fmt(f),
            Self::GtidList(p) => p.fmt(f),
        }
    }
}

impl From<Lsn> for Position {
    fn from(p: Lsn) -> Self {
        Self::Lsn(p)
    }
}

impl From<GtidSet> for Position {
    fn from(p: GtidSet) -> Self {
        Self::GtidSet(p)
    }
}

impl From<GtidList> for Position {
    fn from(p: GtidList) -> Self {
        Self::GtidList(p)
    }
}

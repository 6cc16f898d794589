use std::fmt;
use std::str::FromStr;

use super::{LogPosition, PositionKind};
use crate::RywError;

/// A PostgreSQL write-ahead-log position (`pg_lsn`), written `XXXXXXXX/XXXXXXXX` in hex.
///
/// ```
/// use ryw_core::position::{LogPosition, Lsn};
/// let lsn: Lsn = "16/B374D848".parse()?;
/// assert_eq!(lsn.as_u64(), 0x16_B374_D848);
/// assert_eq!(lsn.to_string(), "16/B374D848");
/// assert!(lsn.covers(&Lsn::new(0x16_0000_0000)));
/// # Ok::<(), ryw_core::RywError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Lsn(u64);

impl Lsn {
    /// The LSN with the given 64-bit value.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The 64-bit value.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Bytes of WAL between `earlier` and `self` (0 when `earlier` is not earlier).
    #[must_use]
    pub const fn bytes_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl LogPosition for Lsn {
    const KIND: PositionKind = PositionKind::Lsn;

    fn covers(&self, other: &Self) -> bool {
        self.0 >= other.0
    }

    fn merge(&self, other: &Self) -> Self {
        Self(self.0.max(other.0))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Lsn {
    type Err = RywError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| RywError::parse(PositionKind::Lsn, s, reason);
        let (hi, lo) = s
            .split_once('/')
            .ok_or_else(|| err("expected two hex numbers separated by '/'"))?;
        let half = |part: &str| -> Result<u64, RywError> {
            if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err("each half must be 1 to 8 hex digits"));
            }
            u64::from_str_radix(part, 16).map_err(|e| err(&e.to_string()))
        };
        Ok(Self((half(hi)? << 32) | half(lo)?))
    }
}

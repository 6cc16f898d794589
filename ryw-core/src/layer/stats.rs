//! What the layer counts: rejected tokens, by reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::RywError;

/// The `reason` labels of rejected tokens, in [`LayerStats::rejected_by_reason`] order.
pub const REJECTION_REASONS: [&str; 7] = [
    "malformed",
    "version",
    "unknown_key",
    "bad_signature",
    "expired",
    "from_future",
    "other",
];

/// Counters of a [`RywLayer`](super::RywLayer), shared by the layer, every service it made,
/// and every clone of this handle. Useful where no metrics recorder is installed (tests,
/// health pages).
#[derive(Debug, Clone, Default)]
pub struct LayerStats {
    rejected: Arc<[AtomicU64; REJECTION_REASONS.len()]>,
}

impl LayerStats {
    /// How many incoming tokens were rejected (and treated as absent) so far.
    #[must_use]
    pub fn rejected_tokens(&self) -> u64 {
        self.rejected
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Rejected tokens per reason (see [`REJECTION_REASONS`]).
    #[must_use]
    pub fn rejected_by_reason(&self) -> Vec<(&'static str, u64)> {
        REJECTION_REASONS
            .iter()
            .zip(self.rejected.iter())
            .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
            .collect()
    }

    pub(super) fn count_rejection(&self, reason: &'static str) {
        let i = REJECTION_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(REJECTION_REASONS.len() - 1);
        self.rejected[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// The `reason` label of `ryw_tokens_rejected_total` for `err`.
pub(super) fn rejection_reason(err: &RywError) -> &'static str {
    match err {
        RywError::TokenMalformed { .. } => "malformed",
        RywError::TokenVersion { .. } => "version",
        RywError::TokenUnknownKey { .. } => "unknown_key",
        RywError::TokenBadSignature { .. } => "bad_signature",
        RywError::TokenExpired { .. } => "expired",
        RywError::TokenFromFuture { .. } => "from_future",
        // Not expected: importing into a fresh context cannot conflict.
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn reasons_cover_every_rejection() {
        let errs = [
            RywError::TokenMalformed { reason: "x".into() },
            RywError::TokenVersion {
                found: 9,
                supported: 1,
            },
            RywError::TokenUnknownKey { key_id: 3 },
            RywError::TokenBadSignature { key_id: 3 },
            RywError::TokenExpired {
                age: Duration::from_secs(2),
                max_age: Duration::from_secs(1),
            },
            RywError::TokenFromFuture {
                ahead: Duration::from_secs(2),
                skew: Duration::from_secs(1),
            },
        ];
        for e in &errs {
            assert!(e.is_token_rejection());
            assert_ne!(rejection_reason(e), "other", "{e}");
        }
    }
}

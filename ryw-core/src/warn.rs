//! Warnings an operator must see, without flooding the log: at most one line per interval
//! for each kind of event, saying how many were folded into it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one warning through per `interval`; counts the rest.
///
/// ```
/// use std::time::Duration;
/// use ryw_core::warn::RateLimited;
///
/// let limit = RateLimited::new(Duration::from_secs(10));
/// assert_eq!(limit.check(), Some(0)); // log it: nothing was folded
/// assert_eq!(limit.check(), None); // folded into the next line
/// ```
#[derive(Debug)]
pub struct RateLimited {
    start: Instant,
    interval_ms: u64,
    /// Milliseconds since `start` at which the next warning may pass (0: at once).
    next_ms: AtomicU64,
    folded: AtomicU64,
}

impl RateLimited {
    /// One warning per `interval`.
    #[must_use]
    pub fn new(interval: Duration) -> Self {
        Self {
            start: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
            folded: AtomicU64::new(0),
        }
    }

    /// `Some(folded)` when a warning may be logged now (`folded` were held back since the
    /// last one); `None` when this one is folded into the next.
    pub fn check(&self) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.interval_ms),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.folded.swap(0, Ordering::AcqRel));
        }
        self.folded.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for RateLimited {
    /// One warning every 10 seconds.
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

//! Records events with timestamps relative to the start of a run, from many tasks at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::history::{Event, FaultRecord, History, Op};

/// A thread-safe history being written.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    next_id: AtomicU64,
    events: Mutex<Vec<Event>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder whose clock starts now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            next_id: AtomicU64::new(0),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the recorder was made.
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records `event` as is.
    pub fn push(&self, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }

    /// Records an operation, giving it the next id.
    pub fn op(&self, mut op: Op) {
        op.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.push(Event::Op(op));
    }

    /// Records a fault event that started at `start_ns`.
    pub fn fault(&self, start_ns: u64, fault: &str, detail: String, error: Option<String>) {
        if let Some(e) = &error {
            tracing::warn!(fault, %detail, error = %e, "fault control failed");
        } else {
            tracing::info!(fault, %detail, "fault applied");
        }
        self.push(Event::Fault(FaultRecord {
            start_ns,
            end_ns: self.now_ns(),
            fault: fault.to_owned(),
            detail,
            error,
        }));
    }

    /// The history so far.
    #[must_use]
    pub fn history(&self) -> History {
        History {
            events: self
                .events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

//! What the ledger's warnings say.

use std::io::Write;
use std::sync::{Arc, Mutex};

use ryw_core::{ClusterId, ScopeKey};

use super::{Event, Ledger};

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged(f: impl FnOnce()) -> String {
    let sink = Captured::default();
    let out = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = sink
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_foreign_floor_warning_names_the_foreign_cluster_and_ours() {
    let ledger = Ledger::default();
    let foreign = ClusterId::new("pg:1111111111111111111");
    let ours = ClusterId::new("pg:2222222222222222222");
    let scope = ScopeKey::of("user_id", 7);
    let log = logged(|| {
        ledger.record(Event::ForeignFloor {
            scope: &scope,
            foreign: &foreign,
            ours: &ours,
        });
    });
    assert!(log.contains("foreign=pg:1111111111111111111"), "{log}");
    assert!(log.contains("ours=pg:2222222222222222222"), "{log}");
    assert_eq!(ledger.stats().foreign_floors, 1);
}

//! The insert-LSN normalisation that keeps a fence reachable when a commit ends exactly on a
//! WAL page or segment boundary (the insert position then points past the next header, which
//! an idle replica never reports as replayed).
#![cfg(feature = "postgres")]
#![allow(missing_docs)]

use ryw_core::position::Lsn;
use ryw_diesel::Postgres;

#[test]
fn positions_just_past_a_page_header_go_back_to_the_boundary() {
    let pg = Postgres::new();
    // 8 KiB page boundary + short page header (24 bytes).
    assert_eq!(
        pg.normalise_insert_lsn(Lsn::new(0x0300_2000 + 24)),
        Lsn::new(0x0300_2000)
    );
    // 16 MiB segment boundary + long page header (40 bytes).
    assert_eq!(
        pg.normalise_insert_lsn(Lsn::new(0x0400_0000 + 40)),
        Lsn::new(0x0400_0000)
    );
}

#[test]
fn other_positions_are_untouched() {
    let pg = Postgres::new();
    for v in [
        0x0300_2000,
        0x0300_2000 + 23,
        0x0300_2000 + 25,
        0x0300_2000 + 48,
    ] {
        assert_eq!(pg.normalise_insert_lsn(Lsn::new(v)), Lsn::new(v), "{v:#x}");
    }
}

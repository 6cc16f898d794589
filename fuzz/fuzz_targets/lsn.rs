//! The Lsn parser on arbitrary text, alone and split in two (a pair for covers/merge).
#![no_main]
use ryw_core::fuzzing::{position_pair, position_text};
use ryw_core::position::Lsn;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    position_text::<Lsn>(&text);
    if let Some((a, b)) = text.split_once('|') {
        position_pair::<Lsn>(a, b);
    }
});

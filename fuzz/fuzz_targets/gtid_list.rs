//! The GtidList parser on arbitrary text, alone and split in two (a pair for covers/merge).
#![no_main]
use ryw_core::fuzzing::{position_pair, position_text};
use ryw_core::position::GtidList;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    position_text::<GtidList>(&text);
    if let Some((a, b)) = text.split_once('|') {
        position_pair::<GtidList>(a, b);
    }
});

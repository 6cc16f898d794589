//! The GtidSet parser on arbitrary text, alone and split in two (a pair for covers/merge).
#![no_main]
use ryw::__internals::fuzzing::position_input;
use ryw::position::GtidSet;

libfuzzer_sys::fuzz_target!(|data: &[u8]| position_input::<GtidSet>(data));

//! Token decode, three ways, chosen by the first byte (properties in `ryw::__internals::fuzzing`):
//!
//! - `0`: the rest as token text — never panics; what decodes round-trips.
//! - `1`: the rest as a *payload*, signed with the fuzzing key, so the decoder behind the MAC
//!   (postcard, positions, floors) sees arbitrary bytes — never panics; what decodes
//!   re-encodes and decodes to the same floors.
//! - `2`: one byte of a valid token replaced — rejected, or (never expected) the same floors.
#![no_main]

use std::sync::OnceLock;

use ryw::__internals::fuzzing;

fn samples() -> &'static [String] {
    static SAMPLES: OnceLock<Vec<String>> = OnceLock::new();
    SAMPLES.get_or_init(|| (0..9).map(fuzzing::sample_token).collect())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => fuzzing::token_bytes(rest),
        1 => {
            fuzzing::signed_payload(rest);
        }
        _ => {
            if let [pick, hi, lo, byte, ..] = *rest {
                let token = &samples()[usize::from(pick) % samples().len()];
                fuzzing::one_byte_changed(token, usize::from(u16::from_be_bytes([hi, lo])), byte);
            }
        }
    }
});

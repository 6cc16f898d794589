//! `RywLayer` on arbitrary token-header and `Cookie`-header bytes (split at the first NUL).
//! Every `0x01` byte — never valid in a header value — stands for a valid token signed now, so
//! the accepting path is reached as often as the rejecting one. The properties are
//! `ryw::__internals::fuzzing::layer_case`'s.
#![no_main]

use std::sync::OnceLock;

use ryw::__internals::fuzzing::{ValidToken, layer_case};

fn valid() -> &'static ValidToken {
    static VALID: OnceLock<ValidToken> = OnceLock::new();
    VALID.get_or_init(ValidToken::new)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (header, cookie) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    layer_case(valid(), header, cookie);
});

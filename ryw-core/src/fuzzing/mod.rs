//! Properties every input from outside must satisfy, shared by the fuzz targets (`fuzz/`) and
//! their bounded equivalent in `cargo test` (`tests/fuzz_equivalents.rs`). Each function
//! panics — the fuzzer's crash signal — when a property fails; none may panic otherwise,
//! whatever the input.
//!
//! Not part of the API (feature `fuzzing`, hidden from the docs).
#![allow(clippy::panic, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::position::LogPosition;
use crate::token::{TOKEN_VERSION, TokenCodec};
use crate::{ClusterId, Floors, KeyRing, ScopeKey};

/// The key id and secret of [`codec`].
const KEY_ID: u8 = 1;
const SECRET: [u8; 32] = [0x5a; 32];
const MAC_LEN: usize = 32;

/// The codec the token properties decode with (a fixed test key).
#[must_use]
pub fn codec() -> TokenCodec {
    TokenCodec::new(KeyRing::new(KEY_ID, &SECRET).expect("a 32-byte key is valid"))
}

/// The fixed "now" tokens are issued and decoded at, so runs are reproducible.
#[must_use]
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// A valid token holding `scopes` floors (a seed for mutations), issued at [`now`].
#[must_use]
pub fn sample_token(scopes: u32) -> String {
    let mut floors = Floors::default();
    let cluster = ClusterId::new("pg:7:1");
    for i in 0..scopes {
        let pos = crate::position::Lsn::new(u64::from(i) * 0x1_0000 + 0x28).into();
        floors
            .raise(&cluster, &ScopeKey::of("user_id", i64::from(i)), pos)
            .expect("one kind of position");
    }
    codec().encode_at(&floors, now()).expect("encodes")
}

/// `payload` signed with [`codec`]'s key, as a token: reaches the decoder behind the MAC.
#[must_use]
pub fn sign_payload(payload: &[u8]) -> String {
    let mut bytes = vec![TOKEN_VERSION, KEY_ID];
    bytes.extend_from_slice(payload);
    let mut mac = Hmac::<Sha256>::new_from_slice(&SECRET).expect("any key length");
    mac.update(&bytes);
    bytes.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The payload of a token signed with [`codec`] (`None` for anything else).
#[must_use]
pub fn payload_of(token: &str) -> Option<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let body = raw.get(2..raw.len().checked_sub(MAC_LEN)?)?.to_vec();
    (sign_payload(&body) == token).then_some(body)
}

/// Parsing `text` as `P` never panics; what parses prints and parses back to the same value,
/// covers itself, and merges with itself to itself.
pub fn position_text<P: LogPosition + PartialEq>(text: &str) {
    let Ok(p) = text.parse::<P>() else { return };
    let printed = p.to_string();
    let back: P = printed
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} parsed, but its print {printed:?} does not: {e}"));
    assert!(back == p, "{text:?} -> {printed:?} changed the value");
    assert!(p.covers(&p), "{printed} does not cover itself");
    assert!(p.merge(&p) == p, "{printed} merged with itself changed");
}

/// For two texts that both parse: the merge covers both, and `covers` agrees with the merge
/// (`a` covers `b` exactly when `a` covers their merge: merging adds nothing `a` lacks).
/// Compared through `covers`, not `==`: MariaDB positions ignore the server id, so equal
/// positions may be spelled differently.
pub fn position_pair<P: LogPosition + PartialEq>(a: &str, b: &str) {
    let (Ok(a), Ok(b)) = (a.parse::<P>(), b.parse::<P>()) else {
        return;
    };
    let m = a.merge(&b);
    assert!(
        m.covers(&a) && m.covers(&b),
        "{m} does not cover {a} and {b}"
    );
    assert_eq!(
        a.covers(&b),
        a.covers(&m),
        "covers and merge disagree on {a}, {b}"
    );
}

/// One fuzz input for positions of type `P`: the whole text through [`position_text`], and
/// when it holds a `|`, the two halves through [`position_pair`].
pub fn position_input<P: LogPosition + PartialEq>(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    position_text::<P>(&text);
    if let Some((a, b)) = text.split_once('|') {
        position_pair::<P>(a, b);
    }
}

/// Decoding `bytes` as a token never panics; a token that decodes re-encodes and decodes to
/// the same floors.
pub fn token_bytes(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    round_trip(&codec(), text);
}

/// `payload` behind a valid signature: the decoder (postcard, positions, floors) never
/// panics, and what decodes re-encodes and decodes to the same floors. Decoded with a codec
/// that accepts any issue time and never folds, so the round trip must be exact. Returns
/// whether it decoded.
pub fn signed_payload(payload: &[u8]) -> bool {
    let lenient = codec()
        .with_max_age(Duration::MAX)
        .with_clock_skew(Duration::MAX)
        .with_max_scopes(usize::MAX);
    round_trip(&lenient, &sign_payload(payload))
}

/// `token` with the byte at `at` (modulo its length) replaced by `byte`: rejected, or (never
/// expected of a MAC) decoded to the same floors.
pub fn one_byte_changed(token: &str, at: usize, byte: u8) {
    let mut bytes = token.as_bytes().to_vec();
    if bytes.is_empty() {
        return;
    }
    let at = at % bytes.len();
    if bytes[at] == byte {
        return;
    }
    bytes[at] = byte;
    let changed = String::from_utf8_lossy(&bytes);
    let codec = codec();
    if let Ok(decoded) = codec.decode_at(&changed, now()) {
        let original = codec.decode_at(token, now()).expect("the original decodes");
        assert!(
            decoded.floors == original.floors,
            "{changed:?}: one changed byte decoded to other floors"
        );
    }
}

fn round_trip(codec: &TokenCodec, text: &str) -> bool {
    let Ok(decoded) = codec.decode_at(text, now()) else {
        return false;
    };
    let again = codec
        .encode_at(&decoded.floors, now())
        .expect("decoded floors re-encode");
    let back = codec
        .decode_at(&again, now())
        .expect("a fresh token decodes");
    assert!(
        back.floors == decoded.floors,
        "floors changed in a round trip"
    );
    true
}

#[cfg(feature = "tower")]
mod layer;

#[cfg(feature = "tower")]
pub use layer::{ValidToken, layer_case};

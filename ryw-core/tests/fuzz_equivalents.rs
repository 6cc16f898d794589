//! The fuzz targets' bounded equivalent, run by `cargo test`: 125,000 seeded cases of the same
//! properties over random inputs and mutations of valid ones — token decode (text, signed
//! payloads, one-byte changes: 60,000), the three position parsers (15,000 each), the layer's
//! header and cookie handling (20,000). The long runs are cargo-fuzz's (`fuzz/`).
#![cfg(feature = "fuzzing")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ryw_core::fuzzing;
use ryw_core::position::{GtidList, GtidSet, LogPosition, Lsn};
use ryw_core::{ClusterId, Floors, ScopeKey};

/// Characters the position grammars are made of, so random text often gets deep.
const POSITION_ALPHABET: &[u8] = b"0123456789abcdefABCDEF/-:,. xX\n\tg_";

fn random_bytes(rng: &mut StdRng, alphabet: Option<&[u8]>, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..=max);
    (0..n)
        .map(|_| match alphabet {
            Some(a) => a[rng.random_range(0..a.len())],
            None => rng.random(),
        })
        .collect()
}

/// One to four byte-level mutations: flip, replace, insert, delete, duplicate a run.
fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=v.len());
        match rng.random_range(0..5) {
            0 if at < v.len() => v[at] ^= 1 << rng.random_range(0..8),
            1 if at < v.len() => v[at] = rng.random(),
            2 => v.insert(at, rng.random()),
            3 if at < v.len() => {
                v.remove(at);
            }
            _ => {
                let end = (at + rng.random_range(0..8)).min(v.len());
                let run = v[at..end].to_vec();
                v.splice(at..at, run);
            }
        }
    }
    v
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---- token decode -------------------------------------------------------------------------

/// Valid tokens of every position kind, issued at `fuzzing::now()`.
fn sample_tokens() -> Vec<String> {
    let mut tokens: Vec<String> = (0..9).map(fuzzing::sample_token).collect();
    let mut floors = Floors::default();
    let set: GtidSet = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18:tag_a:1-3"
        .parse()
        .unwrap();
    let list: GtidList = "0-1-6,1-2-100".parse().unwrap();
    floors
        .raise(
            &ClusterId::new("mysql:a"),
            &ScopeKey::of("user_id", 1),
            set.into(),
        )
        .unwrap();
    floors
        .raise_session(&ClusterId::new("mariadb:b"), list.into())
        .unwrap();
    tokens.push(fuzzing::codec().encode_at(&floors, fuzzing::now()).unwrap());
    tokens
}

/// Text as a token: never panics; what decodes round-trips.
#[test]
fn token_text_40k() {
    let mut rng = StdRng::seed_from_u64(1);
    let seeds = sample_tokens();
    for i in 0..40_000 {
        let input = if i % 2 == 0 {
            random_bytes(&mut rng, None, 400)
        } else {
            mutate(&mut rng, seeds[i % seeds.len()].as_bytes())
        };
        fuzzing::token_bytes(&input);
    }
    // The seeds themselves decode (the mutations start from valid tokens).
    for s in &seeds {
        fuzzing::token_bytes(s.as_bytes());
    }
}

/// Arbitrary payloads behind a valid signature: the decoder never panics, and what decodes
/// re-encodes and decodes to the same floors (a codec accepting any age, never folding).
#[test]
fn signed_payloads_10k() {
    let seeds: Vec<Vec<u8>> = sample_tokens()
        .iter()
        .map(|t| fuzzing::payload_of(t).expect("signed with the fuzzing key"))
        .collect();
    let mut rng = StdRng::seed_from_u64(6);
    let mut decoded_some = 0;
    for i in 0..10_000 {
        let payload = if i % 4 == 0 {
            random_bytes(&mut rng, None, 120)
        } else {
            mutate(&mut rng, &seeds[i % seeds.len()])
        };
        decoded_some += usize::from(fuzzing::signed_payload(&payload));
    }
    // The mutations get past the decoder often enough to test the round trip.
    assert!(decoded_some > 500, "only {decoded_some} payloads decoded");
}

/// One byte of a valid token replaced: rejected, or (never expected) the same floors.
#[test]
fn one_byte_changes_10k() {
    let mut rng = StdRng::seed_from_u64(7);
    let seeds = sample_tokens();
    for i in 0..10_000 {
        let token = &seeds[i % seeds.len()];
        let byte = if i % 2 == 0 {
            // Another base64url character: still decodes as base64, must fail the MAC.
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                [rng.random_range(0..64)]
        } else {
            rng.random()
        };
        fuzzing::one_byte_changed(token, rng.random_range(0..token.len()), byte);
    }
}

// ---- positions ----------------------------------------------------------------------------

fn positions<P: LogPosition + PartialEq>(seed: u64, valid: &[&str]) {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..15_000 {
        let input = match i % 3 {
            0 => random_bytes(&mut rng, Some(POSITION_ALPHABET), 60),
            1 => mutate(&mut rng, valid[i % valid.len()].as_bytes()),
            _ => random_bytes(&mut rng, None, 40),
        };
        let a = text(&input);
        fuzzing::position_text::<P>(&a);
        let pick = rng.random_range(0..valid.len());
        let b = text(&mutate(&mut rng, valid[pick].as_bytes()));
        fuzzing::position_pair::<P>(&a, &b);
        fuzzing::position_pair::<P>(valid[i % valid.len()], &b);
    }
}

#[test]
fn lsn_15k() {
    positions::<Lsn>(
        2,
        &[
            "0/0",
            "0/3000028",
            "16/B374D848",
            "FFFFFFFF/FFFFFFFF",
            "1/0",
        ],
    );
}

#[test]
fn gtid_set_15k() {
    positions::<GtidSet>(
        3,
        &[
            "",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,2174b383-5441-11e8-b90a-c80aa9429562:1-27",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_a:1-3",
        ],
    );
}

#[test]
fn gtid_list_15k() {
    positions::<GtidList>(
        4,
        &[
            "",
            "0-1-6",
            "0-1-6,1-2-100",
            "4294967295-4294967295-18446744073709551615",
        ],
    );
}

// ---- the layer ----------------------------------------------------------------------------

#[cfg(feature = "tower")]
#[test]
fn layer_headers_20k() {
    let valid = fuzzing::ValidToken::new();
    let mut rng = StdRng::seed_from_u64(5);
    let placeholder = [1_u8];
    let mut accepted = 0;
    for i in 0..20_000 {
        let header = match i % 5 {
            0 => Vec::new(),
            1 => mutate(&mut rng, valid.token.as_bytes()),
            2 => placeholder.to_vec(),
            3 => random_bytes(&mut rng, Some(b" \t\x01"), 3),
            _ => random_bytes(&mut rng, None, 120),
        };
        let cookie = match i % 4 {
            0 => Vec::new(),
            1 => b"ryw=\x01".to_vec(),
            2 => format!(
                "a=b; ryw={}; ryw=x",
                text(&mutate(&mut rng, valid.token.as_bytes()))
            )
            .into_bytes(),
            _ => random_bytes(&mut rng, Some(b"ryw=;\" ,abc\t\x01"), 60),
        };
        if !fuzzing::layer_case(&valid, &header, &cookie).is_empty() {
            accepted += 1;
        }
    }
    // Both paths are exercised: many requests carry a token the layer accepts.
    assert!(
        accepted > 4_000,
        "only {accepted} requests accepted a token"
    );
}

/// Found by the `layer_headers` target: a blank `ryw-token` header hid the cookie, so the
/// session's floors were dropped although the documentation says a blank header counts as
/// absent. (Fixed in `layer.rs`: a blank header falls through to the cookie.)
#[cfg(feature = "tower")]
#[test]
fn blank_header_falls_back_to_the_cookie() {
    let valid = fuzzing::ValidToken::new();
    for header in [&b""[..], b" ", b"\t "] {
        let floors = fuzzing::layer_case(&valid, header, b"ryw=\x01");
        assert_eq!(floors, valid.floors, "header {header:?}");
    }
}

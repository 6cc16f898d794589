//! Signed session tokens: the floors of a session, carried by the client between requests,
//! devices and background jobs.
//!
//! # Format
//! `base64url( version:u8 | key_id:u8 | payload | HMAC-SHA256(version | key_id | payload) )`
//! where `payload` is a [postcard] encoding (varints) of the issue time and, per cluster, its
//! identity, an optional session-wide floor, the per-scope floors (each with its age and the
//! leader epoch it was captured on) and the scopes written without a known position. The
//! token is signed so a client cannot forge a far-future position (which would push all its
//! reads to the leader) or lower a floor. Version 1 tokens (bare positions) are still read.
//!
//! # Size
//! A token for one Postgres cluster with 8 scopes keyed `user_id:<n>` is 350 characters
//! (measured by the `eight_scopes_fit_in_a_cookie` test), far below the 4096-byte cookie limit.
//! Past [`TokenCodec::max_scopes`] scopes the lowest floors are folded into one session-wide
//! floor, so a token never grows without bound.
//!
//! # Floors leave
//! A floor only matters until every replica has replayed it. Each floor carries its age, and
//! floors older than [`TokenCodec::floor_horizon`] (default five minutes) are dropped when a
//! token is written: a session that keeps one token for days carries only its recent writes.
//!
//! # Key rotation
//! Every token names the key that signed it. [`KeyRing`] signs with its newest key and verifies
//! with any key it holds. To rotate without logging anyone out: (1) deploy the new key as a
//! verify-only key ([`KeyRing::with_verify_key`]) on every instance; (2) deploy it as the
//! signing key ([`KeyRing::rotate`]), keeping the old one for verification; (3) after
//! [`TokenCodec::max_age`] has passed, remove the old key.
//!
//! ```
//! use std::time::Duration;
//! use ryw_core::{ClusterId, Floors, KeyRing, ScopeKey, TokenCodec, position::Lsn};
//!
//! let codec = TokenCodec::new(KeyRing::new(1, &[7u8; 32])?).with_max_age(Duration::from_secs(600));
//! let mut floors = Floors::default();
//! floors.raise(&ClusterId::new("pg:1"), &ScopeKey::of("user_id", 42), Lsn::new(0x16_B374_D848).into())?;
//! let token = codec.encode(&floors)?;
//! assert_eq!(codec.decode(&token)?.floors, floors);
//! assert!(codec.decode("garbage").is_err());
//! # Ok::<(), ryw_core::RywError>(())
//! ```

mod keyring;
mod wire;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

pub use keyring::KeyRing;
use wire::{WireTokenV1, WireTokenV2};

use crate::RywError;
use crate::floors::Floors;

/// The token format version this build writes (it also reads [`TOKEN_VERSION_V1`]).
pub const TOKEN_VERSION: u8 = 2;
/// The previous format, still read: bare positions, no ages, epochs or unfenced marks.
pub const TOKEN_VERSION_V1: u8 = 1;
/// Longest token text accepted before any decoding work (bytes).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Shortest accepted secret (bytes): HMAC-SHA256 keys shorter than the hash add no strength.
pub const MIN_SECRET_LEN: usize = 32;
const MAC_LEN: usize = 32;

/// A verified, decoded token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedToken {
    /// The floors the token carries.
    pub floors: Floors,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// The key that signed it.
    pub key_id: u8,
}

/// Encodes and verifies session tokens.
#[derive(Debug, Clone)]
pub struct TokenCodec {
    keys: KeyRing,
    max_age: Duration,
    max_scopes: usize,
    clock_skew: Duration,
    floor_horizon: Duration,
}

impl TokenCodec {
    /// Default [`max_age`](Self::with_max_age): one hour. A floor only matters until every
    /// replica has replayed it — seconds, normally — so an hour is generous.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
    /// Default [`max_scopes`](Self::with_max_scopes).
    pub const DEFAULT_MAX_SCOPES: usize = 8;
    /// Default allowed clock skew between app instances.
    pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
    /// Default [`floor_horizon`](Self::with_floor_horizon): five minutes, well past any lag a
    /// replica that still serves reads has.
    pub const DEFAULT_FLOOR_HORIZON: Duration = Duration::from_secs(300);

    /// A codec with default limits.
    #[must_use]
    pub fn new(keys: KeyRing) -> Self {
        Self {
            keys,
            max_age: Self::DEFAULT_MAX_AGE,
            max_scopes: Self::DEFAULT_MAX_SCOPES,
            clock_skew: Self::DEFAULT_CLOCK_SKEW,
            floor_horizon: Self::DEFAULT_FLOOR_HORIZON,
        }
    }

    /// Floors (and unfenced marks) raised longer ago than this are dropped when a token is
    /// written. Keep it above the store TTL and above the lag of any replica that serves
    /// reads: a dropped floor no longer holds a read back.
    #[must_use]
    pub fn with_floor_horizon(mut self, horizon: Duration) -> Self {
        self.floor_horizon = horizon;
        self
    }

    #[doc(hidden)]
    /// The floor horizon.
    #[must_use]
    pub fn floor_horizon(&self) -> Duration {
        self.floor_horizon
    }

    /// Tokens older than this are rejected.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// At most this many per-scope floors are written; the rest are folded into a
    /// session-wide floor.
    #[must_use]
    pub fn with_max_scopes(mut self, max_scopes: usize) -> Self {
        self.max_scopes = max_scopes;
        self
    }

    /// Tokens claiming an issue time further than this in the future are rejected.
    #[must_use]
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    #[doc(hidden)]
    /// The maximum age.
    #[must_use]
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    #[doc(hidden)]
    /// The maximum number of per-scope floors in a token.
    #[must_use]
    pub fn max_scopes(&self) -> usize {
        self.max_scopes
    }

    #[doc(hidden)]
    /// Encodes and signs `floors`, issued now.
    ///
    /// # Errors
    /// [`RywError::TokenMalformed`] if the floors cannot be serialised (not expected).
    pub fn encode(&self, floors: &Floors) -> Result<String, RywError> {
        self.encode_at(floors, SystemTime::now())
    }

    #[doc(hidden)]
    /// Encodes and signs `floors` with the given issue time.
    ///
    /// # Errors
    /// [`RywError::TokenMalformed`] if the floors cannot be serialised (not expected).
    pub fn encode_at(&self, floors: &Floors, now: SystemTime) -> Result<String, RywError> {
        let mut floors = floors.clone();
        if let Some(cutoff) = now.checked_sub(self.floor_horizon) {
            floors.shed_older_than(cutoff);
        }
        floors.fold_to(self.max_scopes);
        floors.fold_marks_to(self.max_scopes);
        let wire = WireTokenV2::from_floors(&floors, crate::floors::unix_ms(now));
        let mut bytes = postcard::to_extend(&wire, vec![TOKEN_VERSION, self.keys.signing])
            .map_err(malformed)?;
        let mut mac = self.keys.signing_mac.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        Ok(URL_SAFE_NO_PAD.encode(&bytes))
    }

    #[doc(hidden)]
    /// Verifies and decodes a token, now.
    ///
    /// Decoding is total: any input yields a token or a typed error, never a panic.
    ///
    /// # Errors
    /// [`RywError::TokenMalformed`], [`RywError::TokenVersion`], [`RywError::TokenUnknownKey`],
    /// [`RywError::TokenBadSignature`], [`RywError::TokenExpired`] or
    /// [`RywError::TokenFromFuture`].
    pub fn decode(&self, token: &str) -> Result<DecodedToken, RywError> {
        self.decode_at(token, SystemTime::now())
    }

    #[doc(hidden)]
    /// Verifies and decodes a token as of `now`.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_at(&self, token: &str, now: SystemTime) -> Result<DecodedToken, RywError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(RywError::TokenMalformed {
                reason: format!("{} bytes is longer than {MAX_TOKEN_LEN}", token.len()),
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|e| RywError::TokenMalformed {
                reason: format!("not base64url: {e}"),
            })?;
        let [version, key_id, rest @ ..] = bytes.as_slice() else {
            return Err(RywError::TokenMalformed {
                reason: "too short".into(),
            });
        };
        if *version != TOKEN_VERSION && *version != TOKEN_VERSION_V1 {
            return Err(RywError::TokenVersion {
                found: *version,
                supported: TOKEN_VERSION,
            });
        }
        let Some(payload_len) = rest.len().checked_sub(MAC_LEN) else {
            return Err(RywError::TokenMalformed {
                reason: "too short to hold a signature".into(),
            });
        };
        let (payload, tag) = rest.split_at(payload_len);
        let mut mac = self
            .keys
            .get(*key_id)
            .cloned()
            .ok_or(RywError::TokenUnknownKey { key_id: *key_id })?;
        mac.update(&[*version, *key_id]);
        mac.update(payload);
        mac.verify_slice(tag)
            .map_err(|_| RywError::TokenBadSignature { key_id: *key_id })?;

        let (issued_ms, floors) = if *version == TOKEN_VERSION_V1 {
            let wire: WireTokenV1 = take_all(payload)?;
            (wire.issued_at.checked_mul(1000), wire.into_floors())
        } else {
            let wire: WireTokenV2 = take_all(payload)?;
            (Some(wire.issued_at_ms), wire.into_floors())
        };
        // `checked_add`: a signed token can still carry any u64, and `+` would panic on one
        // that `SystemTime` cannot represent.
        let issued_at = issued_ms
            .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
            .ok_or_else(|| RywError::TokenMalformed {
                reason: "issue time is out of range".into(),
            })?;
        match now.duration_since(issued_at) {
            Ok(age) if age > self.max_age => {
                return Err(RywError::TokenExpired {
                    age,
                    max_age: self.max_age,
                });
            }
            Ok(_) => {}
            Err(ahead) if ahead.duration() > self.clock_skew => {
                return Err(RywError::TokenFromFuture {
                    ahead: ahead.duration(),
                    skew: self.clock_skew,
                });
            }
            Err(_) => {}
        }
        Ok(DecodedToken {
            floors: floors?,
            issued_at,
            key_id: *key_id,
        })
    }
}

fn malformed(e: postcard::Error) -> RywError {
    RywError::TokenMalformed {
        reason: e.to_string(),
    }
}

/// Decodes one postcard value that must fill `payload` exactly.
fn take_all<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, RywError> {
    let (value, trailing): (T, &[u8]) = postcard::take_from_bytes(payload).map_err(malformed)?;
    if trailing.is_empty() {
        Ok(value)
    } else {
        Err(RywError::TokenMalformed {
            reason: format!("{} trailing bytes", trailing.len()),
        })
    }
}

//! The one error type of `ryw-core`.

use std::time::Duration;

use crate::position::PositionKind;

/// Everything that can go wrong in `ryw-core`.
///
/// Every message names the scope, position or token part at fault, so a log line is enough to
/// tell what happened without a debugger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RywError {
    /// A position string did not parse.
    #[error("invalid {kind} position {input:?}: {reason}")]
    ParsePosition {
        /// The kind of position that was expected.
        kind: PositionKind,
        /// The offending input (truncated to 120 characters).
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two positions of different kinds were compared or merged (say, a Postgres LSN and a
    /// MariaDB GTID). They never order: treating that as `false` would silently drop a fence.
    #[error("cannot compare a {left} position with a {right} position")]
    KindMismatch {
        /// Kind of the left-hand position.
        left: PositionKind,
        /// Kind of the right-hand position.
        right: PositionKind,
    },
    /// A scope was raised with a position of another kind than the floor it already has.
    #[error("scope {scope:?} holds a {held} floor and cannot be raised with a {offered} position")]
    ScopeKindMismatch {
        /// The scope key.
        scope: String,
        /// Kind of the floor already held.
        held: PositionKind,
        /// Kind of the rejected position.
        offered: PositionKind,
    },
    /// The token is not valid base64url or its payload is not a token of a known shape.
    #[error("malformed session token: {reason}")]
    TokenMalformed {
        /// What is wrong with it.
        reason: String,
    },
    /// The token's format version is not one this build reads.
    #[error("session token has format version {found}; this build reads version {supported}")]
    TokenVersion {
        /// The version byte found in the token.
        found: u8,
        /// The version this build writes and reads.
        supported: u8,
    },
    /// The token was signed with a key id the key ring does not hold (rotated out, or forged).
    #[error("session token signed with unknown key id {key_id}")]
    TokenUnknownKey {
        /// The key id found in the token.
        key_id: u8,
    },
    /// The signature does not match: the token was altered or forged.
    #[error("session token signature does not verify (key id {key_id})")]
    TokenBadSignature {
        /// The key id found in the token.
        key_id: u8,
    },
    /// The token is older than the codec's maximum age.
    #[error("session token expired: issued {age:?} ago, maximum age is {max_age:?}")]
    TokenExpired {
        /// How long ago it was issued.
        age: Duration,
        /// The configured maximum age.
        max_age: Duration,
    },
    /// The token claims to have been issued in the future beyond the allowed clock skew.
    #[error("session token issued {ahead:?} in the future (allowed clock skew {skew:?})")]
    TokenFromFuture {
        /// How far ahead of this clock it claims to be.
        ahead: Duration,
        /// The allowed skew.
        skew: Duration,
    },
    /// A signing key is unusable (too short, or a duplicate id).
    #[error("invalid signing key {key_id}: {reason}")]
    InvalidKey {
        /// The key id.
        key_id: u8,
        /// What is wrong with it.
        reason: String,
    },
    /// The scope store failed (network, server, script error).
    #[error("scope store {store} failed: {reason}")]
    Store {
        /// Which store implementation.
        store: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl RywError {
    /// Whether this error means an incoming token must be treated as absent (as opposed to
    /// a programming or configuration error).
    #[must_use]
    pub fn is_token_rejection(&self) -> bool {
        matches!(
            self,
            Self::TokenMalformed { .. }
                | Self::TokenVersion { .. }
                | Self::TokenUnknownKey { .. }
                | Self::TokenBadSignature { .. }
                | Self::TokenExpired { .. }
                | Self::TokenFromFuture { .. }
        )
    }

    pub(crate) fn parse(kind: PositionKind, input: &str, reason: impl Into<String>) -> Self {
        let mut input: String = input.chars().take(120).collect();
        input.shrink_to_fit();
        Self::ParsePosition {
            kind,
            input,
            reason: reason.into(),
        }
    }
}

//! Signing keys: one that signs, any number that verify.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::MIN_SECRET_LEN;
use crate::RywError;

pub(super) type HmacSha256 = Hmac<Sha256>;

/// Signing keys: one that signs, any number that verify.
#[derive(Clone)]
pub struct KeyRing {
    pub(super) signing: u8,
    pub(super) signing_mac: HmacSha256,
    keys: Vec<(u8, HmacSha256)>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        f.debug_struct("KeyRing")
            .field("signing", &self.signing)
            .field(
                "key_ids",
                &self.keys.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRing {
    /// A ring whose only key, `key_id`, signs and verifies.
    ///
    /// # Errors
    /// [`RywError::InvalidKey`] when the secret is shorter than [`MIN_SECRET_LEN`].
    pub fn new(key_id: u8, secret: &[u8]) -> Result<Self, RywError> {
        let mac = Self::mac(key_id, secret)?;
        Ok(Self {
            signing: key_id,
            signing_mac: mac.clone(),
            keys: vec![(key_id, mac)],
        })
    }

    /// Adds a key that verifies but does not sign (step 1 of a rotation, or an old key kept
    /// after one).
    ///
    /// # Errors
    /// [`RywError::InvalidKey`] for a short secret or an id already in the ring.
    pub fn with_verify_key(mut self, key_id: u8, secret: &[u8]) -> Result<Self, RywError> {
        if self.keys.iter().any(|(id, _)| *id == key_id) {
            return Err(RywError::InvalidKey {
                key_id,
                reason: "a key with this id is already in the ring".into(),
            });
        }
        self.keys.push((key_id, Self::mac(key_id, secret)?));
        Ok(self)
    }

    /// Adds `key_id` and makes it the signing key; the previous keys keep verifying.
    ///
    /// # Errors
    /// [`RywError::InvalidKey`] for a short secret or an id already in the ring.
    pub fn rotate(self, key_id: u8, secret: &[u8]) -> Result<Self, RywError> {
        let mut ring = self.with_verify_key(key_id, secret)?;
        ring.signing = key_id;
        ring.signing_mac = Self::mac(key_id, secret)?;
        Ok(ring)
    }

    /// Drops a verification key (step 3 of a rotation). The signing key cannot be removed.
    #[must_use]
    pub fn without_key(mut self, key_id: u8) -> Self {
        if key_id != self.signing {
            self.keys.retain(|(id, _)| *id != key_id);
        }
        self
    }

    #[doc(hidden)]
    /// The id of the signing key.
    #[must_use]
    pub fn signing_key_id(&self) -> u8 {
        self.signing
    }

    fn mac(key_id: u8, secret: &[u8]) -> Result<HmacSha256, RywError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(RywError::InvalidKey {
                key_id,
                reason: format!(
                    "secret is {} bytes; at least {MIN_SECRET_LEN} are required",
                    secret.len()
                ),
            });
        }
        HmacSha256::new_from_slice(secret).map_err(|e| RywError::InvalidKey {
            key_id,
            reason: e.to_string(),
        })
    }

    pub(super) fn get(&self, key_id: u8) -> Option<&HmacSha256> {
        self.keys
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, m)| m)
    }
}

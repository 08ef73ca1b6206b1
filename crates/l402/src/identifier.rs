//! Aperture's 66-byte macaroon identifier: `u16 BE version (0) ||
//! payment_hash (32) || token_id (32)`.
//!
//! ```
//! use l402::{Identifier, PaymentHash, TokenId};
//!
//! let id = Identifier::new(PaymentHash([1; 32]), TokenId([2; 32]));
//! let bytes = id.to_bytes();
//! assert_eq!(bytes.len(), 66);
//! assert_eq!(&bytes[..2], &[0, 0]);
//! assert_eq!(Identifier::from_bytes(&bytes).unwrap(), id);
//! ```

use std::fmt;

use crate::PaymentHash;

/// The length of a version-0 identifier.
pub const IDENTIFIER_LEN: usize = 66;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// The identifier is not 66 bytes long.
    #[error("macaroon identifier is {0} bytes; an L402 identifier is exactly {IDENTIFIER_LEN}")]
    Length(usize),
    /// The version is not 0.
    #[error("unsupported macaroon identifier version {0}; only version 0 is known")]
    Version(u16),
}

/// A token's random id (the spec's `user_id`): the key for rate limits,
/// metering and revocation. In tokens minted by this crate its first four
/// bytes are the id of the server secret that signed it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub [u8; 32]);

impl TokenId {
    /// The id of the server key that minted this token (its first four bytes,
    /// big-endian).
    pub fn key_id(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

/// A decoded version-0 macaroon identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identifier {
    /// The payment hash of the invoice that pays for the token.
    pub payment_hash: PaymentHash,
    /// The token's id.
    pub token_id: TokenId,
}

impl Identifier {
    /// An identifier for the given payment hash and token id.
    pub fn new(payment_hash: PaymentHash, token_id: TokenId) -> Self {
        Identifier {
            payment_hash,
            token_id,
        }
    }

    /// The 66-byte encoding.
    pub fn to_bytes(&self) -> [u8; IDENTIFIER_LEN] {
        let mut out = [0u8; IDENTIFIER_LEN];
        out[2..34].copy_from_slice(&self.payment_hash.0);
        out[34..].copy_from_slice(&self.token_id.0);
        out
    }

    /// Decodes the 66-byte encoding; other lengths and versions are refused.
    ///
    /// # Errors
    /// [`IdentifierError`] naming the wrong length or version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentifierError> {
        let bytes: &[u8; IDENTIFIER_LEN] = bytes
            .try_into()
            .map_err(|_| IdentifierError::Length(bytes.len()))?;
        let version = u16::from_be_bytes([bytes[0], bytes[1]]);
        if version != 0 {
            return Err(IdentifierError::Version(version));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[2..34]);
        let mut token = [0u8; 32];
        token.copy_from_slice(&bytes[34..]);
        Ok(Identifier::new(PaymentHash(hash), TokenId(token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_length_and_version_are_refused() {
        assert_eq!(
            Identifier::from_bytes(&[0; 65]),
            Err(IdentifierError::Length(65))
        );
        assert_eq!(
            Identifier::from_bytes(&[0; 67]),
            Err(IdentifierError::Length(67))
        );
        let mut v1 = [0u8; 66];
        v1[1] = 1;
        assert_eq!(
            Identifier::from_bytes(&v1),
            Err(IdentifierError::Version(1))
        );
    }

    #[test]
    fn key_id_is_the_first_four_bytes() {
        let mut t = [0u8; 32];
        t[..4].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(TokenId(t).key_id(), 7);
    }
}

//! API keys: `l402k_<16 hex id>_<64 hex secret>`, stored as `sha256(key)`.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::StoreError;

/// Every API key starts with this.
pub const API_KEY_PREFIX: &str = "l402k_";

/// An API key. `Debug` and `Display` never show it; use [`ApiKey::expose`]
/// to hand it to the one who asked for it.
///
/// ```
/// use l402_store::ApiKey;
/// let key = ApiKey::generate().unwrap();
/// assert!(key.expose().starts_with("l402k_"));
/// assert_eq!(ApiKey::id_of(key.expose()), Some(key.id()));
/// assert!(!format!("{key:?}").contains(&key.expose()[22..]));
/// assert!(key.matches_hash(&key.hash()));
/// ```
#[derive(Clone)]
pub struct ApiKey {
    text: String,
}

impl ApiKey {
    /// A new random key.
    ///
    /// # Errors
    /// [`StoreError::Random`] if the system random generator fails.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 40];
        getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
        let text = format!(
            "{API_KEY_PREFIX}{}_{}",
            hex::encode(&bytes[..8]),
            hex::encode(&bytes[8..])
        );
        bytes.fill(0);
        Ok(ApiKey { text })
    }

    /// The key itself.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The public id (the part between the prefix and the secret).
    pub fn id(&self) -> &str {
        Self::id_of(&self.text).unwrap_or_default()
    }

    /// The id of a presented key, if it has the shape of one.
    pub fn id_of(presented: &str) -> Option<&str> {
        let rest = presented.strip_prefix(API_KEY_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        (id.len() == 16 && hex(id) && !secret.is_empty() && secret.len() <= 128 && hex(secret))
            .then_some(id)
    }

    /// `sha256(key)`, hex: what is stored.
    pub fn hash(&self) -> String {
        hash_presented(&self.text)
    }

    /// Whether this key hashes to `stored` (constant time).
    pub fn matches_hash(&self, stored: &str) -> bool {
        presented_matches(&self.text, stored)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({API_KEY_PREFIX}{}_…)", self.id())
    }
}

/// `sha256(presented)`, hex.
pub(crate) fn hash_presented(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

/// Whether a presented key hashes to the stored hash, compared in constant time.
pub(crate) fn presented_matches(presented: &str, stored_hash: &str) -> bool {
    let computed = hash_presented(presented);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_hash() {
        let key = ApiKey::generate().unwrap();
        assert_eq!(key.expose().len(), 6 + 16 + 1 + 64);
        assert_eq!(key.id().len(), 16);
        assert!(presented_matches(key.expose(), &key.hash()));
        assert!(!presented_matches("l402k_x", &key.hash()));
        assert_eq!(ApiKey::id_of("l402k_0123456789abcdef"), None);
        assert_eq!(ApiKey::id_of("l402k_0123456789abcdeg_00"), None);
        assert_eq!(ApiKey::id_of("nope"), None);
        assert_ne!(
            ApiKey::generate().unwrap().expose(),
            ApiKey::generate().unwrap().expose()
        );
    }
}

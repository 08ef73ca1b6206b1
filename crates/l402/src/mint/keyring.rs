//! Server secrets by key id: which one mints, which ones still verify.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use hmac::Mac;
use zeroize::Zeroizing;

use super::HmacSha256;
use crate::identifier::TokenId;
use crate::macaroon::RootKey;

/// Server secrets by key id, and which one mints new tokens.
///
/// Cheap to clone (shared). Secrets are zeroized when the last clone drops;
/// `Debug` shows only key ids.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<KeyringInner>,
}

struct KeyringInner {
    current: u32,
    // The HMAC state keyed with each secret, computed once: deriving a root
    // key then costs one HMAC finalization.
    keys: HashMap<u32, HmacSha256>,
}

impl Drop for KeyringInner {
    fn drop(&mut self) {
        // hmac's state holds only derived pads, but clear what we can.
        self.keys.clear();
    }
}

impl Keyring {
    /// A keyring with one secret, which is current.
    pub fn new(key_id: u32, secret: [u8; 32]) -> Self {
        Keyring::builder()
            .key(key_id, secret)
            .current(key_id)
            .build_unchecked()
    }

    /// A keyring with one secret given as 64 hex digits (surrounding
    /// whitespace, such as a file's final newline, is ignored). This is the
    /// format of `l402 serve`'s `server-secret` file and `L402_SERVER_SECRET`.
    ///
    /// ```
    /// use l402::Keyring;
    /// let keys = Keyring::from_hex(1, &"ab".repeat(32)).unwrap();
    /// assert_eq!(keys.current_key_id(), 1);
    /// assert!(Keyring::from_hex(1, "not hex").is_err());
    /// ```
    ///
    /// # Errors
    /// [`KeyringError::BadSecret`] unless the text is exactly 32 bytes of hex.
    pub fn from_hex(key_id: u32, hex_secret: &str) -> Result<Self, KeyringError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_secret.trim(), secret.as_mut())
            .map_err(|_| KeyringError::BadSecret)?;
        Ok(Keyring::new(key_id, *secret))
    }

    /// Starts a keyring with several secrets.
    pub fn builder() -> KeyringBuilder {
        KeyringBuilder::default()
    }

    /// The key id new tokens are minted with.
    pub fn current_key_id(&self) -> u32 {
        self.inner.current
    }

    /// Whether a secret with this id is held.
    pub fn has_key(&self, key_id: u32) -> bool {
        self.inner.keys.contains_key(&key_id)
    }

    /// The root key of a token, or `None` if its key id is unknown.
    pub fn root_key(&self, token_id: &TokenId) -> Option<RootKey> {
        let mut mac = self.inner.keys.get(&token_id.key_id())?.clone();
        mac.update(&token_id.0);
        let bytes = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        Some(RootKey::from(*bytes))
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.inner.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("current", &self.inner.current)
            .field("key_ids", &ids)
            .finish()
    }
}

/// Why a keyring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No secret was added.
    #[error("keyring has no secrets")]
    Empty,
    /// The current key id has no secret.
    #[error("current key id {0} has no secret")]
    MissingCurrent(u32),
    /// A secret is not 64 hex digits (32 bytes).
    #[error("a server secret must be 64 hex digits (32 bytes)")]
    BadSecret,
}

/// Builds a [`Keyring`].
///
/// ```
/// use l402::Keyring;
/// // Rotation: the new key mints, the old one still verifies.
/// let keys = Keyring::builder().key(1, [1; 32]).key(2, [2; 32]).current(2).build().unwrap();
/// assert_eq!(keys.current_key_id(), 2);
/// assert!(keys.has_key(1));
/// ```
#[derive(Default)]
pub struct KeyringBuilder {
    current: Option<u32>,
    keys: HashMap<u32, HmacSha256>,
}

impl KeyringBuilder {
    /// Adds a secret under a key id (replacing one with the same id).
    pub fn key(mut self, key_id: u32, secret: [u8; 32]) -> Self {
        let secret = Zeroizing::new(secret);
        let mac = <HmacSha256 as Mac>::new_from_slice(secret.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        self.keys.insert(key_id, mac);
        self
    }

    /// The key id that mints new tokens (default: the highest id).
    pub fn current(mut self, key_id: u32) -> Self {
        self.current = Some(key_id);
        self
    }

    /// Builds the keyring.
    ///
    /// # Errors
    /// [`KeyringError`] if there are no secrets or the current id has none.
    pub fn build(self) -> Result<Keyring, KeyringError> {
        let current = match self.current {
            Some(id) => id,
            None => *self.keys.keys().max().ok_or(KeyringError::Empty)?,
        };
        if !self.keys.contains_key(&current) {
            return Err(KeyringError::MissingCurrent(current));
        }
        Ok(Keyring {
            inner: Arc::new(KeyringInner {
                current,
                keys: self.keys,
            }),
        })
    }

    fn build_unchecked(self) -> Keyring {
        let current = self.current.unwrap_or(0);
        Keyring {
            inner: Arc::new(KeyringInner {
                current,
                keys: self.keys,
            }),
        }
    }
}

//! Minting and verifying tokens without a database (ARCHITECTURE.md decision
//! 2): each token's root key is `HMAC-SHA256(server_secret[key_id], token_id)`,
//! where `key_id` is the first four bytes of the token id. Any number of
//! servers sharing the [`Keyring`] mint and verify on their own; a secret is
//! rotated by adding a new key id and making it current.
//!
//! ```
//! use l402::{Caveat, Credential, Keyring, Minter, Preimage, RequestContext, Verifier};
//!
//! let keys = Keyring::new(1, [7u8; 32]);
//! let minter = Minter::new(keys.clone());
//! let verifier = Verifier::new(keys);
//!
//! // The seller mints a token for the invoice's payment hash...
//! let preimage = Preimage::from([42u8; 32]);
//! let macaroon = minter
//!     .mint(preimage.payment_hash(), &[Caveat::resource("/weather"), Caveat::valid_until(4_000_000_000)])
//!     .unwrap();
//! // ...the buyer pays the invoice and presents the macaroon with the preimage.
//! let credential = Credential::new(macaroon, preimage);
//! let ctx = RequestContext::new(1_800_000_000).resource("/weather");
//! let verified = verifier.verify(&credential, &ctx).unwrap();
//! assert_eq!(verified.caveat("resource"), Some("/weather"));
//!
//! // A token for /weather is genuine but does not open /stocks: ask for payment again.
//! let err = verifier
//!     .verify(&credential, &RequestContext::new(1_800_000_000).resource("/stocks"))
//!     .unwrap_err();
//! assert!(err.is_genuine());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::PaymentHash;
use crate::caveat::{Caveat, CaveatError, CaveatParseError, RequestContext, check_caveats};
use crate::credential::Credential;
use crate::identifier::{Identifier, IdentifierError, TokenId};
use crate::macaroon::{Macaroon, MacaroonError, RootKey};

type HmacSha256 = Hmac<Sha256>;

/// The macaroon location Aperture uses, kept for compatibility.
pub const DEFAULT_LOCATION: &str = "lsat";

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

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The operating system's random generator failed.
    #[error("random generator failed: {0}")]
    Random(String),
    /// A caveat could not be added.
    #[error("bad caveat: {0}")]
    Macaroon(#[from] MacaroonError),
}

/// Mints macaroons for payment hashes.
#[derive(Debug, Clone)]
pub struct Minter {
    keys: Keyring,
    location: String,
}

impl Minter {
    /// A minter using the keyring's current key and location `"lsat"`.
    pub fn new(keys: Keyring) -> Self {
        Minter {
            keys,
            location: DEFAULT_LOCATION.to_owned(),
        }
    }

    /// Sets the macaroon location.
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    /// A fresh token id: the current key id, then 28 random bytes.
    ///
    /// # Errors
    /// [`MintError::Random`] if the random generator fails.
    pub fn new_token_id(&self) -> Result<TokenId, MintError> {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&self.keys.current_key_id().to_be_bytes());
        getrandom::getrandom(&mut id[4..]).map_err(|e| MintError::Random(e.to_string()))?;
        Ok(TokenId(id))
    }

    /// Mints a macaroon for `payment_hash` with the given caveats, in order.
    ///
    /// # Errors
    /// [`MintError`] if randomness fails.
    pub fn mint(
        &self,
        payment_hash: PaymentHash,
        caveats: &[Caveat],
    ) -> Result<Macaroon, MintError> {
        let token_id = self.new_token_id()?;
        self.mint_with_token_id(Identifier::new(payment_hash, token_id), caveats)
    }

    /// Mints with a given identifier (for tests and deterministic replays).
    /// The token id's key id must be in the keyring for the token to verify.
    ///
    /// # Errors
    /// [`MintError::Random`] if the token id's key is not in the keyring.
    pub fn mint_with_token_id(
        &self,
        identifier: Identifier,
        caveats: &[Caveat],
    ) -> Result<Macaroon, MintError> {
        let root = self.keys.root_key(&identifier.token_id).ok_or_else(|| {
            MintError::Random(format!(
                "no secret for key id {}",
                identifier.token_id.key_id()
            ))
        })?;
        let mut macaroon =
            Macaroon::new(&root, identifier.to_bytes().to_vec(), self.location.clone())?;
        for caveat in caveats {
            macaroon.add_first_party_caveat(caveat.to_string())?;
        }
        Ok(macaroon)
    }
}

/// Why a credential was refused.
///
/// [`VerifyError::is_genuine`] tells a token the server really issued and
/// that was really paid (answer 402 with a fresh challenge) from a forged or
/// unpaid one (answer 401 with no challenge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The credential carries more than one macaroon (discharges are not used by L402).
    #[error("credential carries {0} macaroons; L402 uses exactly one")]
    MultipleMacaroons(usize),
    /// The macaroon identifier is not an L402 identifier.
    #[error("bad macaroon identifier: {0}")]
    Identifier(#[from] IdentifierError),
    /// `sha256(preimage)` is not the payment hash: the invoice was not paid.
    #[error("preimage does not match the payment hash {0}")]
    WrongPreimage(PaymentHash),
    /// The token's key id is not in the keyring (never issued here, or retired).
    #[error("token was signed with unknown key id {0}")]
    UnknownKey(u32),
    /// The signature does not verify: the macaroon was forged or altered.
    #[error("macaroon signature is invalid (forged or altered)")]
    BadSignature,
    /// The macaroon's location was altered (it is not covered by the signature).
    #[error("macaroon location {0:?} is not this server's")]
    WrongLocation(String),
    /// The token is genuine and paid, but its caveats do not allow this request.
    #[error("{0}")]
    Caveat(#[from] CaveatError),
}

impl VerifyError {
    /// Whether the token is genuine and paid (only its caveats failed).
    pub fn is_genuine(&self) -> bool {
        matches!(self, VerifyError::Caveat(_))
    }

    /// Whether the token has expired (genuine but stale).
    pub fn is_expired(&self) -> bool {
        matches!(self, VerifyError::Caveat(CaveatError::Expired { .. }))
    }

    /// The stable, machine-readable code of this failure, as sent in the
    /// `code` field of JSON error bodies by every selling surface (the layer
    /// and the producer API). Codes never change once published.
    ///
    /// ```
    /// use l402::{PaymentHash, VerifyError};
    /// assert_eq!(VerifyError::BadSignature.code(), "forged_token");
    /// assert_eq!(VerifyError::WrongPreimage(PaymentHash([0; 32])).code(), "wrong_preimage");
    /// ```
    pub fn code(&self) -> &'static str {
        use CaveatError as C;
        match self {
            VerifyError::WrongPreimage(_) => "wrong_preimage",
            VerifyError::BadSignature | VerifyError::WrongLocation(_) => "forged_token",
            VerifyError::UnknownKey(_) => "unknown_key",
            VerifyError::Identifier(_) => "bad_identifier",
            VerifyError::MultipleMacaroons(_) => "multiple_macaroons",
            VerifyError::Caveat(C::Expired { .. }) => "token_expired",
            VerifyError::Caveat(C::WrongResource { .. }) => "wrong_resource",
            VerifyError::Caveat(C::WrongAmount { .. }) => "wrong_amount",
            VerifyError::Caveat(C::WrongMethod { .. }) => "wrong_method",
            VerifyError::Caveat(_) => "caveat_not_satisfied",
        }
    }
}

/// A verified credential: what the token is and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The decoded identifier.
    pub identifier: Identifier,
    /// The caveats, in order.
    pub caveats: Vec<Caveat>,
}

impl Verified {
    /// The payment hash that was paid.
    pub fn payment_hash(&self) -> PaymentHash {
        self.identifier.payment_hash
    }

    /// The token id.
    pub fn token_id(&self) -> TokenId {
        self.identifier.token_id
    }

    /// The value of the last caveat with this condition (the strictest).
    pub fn caveat(&self, condition: &str) -> Option<&str> {
        self.caveats
            .iter()
            .rev()
            .find(|c| c.condition() == condition)
            .map(Caveat::value)
    }
}

/// Verifies credentials: preimage, identifier, signature, location, then
/// caveats.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Keyring,
    location: String,
}

impl Verifier {
    /// A verifier for tokens minted with this keyring at location `"lsat"`.
    pub fn new(keys: Keyring) -> Self {
        Verifier {
            keys,
            location: DEFAULT_LOCATION.to_owned(),
        }
    }

    /// The location tokens must carry (as set on the [`Minter`]). The
    /// signature does not cover a macaroon's location, so it is compared here.
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    /// Verifies a credential against a request.
    ///
    /// # Errors
    /// A [`VerifyError`] saying precisely why the credential fails.
    pub fn verify(
        &self,
        credential: &Credential,
        ctx: &RequestContext<'_>,
    ) -> Result<Verified, VerifyError> {
        if credential.macaroons().len() != 1 {
            return Err(VerifyError::MultipleMacaroons(credential.macaroons().len()));
        }
        let macaroon = credential.macaroon();
        let identifier = Identifier::from_bytes(macaroon.identifier())?;
        // The proof of payment first: it is the cheapest check.
        if !credential.preimage().matches(&identifier.payment_hash) {
            return Err(VerifyError::WrongPreimage(identifier.payment_hash));
        }
        let root = self
            .keys
            .root_key(&identifier.token_id)
            .ok_or(VerifyError::UnknownKey(identifier.token_id.key_id()))?;
        if !macaroon.verify_signature(&root) {
            return Err(VerifyError::BadSignature);
        }
        if macaroon.location() != self.location {
            return Err(VerifyError::WrongLocation(macaroon.location().to_owned()));
        }
        let caveats = macaroon
            .caveats()
            .enumerate()
            .map(|(index, bytes)| {
                Caveat::from_bytes(bytes).map_err(|source: CaveatParseError| {
                    VerifyError::Caveat(CaveatError::Malformed { index, source })
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_caveats(caveats.iter(), ctx)?;
        Ok(Verified {
            identifier,
            caveats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preimage;

    fn setup() -> (Minter, Verifier, Preimage) {
        let keys = Keyring::new(3, [9; 32]);
        (
            Minter::new(keys.clone()),
            Verifier::new(keys),
            Preimage::from([5; 32]),
        )
    }

    #[test]
    fn token_id_carries_the_key_id() {
        let (minter, _, pre) = setup();
        let mac = minter.mint(pre.payment_hash(), &[]).unwrap();
        let id = Identifier::from_bytes(mac.identifier()).unwrap();
        assert_eq!(id.token_id.key_id(), 3);
        assert_eq!(mac.location(), "lsat");
    }

    #[test]
    fn each_failure_has_its_reason() {
        let (minter, verifier, pre) = setup();
        let ctx = RequestContext::new(100).resource("/a");
        let mac = minter
            .mint(
                pre.payment_hash(),
                &[Caveat::resource("/a"), Caveat::valid_until(200)],
            )
            .unwrap();
        assert!(
            verifier
                .verify(&Credential::new(mac.clone(), pre.clone()), &ctx)
                .is_ok()
        );

        let wrong = Preimage::from([6; 32]);
        assert!(matches!(
            verifier.verify(&Credential::new(mac.clone(), wrong), &ctx),
            Err(VerifyError::WrongPreimage(_))
        ));

        let late = RequestContext::new(200).resource("/a");
        let err = verifier
            .verify(&Credential::new(mac.clone(), pre.clone()), &late)
            .unwrap_err();
        assert!(err.is_expired() && err.is_genuine());

        // Another server's secret: unknown key id, then same id other secret.
        let other = Verifier::new(Keyring::new(4, [9; 32]));
        assert_eq!(
            other.verify(&Credential::new(mac.clone(), pre.clone()), &ctx),
            Err(VerifyError::UnknownKey(3))
        );
        let forger = Verifier::new(Keyring::new(3, [8; 32]));
        let err = forger
            .verify(&Credential::new(mac.clone(), pre.clone()), &ctx)
            .unwrap_err();
        assert_eq!(err, VerifyError::BadSignature);
        assert!(!err.is_genuine());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = Keyring::new(1, [1; 32]);
        let pre = Preimage::from([5; 32]);
        let mac = Minter::new(old).mint(pre.payment_hash(), &[]).unwrap();
        let rotated = Keyring::builder()
            .key(1, [1; 32])
            .key(2, [2; 32])
            .build()
            .unwrap();
        assert_eq!(rotated.current_key_id(), 2);
        let v = Verifier::new(rotated.clone());
        assert!(
            v.verify(&Credential::new(mac, pre.clone()), &RequestContext::new(0))
                .is_ok()
        );
        let new = Minter::new(rotated).mint(pre.payment_hash(), &[]).unwrap();
        assert_eq!(
            Identifier::from_bytes(new.identifier())
                .unwrap()
                .token_id
                .key_id(),
            2
        );
    }

    #[test]
    fn keyring_builder_errors() {
        assert_eq!(Keyring::builder().build().unwrap_err(), KeyringError::Empty);
        assert_eq!(
            Keyring::builder()
                .key(1, [0; 32])
                .current(2)
                .build()
                .unwrap_err(),
            KeyringError::MissingCurrent(2)
        );
        assert!(!format!("{:?}", Keyring::new(1, [0xab; 32])).contains("ab"));
    }

    #[test]
    fn keyring_from_hex_accepts_64_hex_digits_only() {
        let keys = Keyring::from_hex(5, &format!("{}\n", "09".repeat(32))).unwrap();
        let pre = Preimage::from([5; 32]);
        let mac = Minter::new(keys).mint(pre.payment_hash(), &[]).unwrap();
        // The secret is [9; 32]: a verifier holding it under id 5 accepts.
        let verifier = Verifier::new(Keyring::new(5, [9; 32]));
        assert!(
            verifier
                .verify(&Credential::new(mac, pre), &RequestContext::new(0))
                .is_ok()
        );
        for bad in ["", "zz", &"0".repeat(62), &"0".repeat(66)] {
            assert_eq!(
                Keyring::from_hex(1, bad).unwrap_err(),
                KeyringError::BadSecret
            );
        }
    }

    #[test]
    fn each_verify_error_has_a_stable_code() {
        use crate::caveat::CaveatError as C;
        let cases = [
            (VerifyError::MultipleMacaroons(2), "multiple_macaroons"),
            (
                VerifyError::WrongPreimage(PaymentHash([0; 32])),
                "wrong_preimage",
            ),
            (VerifyError::UnknownKey(1), "unknown_key"),
            (VerifyError::BadSignature, "forged_token"),
            (VerifyError::WrongLocation("x".into()), "forged_token"),
            (
                VerifyError::Caveat(C::Expired {
                    condition: "valid_until".into(),
                    expired_at_millis: 1,
                    now_millis: 2,
                }),
                "token_expired",
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err}");
        }
    }
}

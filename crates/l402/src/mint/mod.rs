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

use hmac::Hmac;
use sha2::Sha256;

use crate::PaymentHash;
use crate::caveat::Caveat;
use crate::identifier::{Identifier, TokenId};
use crate::macaroon::{Macaroon, MacaroonError};

type HmacSha256 = Hmac<Sha256>;

/// The macaroon location Aperture uses, kept for compatibility.
pub const DEFAULT_LOCATION: &str = "lsat";

mod keyring;
#[cfg(test)]
mod tests;
mod verify;

pub use keyring::{Keyring, KeyringBuilder, KeyringError};
pub use verify::{Verified, Verifier, VerifyError};

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

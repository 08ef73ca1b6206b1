//! Verifying credentials: preimage, identifier, key, signature, location,
//! then caveats.

use super::{DEFAULT_LOCATION, Keyring};
use crate::PaymentHash;
use crate::caveat::{Caveat, CaveatError, CaveatParseError, RequestContext, check_caveats};
use crate::credential::Credential;
use crate::identifier::{Identifier, IdentifierError, TokenId};

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

    /// The location tokens must carry (as set on the [`Minter`](super::Minter)). The
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

//! # l402: the L402 protocol core
//!
//! Everything L402 needs that involves no I/O: libmacaroons V2 macaroons
//! byte-identical to go-macaroon, Aperture's 66-byte identifier, caveats that
//! only narrow, `WWW-Authenticate` challenges in every deployed dialect,
//! `Authorization` credentials, BOLT11 invoice checks, and a [`Minter`] and
//! [`Verifier`] that need no database.
//!
//! ```
//! use l402::{Caveat, Challenge, Challenges, Credential, Keyring, Minter, Preimage,
//!            RequestContext, Verifier};
//!
//! // Seller: mint a macaroon bound to the invoice's payment hash and resource.
//! let keys = Keyring::new(1, [7u8; 32]);
//! let preimage = Preimage::from([1u8; 32]); // known to the payee's node
//! let macaroon = Minter::new(keys.clone())
//!     .mint(preimage.payment_hash(), &[Caveat::resource("/joke")])
//!     .unwrap();
//! let header = Challenge::new(macaroon.to_string(), "lnbcrt10n1...").to_string();
//!
//! // Buyer: parse the challenge, pay the invoice, send the credential.
//! let challenge = Challenges::parse([header.as_str()]).l402().unwrap().clone();
//! let credential = Credential::new(challenge.decode_macaroon().unwrap(), preimage);
//! let authorization = credential.to_string();
//!
//! // Seller: verify it.
//! let credential: Credential = authorization.parse().unwrap();
//! let ctx = RequestContext::now().resource("/joke");
//! assert!(Verifier::new(keys).verify(&credential, &ctx).is_ok());
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod address;
pub mod caveat;
pub mod challenge;
pub mod credential;
mod encoding;
mod hash;
pub mod identifier;
pub mod invoice;
pub mod macaroon;
pub mod mint;
pub mod time;
pub mod webhook;

pub use bitcoin;
pub use caveat::{
    Caveat, CaveatError, CaveatParseError, Condition, Ignorable, RequestContext, check_caveats,
};
pub use challenge::{
    Challenge, ChallengeError, ChallengeStyle, Challenges, ParsedChallenge, Scheme,
};
pub use credential::{Credential, CredentialError, TokenIdentity};
pub use hash::{HexError, PaymentHash, Preimage};
pub use identifier::{Identifier, IdentifierError, TokenId};
pub use invoice::{Invoice, InvoiceError, InvoiceRequirements};
pub use lightning_invoice;
pub use macaroon::{Macaroon, MacaroonError, RootKey};
pub use mint::{
    Keyring, KeyringBuilder, KeyringError, MintError, Minter, Verified, Verifier, VerifyError,
};

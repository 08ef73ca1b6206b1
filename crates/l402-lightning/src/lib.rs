//! Lightning behind two small traits: [`Receiver`] (sellers create and look up
//! invoices) and [`Wallet`] (buyers pay invoices and get the preimage).
//!
//! Backends:
//!
//! * [`dev`]: the embedded **dev node**, a self-contained Lightning stand-in for
//!   development, demos and tests. It issues real signed regtest BOLT11
//!   invoices (`lnbcrt…`), keeps wallets, balances, invoices and payments in
//!   SQLite, settles an invoice when one of its own wallets pays it, and speaks a
//!   subset of the LNbits wallet API over HTTP. It moves no real money and is
//!   **not a real Lightning node**.
//! * [`lnbits`]: an LNbits (1.6) wallet over its HTTP API.
//! * [`phoenixd`]: a phoenixd node over its HTTP API (and its webhook
//!   signatures).
//! * [`lnd`]: an LND node over its REST API (macaroon, pinned TLS
//!   certificate).
//! * [`cln`]: a Core Lightning node over clnrest (rune, pinned TLS
//!   certificate) or its local JSON-RPC socket.
//! * [`nwc`]: a Nostr Wallet Connect (NIP-47) wallet service through a
//!   Nostr relay (NIP-44 v2, or NIP-04 for wallets that offer nothing else).
//!
//! Which backends were tested against the real thing: the dev node and
//! LNbits 1.6.2 (FakeWallet) run in this project's tests; phoenixd, LND and
//! Core Lightning are tested only against in-process fakes of their wire
//! APIs (none of those nodes can run here). See the README's backend table.
//!
//! Both traits are object safe, so backends are usually held as
//! `Arc<dyn Receiver>` / `Arc<dyn Wallet>`. Every [`Wallet::pay`] implementation
//! checks `sha256(preimage) == payment_hash` before returning: a backend that
//! returns a wrong preimage yields [`PayError::PreimageMismatch`], never a
//! success.
//!
//! # Did money move?
//!
//! A failed payment says whether money may have moved: [`PayError::outcome`]
//! is the wallet's answer, never a guess.
//!
//! * [`PayOutcome::NotSent`]: the request provably never left (refused before
//!   sending, or no connection could be made: [`BackendError::Unreachable`]).
//! * [`PayOutcome::Failed`]: the backend answered that the payment failed.
//! * [`PayOutcome::Unknown`]: anything after the request may have been
//!   written: a connection lost before the answer
//!   ([`BackendError::Interrupted`]), a 5xx such as a proxy's 502, a timeout,
//!   an answer that cannot be read, a payment still pending or whose status
//!   checks failed ([`PayError::Pending`]). Keep the reservation and ask
//!   [`Wallet::lookup_payment`] before releasing anything.
//!
//! # Fee caps
//!
//! [`PayRequest::max_fee_msat`] is held *before* paying only where the
//! backend can do it ([`Wallet::enforces_max_fee`]). Everywhere else the
//! fee is known only after paying, in [`Payment::fee_msat`], and the caller
//! must check it (and count an overrun: the money has moved).
//!
//! | Backend | Caps the fee before paying? | Fee reported |
//! |---|---|---|
//! | [`dev`] node | yes, trivially: it charges no fee | always 0 |
//! | [`lnbits`] | **no**: LNbits' wallet API has no per-payment fee limit; the fee is bounded only by the LNbits server's own fee reserve | the `fee` of LNbits' payment record |
//! | [`lnd`] | yes: `fee_limit_msat` of `POST /v2/router/send` (default 1 %, at least 10 sat) | `fee_msat` of the payment |
//! | [`cln`] | yes: `maxfee` of `pay` (without one, CLN's default: 0.5 %, 5 sat exempt) | `amount_sent_msat - amount_msat` |
//! | [`nwc`] | **no**: NIP-47 `pay_invoice` takes only `invoice` and `amount` | `fees_paid` |
//! | [`phoenixd`] | **no**: `POST /payinvoice` takes only `invoice` and `amountSat` | `routingFeeSat` (whole sats; lookups: `fees` in msat) |
//!
//! (The rows to come are from those APIs' documentation.)
//!
//! # Features
//!
//! All on by default.
//!
//! | Feature | Gives | Pulls in |
//! |---|---|---|
//! | `dev` | the [`dev`] node (in process) | sqlx (SQLite), bitcoin, tokio |
//! | `dev-http` | the dev node's LNbits-compatible HTTP API (`DevNode::serve`, `DevNode::router`) | `dev`, axum |
//! | `lnbits` | the [`lnbits`] client | reqwest, tokio |
//! | `phoenixd` | the [`phoenixd`] client and [`phoenixd::verify_webhook_signature`] | reqwest, hmac, sha2 |
//! | `lnd` | the [`lnd`] REST client | reqwest, rustls (the one reqwest already uses) |
//! | `cln` | the [`cln`] client (clnrest and the local socket) | reqwest, rustls (the one reqwest already uses), tokio |
//! | `nwc` | the [`nwc`] client (NIP-47 over a relay) | nostr 0.44 (its secp256k1 is bitcoin's), tokio-tungstenite, rustls |
//!
//! With none, the crate is the traits, the types and the errors: what a new
//! backend implements.
//!
//! ```
//! use std::sync::Arc;
//! use l402_lightning::{
//!     dev::DevNode, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayRequest, Receiver, Wallet,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let seller: Arc<dyn Receiver> = Arc::new(node.wallet("seller").await?);
//! let buyer = node.wallet("buyer").await?;
//! buyer.credit_sats(1_000).await?; // dev-only faucet
//! let buyer: Arc<dyn Wallet> = Arc::new(buyer);
//!
//! let invoice = seller.create_invoice(&InvoiceRequest::sats(21).memo("one request")).await?;
//! assert!(invoice.bolt11.starts_with("lnbcrt"));
//!
//! let paid = buyer.pay(&PayRequest::new(&invoice.bolt11)).await?;
//! assert!(paid.preimage.matches(&invoice.payment_hash));
//! assert_eq!(
//!     buyer.lookup_payment(&invoice.payment_hash).await?,
//!     OutgoingStatus::Succeeded(paid)
//! );
//! assert!(matches!(
//!     seller.lookup_invoice(&invoice.payment_hash).await?,
//!     InvoiceStatus::Paid { .. }
//! ));
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub use l402::{PaymentHash, Preimage};

pub use error::{BackendError, PayError, PayOutcome, ReceiveError, TransportError};
pub use invoice::{DecodedInvoice, decode_invoice};
pub use receiver::Receiver;
pub use settlement::{Cursor, Settlement, SettlementStream, Settlements};
pub use types::{
    Backend, DEFAULT_INVOICE_EXPIRY, Invoice, InvoiceRequest, InvoiceStatus, NodeInfo,
    OutgoingStatus, PayRequest, Payment,
};
pub use wallet::Wallet;

#[cfg(feature = "cln")]
pub mod cln;
#[cfg(feature = "dev")]
pub mod dev;
mod error;
#[cfg(any(feature = "phoenixd", feature = "lnd", feature = "cln"))]
mod http;
mod invoice;
#[cfg(feature = "lnbits")]
pub mod lnbits;
#[cfg(feature = "lnd")]
pub mod lnd;
#[cfg(any(
    feature = "phoenixd",
    feature = "lnd",
    feature = "cln",
    feature = "nwc"
))]
mod new_invoice;
#[cfg(feature = "nwc")]
pub mod nwc;
#[cfg(feature = "phoenixd")]
pub mod phoenixd;
mod receiver;
pub mod settlement;
#[cfg(any(feature = "lnd", feature = "cln", feature = "tls"))]
pub mod tls;
mod types;
mod wallet;

#[cfg(feature = "dev")]
pub(crate) use l402::time::unix_now;

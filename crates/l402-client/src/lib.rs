//! # l402-client: buying over L402, safely
//!
//! A paying HTTP client over reqwest. On `402 Payment Required` with an L402
//! challenge it decodes the BOLT11 invoice **fully** (signature, network,
//! expiry, amount) and refuses, with a typed [`Refusal`], an invoice that is
//! amountless, over the limit, expired, for another network, badly signed,
//! payable to another node than the origin was first paid to, or whose
//! payment hash differs from the macaroon's. Every server dialect goes
//! through one parser, [`parse_challenge`] (seed 001's `parseChallenge`):
//! `WWW-Authenticate` in any deployed form, challenges only in the JSON body
//! (l402-express, l402kit, Lightning Enable), header and body disagreeing
//! (refused), and opaque tokens that are not macaroons (l402kit, Alby: paid
//! after the same invoice checks, recorded as [`TokenKind::Opaque`], refused
//! with [`ClientBuilder::require_macaroon`]). Then it reserves the amount
//! against budgets (per request, hour, day, total, domain, and a fiat
//! envelope) in the same atomic step that journals the payment, pays through
//! any [`l402_lightning::Wallet`], checks `sha256(preimage) == payment_hash`,
//! stores the token and re-sends the request **once** with the credential.
//!
//! Guarantees:
//!
//! * **At most one payment per request**, and one per challenge: a paid
//!   retry that is still refused returns [`FetchError::ServerRefused`];
//!   "not yet" answers are re-sent after a backoff, never paid again. A
//!   stored token the server refuses (single-use tokens: l402kit answers a
//!   second use with 401) is dropped and reported
//!   ([`Response::refused_token`]); the request then buys anew, once, under
//!   the same limits and budgets.
//! * **Money never moves without being counted.** Whether a failed payment
//!   moved money is the wallet's answer
//!   ([`PayError::outcome`](l402_lightning::PayError::outcome)), not a
//!   guess: only a payment that was provably not sent, or that the backend
//!   says failed, is released. Anything else (a dropped connection, a 502, a
//!   timeout) is looked up in the wallet; if it still cannot be told, the
//!   reservation stays (counted against every budget), the journal entry
//!   stays pending, the error says [`MoneyMoved::Unknown`], no request pays
//!   that resource again until the entry is resolved, and
//!   [`Client::recover`] (or the next request) resolves it.
//! * **Fee cap**: the routing fee charged is checked after paying, whatever
//!   the backend ([`FetchError::FeeOverrun`]).
//! * **Single flight**: concurrent requests to one scope share one payment,
//!   within a process and across processes sharing a [`SqliteStore`]: a
//!   reserved journal entry has an owner and a lease, renewed while it pays;
//!   no other process releases it before the lease expired and the wallet
//!   was asked.
//! * **Crash safety**: a payment is journaled before it is sent and resolved
//!   after; after a crash in between, the next request for the scope asks
//!   the wallet ([`Wallet::lookup_payment`](l402_lightning::Wallet::lookup_payment))
//!   and recovers the token instead of paying again.
//! * **Redirects** are followed by the client itself
//!   ([`ClientBuilder::max_redirects`]): token scope, budgets and payee
//!   pinning follow each hop; a 402 from another origin is refused before
//!   paying.
//! * **Errors say whether money moved** ([`FetchError::money_moved`]), and
//!   print each cause once (through [`std::error::Error::source`]).
//! * Every request leaves a [`Trace`]; with [`SqliteStore`] they sit in a
//!   plain SQLite table next to tokens and the journal.
//!
//! Building a client (this runs, with the dev node's fake money):
//!
//! ```
//! use std::sync::Arc;
//! use l402_client::{Budget, Client, SqliteStore};
//! use l402_lightning::dev::DevNode;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let buyer = node.wallet("buyer").await?;
//! buyer.credit_sats(1_000).await?; // dev-node faucet: fake money
//! let client = Client::builder()
//!     .wallet(Arc::new(buyer))
//!     .max_payment_sats(50)
//!     .budget(Budget::new().per_day_sats(500))
//!     .sqlite(SqliteStore::in_memory().await?)
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! Fetching a paid URL (compiled, not run here: it needs a server; the
//! tests in `tests/` run it against real sellers):
//!
//! ```no_run
//! # async fn run(client: l402_client::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let response = client.get("http://127.0.0.1:8402/demo").send().await?;
//! if let Some(receipt) = response.receipt() {
//!     println!("paid {} msat, hash {}", receipt.amount_msat, receipt.payment_hash);
//! }
//! println!("{}", response.text());
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod attenuate;
mod budget;
mod builder;
mod challenge;
mod client;
mod engine;
mod error;
mod event;
mod fiat;
mod into_url;
mod invoice;
mod ledger;
mod memory;
mod pay;
mod receipt;
mod redirect;
mod request;
mod response;
mod retry;
mod scope;
mod sqlite;
mod store;
mod trace;
mod transport;

pub use attenuate::{AttenuateError, Attenuated, Narrowing};
pub use budget::{Budget, BudgetExceeded, Limit, Spent};
pub use builder::{
    AmountlessPolicy, BuildError, ClientBuilder, DEFAULT_IN_FLIGHT_WAIT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FEE_SATS, DEFAULT_MAX_PAYMENT_SATS,
};
pub use challenge::{
    ChallengeSource, MAX_CHALLENGE_BODY_BYTES, MAX_TOKEN_BYTES, Offer, TokenKind, UnknownTokenKind,
    parse_challenge,
};
pub use client::Client;
pub use error::{ChallengeProblem, FetchError, InvalidRequest, MoneyMoved, Refusal};
pub use event::Event;
pub use fiat::{
    BtcPrice, EnvelopeCharge, EnvelopeError, FiatEnvelope, FiatValue, HttpPriceSource, PriceError,
    PriceSource, RAIL_L402, StaticPrice,
};
pub use into_url::IntoUrl;
pub use invoice::{InvoicePayment, invoice_scope};
pub use ledger::{JournalEntry, Ledger, LedgerError, MemoryLedger, PaymentState, Reserved};
pub use pay::OfferPayment;
pub use receipt::{Quote, Receipt};
pub use redirect::DEFAULT_MAX_REDIRECTS;
pub use request::RequestBuilder;
pub use response::{RefusedToken, Response, TokenUse};
pub use retry::{DEFAULT_BACKOFF, MAX_RETRY_AFTER};
pub use scope::{Scope, domain_key};
pub use sqlite::SqliteStore;
pub use store::{MemoryTokenStore, StoreError, StoredToken, TokenStore};
pub use trace::{MemoryTraceSink, Outcome, Trace, TraceSink};

pub use reqwest::{Method, StatusCode};

pub(crate) use l402::time::{unix_millis as unix_ms, unix_now};

//! In-process fakes of the Lightning nodes l402 talks to but that cannot be
//! installed where its tests run, for l402's own tests (`publish = false`):
//!
//! | Fake | Speaks | Start |
//! |---|---|---|
//! | [`lnd::FakeLnd`] | LND's REST API over TLS (macaroon, invoices, `SendPaymentV2`, `TrackPaymentV2`, invoice subscription) | `FakeLnd::start(wallet)` |
//! | [`cln::FakeCln`] | Core Lightning's clnrest over TLS (rune) and its `lightning-rpc` JSON-RPC socket | `FakeCln::start(wallet)` |
//! | [`phoenixd::FakePhoenixd`] | phoenixd's HTTP API (Basic auth, forms) and its `/websocket` events | `FakePhoenixd::start(wallet)` |
//!
//! Each serves one wallet of the embedded dev node
//! ([`l402_lightning::dev`]) on a loopback port, so invoices are real
//! signed regtest BOLT11 invoices, payments move the dev ledger's balances,
//! preimages are real, and the dev node's injected faults (`DevFault` memos)
//! come out in each node's own wire shapes. Every wire shape is cited beside
//! it from the node's documentation or source. Third-party clients agree
//! with them: `pyln-client` with the CLN socket fake and LNbits'
//! `LndRestWallet` with the LND fake (l402-lightning's tests). **None of
//! these is a real node**, and nothing here was run against one.
//!
//! A fake runs until the runtime of the test that started it ends.
//! [`wire`] has what they share: loopback serving with a connection
//! [`Cutter`](wire::Cutter) (the "cut after the pay request" fault) and the
//! self-signed TLS certificate the TLS fakes present.
//!
//! ```
//! use l402_lightning::dev::DevNode;
//! use l402_lightning::{InvoiceRequest, PayRequest, Receiver, Wallet};
//! use l402_testkit::{lnd::FakeLnd, phoenixd::FakePhoenixd};
//! # #[tokio::main]
//! # async fn main() {
//! let node = DevNode::builder().in_memory().open().await.unwrap();
//! let payer = node.wallet("payer").await.unwrap();
//! payer.credit_sats(100).await.unwrap();
//! let merchant = FakePhoenixd::start(node.wallet("merchant").await.unwrap()).await;
//! let wallet = FakeLnd::start(payer).await;
//! let invoice = merchant.authorized().create_invoice(&InvoiceRequest::sats(21)).await.unwrap();
//! let paid = wallet.authorized().pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
//! assert!(paid.preimage.matches(&invoice.payment_hash));
//! # }
//! ```
// A test kit: a failure to set a fake up is the test's failure.
// Handlers answer an axum `Response` as their error (as the test files did).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

pub mod cln;
pub mod lnd;
pub mod phoenixd;
mod phoenixd_events;
pub mod wire;

pub use cln::FakeCln;
pub use lnd::FakeLnd;
pub use phoenixd::FakePhoenixd;

//! # l402-mcp: MCP tools for agents that pay for L402 APIs and agents that sell
//!
//! A thin layer over the code that already buys and sells, served over MCP
//! with the official Rust SDK (`rmcp`, pinned to 3.11):
//!
//! * **Buyer tools** ([`Buyer`]) over [`l402_client::Client`]:
//!   `access_l402_resource`, `pay_l402_challenge`, `pay_invoice`
//!   ([`l402_client::Client::pay_invoice`]), `discover_api`,
//!   `mint_scoped_token`, `get_balance`, `get_budget_status`,
//!   `configure_budget`, `get_payment_history`, `create_invoice`,
//!   `check_invoice_status`; receipts as the resources `l402://receipts`
//!   and `l402://receipts/{payment_hash}` (never a preimage). The
//!   client is built with auto-pay off; every payment is first checked by
//!   the [`Session`] (per-payment and per-session caps, cooldown, approval
//!   tiers, from the [`Policy`] file the server only reads), then bought with
//!   [`l402_client::Client::pay_offer`]: the client's invoice checks,
//!   budgets (the per-day cap) and journal, so an invoice is never paid
//!   twice, across restarts.
//! * **Seller tools** ([`Seller`]): `create_l402_challenge` and
//!   `verify_l402_payment` with seed 003's parameters and response JSON,
//!   bound to a merchant by its API key and answered by a producer API
//!   (`l402 serve`'s), so a token from either side is valid on the other.
//!
//! Every tool returns structured output (`structuredContent` with an output
//! schema) and carries MCP annotations (read-only, destructive).
//!
//! Serving over stdio (what `l402 mcp` does):
//!
//! ```no_run
//! # async fn run(client: l402_client::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use l402_mcp::{Buyer, L402Mcp, Policy, Session};
//! use rmcp::ServiceExt;
//! let path = std::path::PathBuf::from("mcp-policy.json");
//! let policy = Policy::load_or_create(&path)?;
//! let buyer = Buyer::new(client, None, Session::new(policy), path);
//! let server = L402Mcp::new(buyer, None).serve(rmcp::transport::stdio()).await?;
//! server.waiting().await?;
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod buyer;
pub mod confirm;
pub mod discover;
pub mod fiat;
pub mod guard;
pub mod http;
pub mod invoice;
pub mod operator;
pub mod policy;
pub mod receipts;
pub mod receive;
pub mod scoped;
pub mod seller;
pub mod server;
pub mod webhook;

pub use buyer::Buyer;
pub use policy::{Policy, PolicyError, Session};
pub use rmcp;
pub use seller::Seller;
pub use server::{L402Mcp, ToolOutput};

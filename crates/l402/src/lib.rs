//! The L402 protocol core.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod hash;

pub use hash::{HexError, PaymentHash, Preimage};

//! What happens along the way, for progress output and observers.

use std::sync::Arc;
use std::time::Duration;

use l402::PaymentHash;
use l402_lightning::Payment;

use crate::receipt::Quote;

/// What happens along the way, for progress output and observers.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The server asked for payment.
    Challenged(&'a Quote),
    /// Every check passed; the wallet is about to pay.
    Paying(&'a Quote),
    /// The wallet returned a payment, before anything is stored.
    Paid(&'a Payment),
    /// A token from an earlier, interrupted payment was recovered.
    Recovered(&'a PaymentHash),
    /// A stored token was refused; it is dropped.
    TokenRefused {
        /// The server's status.
        status: u16,
    },
    /// The server did not accept the paid credential yet; retrying.
    Retrying {
        /// Which retry (1-based).
        attempt: usize,
        /// The status that made it retry.
        status: u16,
        /// The wait before it.
        delay: Duration,
    },
}

/// Receives [`Event`]s.
pub(crate) type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

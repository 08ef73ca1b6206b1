//! Settlement notifications: the node tells the seller that an invoice was
//! paid, so a server learns of payments without polling.
//!
//! One abstraction for every backend that pushes them:
//!
//! * [`Settlements`]: opens a [`SettlementStream`] after a [`Cursor`].
//! * [`SettlementStream::next`]: the next [`Settlement`] (payment hash,
//!   amount, cursor), or `Ok(None)` when the node ends the stream.
//! * [`Receiver::settlements`](crate::Receiver::settlements): `Some` for a
//!   receiver whose node pushes settlements, so a server holding an
//!   `Arc<dyn Receiver>` can find them.
//!
//! | Backend | Pushed by | [`Cursor`] |
//! |---|---|---|
//! | dev node | its ledger, as its own wallets pay | the node's settlement sequence (this process) |
//! | LND | `GET /v1/invoices/subscribe` | `settle_index` |
//! | phoenixd | `GET /websocket` `payment_received` events (and its webhooks: [`phoenixd::verified_webhook_event`](crate::phoenixd::verified_webhook_event)) | the event's `timestamp` (unix ms) |
//! | NWC | `payment_received` notifications | the transaction's `settled_at` |
//!
//! # Delivery
//!
//! **At least once after the cursor**: pass the cursor of the last
//! settlement handled to [`Settlements::subscribe`] after a disconnect and
//! nothing settled after it is missed; a settlement may come twice (around a
//! reconnect, or a replay overlapping the live feed), so consumers are
//! idempotent by payment hash. [`Cursor::NOW`] replays nothing: only
//! settlements from the subscription on.
//!
//! # Bounds
//!
//! Streams are pulled: nothing is read from the node before
//! [`SettlementStream::next`] asks for it, so a slow consumer slows the
//! connection, never grows a queue. Each backend bounds what one message may
//! take (an LND line 1 MiB, a phoenixd frame 64 KiB) and what a replay holds
//! at once; a consumer too far behind a bounded in-process feed (the dev
//! node's) gets [`BackendError::Rejected`] and resubscribes from its cursor.
//!
//! A notification is news, not proof: it says the node was paid. Access is
//! still granted only on a verified preimage (`l402::Verifier`).
//!
//! ```
//! use l402_lightning::dev::DevNode;
//! use l402_lightning::{Cursor, InvoiceRequest, PayRequest, Receiver, Wallet};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let seller = node.wallet("seller").await?;
//! let buyer = node.wallet("buyer").await?;
//! buyer.credit_sats(100).await?;
//!
//! let feed = seller.settlements().expect("the dev node pushes settlements");
//! let mut stream = feed.subscribe(Cursor::NOW).await?;
//! let invoice = seller.create_invoice(&InvoiceRequest::sats(21)).await?;
//! buyer.pay(&PayRequest::new(&invoice.bolt11)).await?;
//! let settled = stream.next().await?.expect("a settlement");
//! assert_eq!(settled.payment_hash, invoice.payment_hash);
//! assert_eq!(settled.amount_msat, 21_000);
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use crate::{BackendError, PaymentHash};

/// Where a settlement stream resumes: the position of a settlement in its
/// node's order (LND's `settle_index`, phoenixd's event time in unix
/// milliseconds, …). Opaque to consumers: store the last one handled and
/// give it back to [`Settlements::subscribe`]. Only cursors of the same node
/// compare meaningfully.
///
/// ```
/// use l402_lightning::Cursor;
/// let c: Cursor = "42".parse()?;
/// assert_eq!(c, Cursor::new(42));
/// assert_eq!(c.to_string(), "42");
/// assert!(Cursor::NOW < c);
/// assert!("-1".parse::<Cursor>().is_err());
/// # Ok::<(), std::num::ParseIntError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(u64);

impl Cursor {
    /// No replay: only settlements from the subscription on.
    pub const NOW: Cursor = Cursor(0);

    /// A cursor from its stored value.
    pub const fn new(value: u64) -> Cursor {
        Cursor(value)
    }

    /// The value to store.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Cursor)
    }
}

/// One invoice the node reports paid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settlement {
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// What was received, in millisatoshis (phoenixd reports whole
    /// satoshis: a multiple of 1,000).
    pub amount_msat: u64,
    /// Resume after this settlement with this cursor.
    pub cursor: Cursor,
}

impl Settlement {
    /// A settlement (for backends outside this crate and tests).
    ///
    /// ```
    /// use l402_lightning::{Cursor, PaymentHash, Settlement};
    /// let s = Settlement::new(PaymentHash([7; 32]), 21_000, Cursor::new(3));
    /// assert_eq!((s.amount_msat, s.cursor.get()), (21_000, 3));
    /// ```
    pub fn new(payment_hash: PaymentHash, amount_msat: u64, cursor: Cursor) -> Settlement {
        Settlement {
            payment_hash,
            amount_msat,
            cursor,
        }
    }
}

/// A live subscription to settlements; see [`Settlements::subscribe`].
#[async_trait::async_trait]
pub trait SettlementStream: Send {
    /// The next settlement; `Ok(None)` when the node ended the stream.
    ///
    /// # Errors
    /// [`BackendError`] when the connection fails or the node sends
    /// something unreadable: subscribe again from the last cursor handled.
    async fn next(&mut self) -> Result<Option<Settlement>, BackendError>;
}

/// A node that pushes settlement notifications.
#[async_trait::async_trait]
pub trait Settlements: Send + Sync {
    /// Subscribes to settlements after `after` ([`Cursor::NOW`]: none
    /// before the subscription). The stream owns its connection: it
    /// outlives `self`.
    ///
    /// # Errors
    /// [`BackendError`] if the subscription cannot be opened (unreachable,
    /// unauthorized, refused).
    async fn subscribe(&self, after: Cursor) -> Result<Box<dyn SettlementStream>, BackendError>;
}

//! Failure injection, per invoice: the dev node misbehaves when one of its
//! invoices is paid, the way real backends do, so that fault handling can be
//! tested against every wallet shape (in process, over the LNbits-compatible
//! HTTP API, and through the wire fakes of other backends driven by the dev
//! node's ledger).
//!
//! The fault travels **in the invoice description**, as JSON (the pattern of
//! Cashu CDK's `cdk-fake-wallet`, whose `FakeInvoiceDescription` does the
//! same): a seller creates the invoice with [`DevFault::memo`] as its memo,
//! through any API that sets the description, and whoever pays it meets the
//! fault. An ordinary memo injects nothing.
//!
//! ```
//! use std::time::Duration;
//! use l402_lightning::dev::{DevFault, DevNode};
//! use l402_lightning::{InvoiceRequest, OutgoingStatus, PayError, PayOutcome, PayRequest, Receiver, Wallet};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let (seller, buyer) = (node.wallet("seller").await?, node.wallet("buyer").await?);
//! buyer.credit_sats(10).await?;
//!
//! let fault = DevFault::Failed;
//! let invoice = seller.create_invoice(&InvoiceRequest::sats(1).memo(fault.memo())).await?;
//! let err = buyer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap_err();
//! assert_eq!(err.outcome(), PayOutcome::Failed);
//! assert!(matches!(buyer.lookup_payment(&invoice.payment_hash).await?, OutgoingStatus::Failed { .. }));
//! assert_eq!(DevFault::from_memo(&fault.memo()), Some(fault));
//! # Ok(()) }
//! ```

use std::time::Duration;

use serde_json::{Value, json};

/// The key of the JSON object in an invoice description that selects a fault.
pub const FAULT_KEY: &str = "l402_dev_fault";

/// What the dev node does when an invoice carrying this fault is paid.
///
/// | Fault | The payment | What the payer is told | `lookup_payment` |
/// |---|---|---|---|
/// | [`Pending`](Self::Pending) | money moves at once; the payment and the invoice stay pending for `for_`, then succeed | in process: [`PayError::Pending`](crate::PayError::Pending); LNbits API: 201 `"status": "pending"`, no preimage | `Pending`, then `Succeeded` |
/// | [`Failed`](Self::Failed) | nothing moves | [`PayError::Failed`](crate::PayError::Failed); LNbits API: 520 `"status": "failed"` | `Failed` |
/// | [`NoPreimage`](Self::NoPreimage) | paid | success **without** the preimage (in process: a [`BackendError::BadResponse`](crate::BackendError::BadResponse), outcome unknown) | `Succeeded`, with the real preimage |
/// | [`WrongPreimage`](Self::WrongPreimage) | paid | success with a preimage that does not hash to the payment hash | also the wrong preimage ([`PayError::PreimageMismatch`](crate::PayError::PreimageMismatch)) |
/// | [`Slow`](Self::Slow) | paid at once | the answer comes after `by` | `Succeeded` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DevFault {
    /// The payment stays in flight for this long, then succeeds.
    Pending {
        /// How long it stays pending.
        for_: Duration,
    },
    /// The payment fails; nothing is paid.
    Failed,
    /// The payment succeeds but the answer carries no preimage.
    NoPreimage,
    /// The payment succeeds but every answer to the payer carries a wrong
    /// preimage.
    WrongPreimage,
    /// The payment succeeds at once; the answer is delayed by this long.
    Slow {
        /// The delay.
        by: Duration,
    },
}

impl DevFault {
    /// The invoice description that injects this fault, e.g.
    /// `{"l402_dev_fault":"pending","ms":500}`.
    pub fn memo(&self) -> String {
        let (kind, ms) = match self {
            DevFault::Pending { for_ } => ("pending", Some(for_)),
            DevFault::Failed => ("failed", None),
            DevFault::NoPreimage => ("no_preimage", None),
            DevFault::WrongPreimage => ("wrong_preimage", None),
            DevFault::Slow { by } => ("slow", Some(by)),
        };
        let mut value = json!({ FAULT_KEY: kind });
        if let Some(ms) = ms {
            value["ms"] = json!(u64::try_from(ms.as_millis()).unwrap_or(u64::MAX));
        }
        value.to_string()
    }

    /// The fault an invoice description asks for, if any. Anything that is
    /// not a JSON object with a known [`FAULT_KEY`] is an ordinary memo.
    pub fn from_memo(memo: &str) -> Option<DevFault> {
        let memo = memo.trim();
        if !memo.starts_with('{') {
            return None;
        }
        let value: Value = serde_json::from_str(memo).ok()?;
        let ms = || Duration::from_millis(value.get("ms").and_then(Value::as_u64).unwrap_or(0));
        Some(match value.get(FAULT_KEY)?.as_str()? {
            "pending" => DevFault::Pending { for_: ms() },
            "failed" => DevFault::Failed,
            "no_preimage" => DevFault::NoPreimage,
            "wrong_preimage" => DevFault::WrongPreimage,
            "slow" => DevFault::Slow { by: ms() },
            _ => return None,
        })
    }
}

/// The wrong preimage a [`DevFault::WrongPreimage`] invoice reports: the real
/// one with every bit flipped (never hashes to the payment hash).
pub(crate) fn wrong_preimage(real: &crate::Preimage) -> crate::Preimage {
    let mut bytes = *real.as_bytes();
    for b in &mut bytes {
        *b = !*b;
    }
    crate::Preimage::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memos_round_trip_and_ordinary_memos_inject_nothing() {
        for fault in [
            DevFault::Pending {
                for_: Duration::from_millis(250),
            },
            DevFault::Failed,
            DevFault::NoPreimage,
            DevFault::WrongPreimage,
            DevFault::Slow {
                by: Duration::from_millis(40),
            },
        ] {
            assert_eq!(DevFault::from_memo(&fault.memo()), Some(fault));
        }
        assert_eq!(DevFault::from_memo("GET /weather"), None);
        assert_eq!(DevFault::from_memo("{\"other\":1}"), None);
        assert_eq!(DevFault::from_memo("{\"l402_dev_fault\":\"nope\"}"), None);
        assert_eq!(DevFault::from_memo("{broken"), None);
    }
}

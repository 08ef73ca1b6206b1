//! What the producer does when it learns that an invoice was paid (from
//! the node's settlement notifications, or a backend's signed webhook),
//! and the entry other parts use to send events.

use l402_store::{Enqueued, PaymentRecord, StoreError};
use serde_json::Value;

use super::EventKind;
use crate::Producer;

/// What a settlement notification was for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settled {
    /// A challenge of this merchant: the payment is recorded (if it was not
    /// already) and `payment.received` queued (once per payment hash).
    Payment {
        /// The merchant (0: this server's own routes and l402kit's API).
        merchant_id: i64,
        /// Whether this notification recorded the payment (`false`: it was
        /// recorded before, by a verification or an earlier notification).
        new: bool,
    },
    /// No challenge of this server has that payment hash.
    Unknown,
}

impl Producer {
    /// An invoice was paid (`payment_hash` as 64 hex digits): if it is one
    /// of this producer's challenges, records the payment (merchant,
    /// resource and price of the challenge, now) unless it was recorded,
    /// and queues `payment.received` for the merchant's endpoints (once per
    /// payment hash, whoever reports it and however often). This is news,
    /// not proof: access is still granted only on a verified preimage.
    ///
    /// # Errors
    /// [`StoreError`] if the store fails (report it again later: this is
    /// idempotent).
    pub async fn payment_settled(&self, payment_hash: &str) -> Result<Settled, StoreError> {
        let inner = &self.inner;
        let Some(challenge) = inner.store.challenge(payment_hash).await? else {
            return Ok(Settled::Unknown);
        };
        let payment = PaymentRecord {
            payment_hash: challenge.payment_hash.clone(),
            merchant_id: challenge.merchant_id,
            resource: Some(challenge.resource.clone()),
            amount_sats: challenge.amount_sats,
            verified_at: l402_server::unix_now(),
        };
        // With its split credit, in one transaction (splits::record_settled).
        let new = inner.record_settled(&payment).await?;
        inner
            .payment_event(
                challenge.merchant_id,
                &challenge.payment_hash,
                challenge.amount_sats,
                Some(&challenge.resource),
            )
            .await;
        Ok(Settled::Payment {
            merchant_id: challenge.merchant_id,
            new,
        })
    }

    /// Sends an event to the merchant's endpoints that take `kind`: for
    /// the parts that emit `split.paid` and `pass.activated`. `subject`
    /// names what it is about (a payout id, a pass's payment hash): one
    /// event per merchant, kind and subject, so calling again is harmless.
    /// `data` is the event's `data` object (never put a preimage or a
    /// secret in it). Returns the event id, or `None` if the event was
    /// sent before.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use l402::Keyring;
    /// # use l402_lightning::dev::DevNode;
    /// # use l402_producer::{EventKind, Producer};
    /// # use l402_store::Store;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Arc::new(Store::sqlite(dir.path().join("s.sqlite")).await?);
    /// # let node = DevNode::builder().in_memory().open().await?;
    /// # let producer = Producer::builder(store, Arc::new(node.wallet("m").await?), Keyring::new(1, [7; 32])).build();
    /// let data = serde_json::json!({"address": "alice@example.com", "expiresAt": "2026-12-30T00:00:00Z"});
    /// let first = producer.emit(1, EventKind::PassActivated, "ab12", data.clone()).await?;
    /// assert!(first.is_some());
    /// assert_eq!(producer.emit(1, EventKind::PassActivated, "ab12", data).await?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    pub async fn emit(
        &self,
        merchant_id: i64,
        kind: EventKind,
        subject: &str,
        data: Value,
    ) -> Result<Option<String>, StoreError> {
        let (id, done) = self
            .inner
            .emit(merchant_id, kind, subject, data, None)
            .await?;
        Ok(matches!(done, Enqueued::New { .. }).then_some(id))
    }
}

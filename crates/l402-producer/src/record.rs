//! Recording the sales of routes behind the [`L402Layer`](l402_server::L402Layer)
//! in the producer's store, through the layer's [`SalesRecorder`] hook: each
//! 402 challenge before it leaves, and each payment at the first paid request
//! that reaches the route. Recorded as merchant 0 (this server's own sales),
//! API `"route"`.

use l402_store::PaymentRecord;

use super::Shared;
use super::issue::record_of;
use l402_server::{BoxFuture, IssuedChallenge, Paid, RecordError, SalesRecorder};

/// The producer's [`SalesRecorder`].
pub(super) struct SalesLog {
    pub(super) inner: Shared,
    /// Whose sales these are (0: this server's own).
    pub(super) merchant_id: i64,
    /// The API label of the challenges (`route`, `proxy`).
    pub(super) api: &'static str,
}

impl SalesRecorder for SalesLog {
    fn challenge_issued(&self, issued: &IssuedChallenge) -> BoxFuture<Result<(), RecordError>> {
        let record = record_of(issued, self.merchant_id, self.api, None, None);
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .record(record)
                .await
                .map_err(|e| RecordError::new(e.message))
        })
    }

    fn paid_request(&self, paid: &Paid) -> Option<BoxFuture<()>> {
        let hash = paid.payment_hash;
        if self.inner.seen_payment(&hash.0) {
            return None;
        }
        let payment = PaymentRecord {
            payment_hash: hash.to_string(),
            merchant_id: self.merchant_id,
            resource: Some(paid.resource.clone()),
            amount_sats: paid.amount_sats,
            verified_at: l402_server::unix_now(),
        };
        let inner = self.inner.clone();
        Some(Box::pin(async move {
            match inner.record_settled(&payment).await {
                Ok(_) => inner.remember_payment(hash.0),
                Err(e) => tracing::error!(error = %e, "producer: cannot record a payment"),
            }
        }))
    }
}

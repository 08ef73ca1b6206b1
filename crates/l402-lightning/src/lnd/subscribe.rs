//! Settlement notifications: `GET /v1/invoices/subscribe`
//! (`SubscribeInvoices`, `lnrpc/lightning.yaml`), so a seller learns of
//! payments without polling.

use base64::Engine as _;
use reqwest::Method;
use serde_json::Value;

use super::{BACKEND, Lines, LndClient, answer, unauthorized};
use crate::http::bad;
use crate::{
    BackendError, Cursor, PaymentHash, Preimage, Settlement, SettlementStream, Settlements,
};

/// An invoice LND reports settled, its preimage checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledInvoice {
    /// The payment hash (`r_hash`).
    pub payment_hash: PaymentHash,
    /// The preimage (`r_preimage`), checked against the hash.
    pub preimage: Preimage,
    /// What was paid (`amt_paid_msat`).
    pub amount_paid_msat: u64,
    /// LND's `settle_index`: pass the last one seen to
    /// [`LndClient::subscribe_settled`] to resume without missing any.
    pub settle_index: u64,
}

/// A live invoice subscription; see [`LndClient::subscribe_settled`].
#[derive(Debug)]
pub struct InvoiceSubscription {
    lines: Lines,
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines").finish_non_exhaustive()
    }
}

fn int(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn bytes32(value: Option<&Value>, what: &str) -> Result<[u8; 32], BackendError> {
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| bad(BACKEND, format!("settled invoice has no {what}")))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| bad(BACKEND, format!("{what} is not 32 bytes of base64")))
}

impl InvoiceSubscription {
    /// The next settled invoice; other updates (new, accepted, cancelled
    /// invoices) are skipped. `Ok(None)` when LND ends the stream.
    ///
    /// # Errors
    /// [`BackendError`] if the connection fails or LND sends something
    /// unreadable (or a preimage that does not match): resubscribe from the
    /// last `settle_index` seen.
    pub async fn next(&mut self) -> Result<Option<SettledInvoice>, BackendError> {
        while let Some(line) = self.lines.next().await? {
            let value: Value = serde_json::from_slice(&line)
                .map_err(|e| bad(BACKEND, format!("invoice update is not JSON: {e}")))?;
            if let Some(error) = value.get("error") {
                return Err(BackendError::Rejected {
                    backend: BACKEND,
                    status: 0,
                    detail: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_string(),
                });
            }
            let invoice = value.get("result").unwrap_or(&value);
            if invoice.get("state").and_then(Value::as_str) != Some("SETTLED") {
                continue;
            }
            let payment_hash = PaymentHash(bytes32(invoice.get("r_hash"), "r_hash")?);
            let preimage = Preimage::from(bytes32(invoice.get("r_preimage"), "r_preimage")?);
            if !preimage.matches(&payment_hash) {
                return Err(bad(BACKEND, "r_preimage does not hash to r_hash"));
            }
            return Ok(Some(SettledInvoice {
                payment_hash,
                preimage,
                amount_paid_msat: int(invoice.get("amt_paid_msat")),
                settle_index: int(invoice.get("settle_index")),
            }));
        }
        Ok(None)
    }
}

impl LndClient {
    /// Subscribes to invoice updates and yields the settled ones. LND first
    /// replays every invoice settled after `settle_index` (0: none), then
    /// streams new settlements as they happen. The subscription has no
    /// overall timeout (only the connect timeout).
    ///
    /// # Errors
    /// [`BackendError`] if the subscription cannot be opened (unreachable,
    /// unauthorized, refused).
    pub async fn subscribe_settled(
        &self,
        settle_index: u64,
    ) -> Result<InvoiceSubscription, BackendError> {
        let path = format!("/v1/invoices/subscribe?settle_index={settle_index}");
        let response = self
            .http
            .request(Method::GET, format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| crate::http::transport(BACKEND, self.timeout, e))?;
        let status = response.status();
        if !status.is_success() {
            let body = crate::http::read_body(BACKEND, self.timeout, response).await?;
            if let Some(e) = unauthorized(status, &body) {
                return Err(e);
            }
            return Err(answer(status, body).rejected());
        }
        Ok(InvoiceSubscription {
            lines: Lines::new(response, self.timeout),
        })
    }
}

/// The [`Cursor`] is LND's `settle_index`.
#[async_trait::async_trait]
impl SettlementStream for InvoiceSubscription {
    async fn next(&mut self) -> Result<Option<Settlement>, BackendError> {
        Ok(InvoiceSubscription::next(self).await?.map(|s| {
            Settlement::new(
                s.payment_hash,
                s.amount_paid_msat,
                Cursor::new(s.settle_index),
            )
        }))
    }
}

/// [`LndClient::subscribe_settled`] from the cursor's `settle_index`.
#[async_trait::async_trait]
impl Settlements for LndClient {
    async fn subscribe(&self, after: Cursor) -> Result<Box<dyn SettlementStream>, BackendError> {
        Ok(Box::new(self.subscribe_settled(after.get()).await?))
    }
}

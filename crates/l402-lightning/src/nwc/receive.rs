//! [`Receiver`] over NIP-47: `make_invoice`, `lookup_invoice` (incoming).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::rpc::CallError;
use super::{BACKEND, NwcClient, Transaction, bad, parse};
use crate::new_invoice::{check_request, created};
use crate::{Backend, Invoice, InvoiceRequest, InvoiceStatus, PaymentHash, ReceiveError, Receiver};

#[async_trait::async_trait]
impl Receiver for NwcClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// `make_invoice` with `amount` (msat), `description` and `expiry`, and
    /// `description_hash` (hex) when asked for; the invoice answered must
    /// decode, carry the `payment_hash` answered, be for exactly the amount
    /// asked for and commit to the description hash asked for.
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        check_request(BACKEND, request)?;
        let mut params = json!({
            "amount": request.amount_msat,
            "description": request.memo,
            "expiry": request.expiry.as_secs(),
        });
        if let Some(hash) = request.description_hash {
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            params["description_hash"] = json!(hex);
            // The text whose hash it is, when known (NIP-47: a wallet may
            // keep it as the transaction's description).
            if let Some(text) = &request.hashed_description {
                params["description"] = json!(text);
            }
        }
        let result = self
            .call("make_invoice", params)
            .await
            .map_err(CallError::into_backend)?;
        let tx: Transaction = parse(result, "make_invoice")?;
        let bolt11 = tx
            .invoice
            .filter(|i| !i.trim().is_empty())
            .ok_or_else(|| bad("make_invoice answered no invoice"))?;
        let hash = tx
            .payment_hash
            .as_deref()
            .ok_or_else(|| bad("make_invoice answered no payment_hash"))?
            .parse::<PaymentHash>()
            .map_err(|_| bad("payment_hash is not 32 bytes of hex"))?;
        created(BACKEND, request, bolt11, hash, "payment_hash")
    }

    /// `lookup_invoice` by payment hash: `settled` with a preimage that
    /// hashes to it is paid; `expired`/`failed`, or `pending` past
    /// `expires_at`, is expired; `NOT_FOUND` (or an outgoing payment) is an
    /// unknown invoice.
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        let unknown = || ReceiveError::UnknownInvoice {
            backend: BACKEND,
            payment_hash: *payment_hash,
        };
        let tx = self.lookup(payment_hash).await?.ok_or_else(unknown)?;
        if tx.kind.as_deref() == Some("outgoing") {
            return Err(unknown());
        }
        let preimage = tx.preimage()?;
        let settled = match tx.state.as_deref() {
            Some("settled") => true,
            Some(_) => false,
            // Wallets without `state`: paid once it has a settlement time.
            None => tx.settled_at.is_some_and(|t| t > 0),
        };
        if settled {
            let preimage = preimage.ok_or_else(|| bad("a settled invoice without a preimage"))?;
            if !preimage.matches(payment_hash) {
                return Err(bad("the preimage does not hash to the payment hash").into());
            }
            return Ok(InvoiceStatus::Paid { preimage });
        }
        let expired = match tx.state.as_deref() {
            Some("expired" | "failed") => true,
            _ => tx.expires_at.is_some_and(|at| {
                SystemTime::now() >= UNIX_EPOCH + Duration::from_secs(at.min(u64::from(u32::MAX)))
            }),
        };
        Ok(if expired {
            InvoiceStatus::Expired
        } else {
            InvoiceStatus::Pending
        })
    }

    /// `payment_received` notifications (see [`super::notify`]).
    fn settlements(&self) -> Option<&dyn crate::Settlements> {
        Some(self)
    }
}

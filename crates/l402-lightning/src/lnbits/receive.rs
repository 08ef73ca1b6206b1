//! [`Receiver`] for LNbits: creating and looking up invoices (invoice key).

use std::str::FromStr;

use reqwest::Method;
use serde_json::json;

use super::{BACKEND, CreatedInvoice, LnbitsClient, bad, parse_preimage};
use crate::invoice::decode_invoice;
use crate::{Backend, Invoice, InvoiceRequest, InvoiceStatus, PaymentHash, ReceiveError, Receiver};

#[async_trait::async_trait]
impl Receiver for LnbitsClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        let invalid = |reason: &str| ReceiveError::InvalidRequest {
            backend: BACKEND,
            reason: reason.to_string(),
        };
        if request.amount_msat == 0 {
            return Err(invalid("amount must be positive"));
        }
        if !request.amount_msat.is_multiple_of(1000) {
            return Err(invalid("LNbits invoices are in whole satoshis"));
        }
        if request.expiry.as_secs() == 0 {
            return Err(invalid("expiry must be at least one second"));
        }
        let key = self.receive_key()?;
        let mut body = json!({
            "out": false,
            "amount": request.amount_msat / 1000,
            "unit": "sat",
            "memo": request.memo,
            "expiry": request.expiry.as_secs(),
        });
        if let Some(hash) = request.description_hash {
            // LNbits' CreateInvoice: the invoice commits to this hash.
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            body["description_hash"] = json!(hex);
        }
        let answer = self
            .call(Method::POST, "/api/v1/payments", key, Some(body))
            .await?;
        if !answer.status.is_success() {
            return Err(match answer.status.as_u16() {
                400 | 422 | 520 => ReceiveError::InvalidRequest {
                    backend: BACKEND,
                    reason: answer.detail(),
                },
                _ => Self::rejected(&answer).into(),
            });
        }
        let created: CreatedInvoice = serde_json::from_value(answer.body)
            .map_err(|e| bad(format!("created invoice: {e}")))?;
        let bolt11 = created
            .bolt11
            .or(created.payment_request)
            .ok_or_else(|| bad("created invoice has no bolt11"))?;
        let decoded = decode_invoice(&bolt11).map_err(|e| bad(format!("created invoice: {e}")))?;
        let hash = PaymentHash::from_str(&created.payment_hash)
            .map_err(|e| bad(format!("payment_hash: {e}")))?;
        if decoded.payment_hash != hash {
            return Err(bad("payment_hash does not match the invoice's").into());
        }
        if decoded.amount_msat != Some(request.amount_msat) {
            return Err(bad("invoice amount differs from the amount asked for").into());
        }
        if request.description_hash.is_some()
            && decoded.description_hash != request.description_hash
        {
            return Err(bad("invoice does not commit to the description hash asked for").into());
        }
        Ok(Invoice {
            bolt11,
            payment_hash: hash,
            amount_msat: request.amount_msat,
            expires_at: decoded.expires_at,
        })
    }

    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        let key = self.receive_key()?;
        let Some(state) = self.payment_state(key, payment_hash).await? else {
            return Err(ReceiveError::UnknownInvoice {
                backend: BACKEND,
                payment_hash: *payment_hash,
            });
        };
        if state.paid {
            let preimage = parse_preimage(state.preimage.as_deref())?;
            if !preimage.matches(payment_hash) {
                return Err(bad("preimage does not hash to the payment hash").into());
            }
            return Ok(InvoiceStatus::Paid { preimage });
        }
        Ok(match state.status.as_deref() {
            Some("failed") => InvoiceStatus::Expired,
            _ => InvoiceStatus::Pending,
        })
    }
}

//! [`Receiver`] for CLN: `invoice` and `listinvoices`.

use std::str::FromStr;

use serde_json::{Value, json};

use super::{BACKEND, ClnClient, Reply, rejected};
use crate::http::bad;
use crate::new_invoice::{check_request, created as created_invoice, invalid};
use crate::{
    Backend, Invoice, InvoiceRequest, InvoiceStatus, PaymentHash, Preimage, ReceiveError, Receiver,
};

#[async_trait::async_trait]
impl Receiver for ClnClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// `invoice {amount_msat, label, description, expiry}` →
    /// `{payment_hash, expires_at, bolt11, payment_secret, created_index}`
    /// (`doc/schemas/lightning-invoice.json`). The label is unique per call.
    ///
    /// For a description hash CLN takes the text and hashes it itself
    /// (`deschashonly: true` puts `sha256(description)` in the invoice), so
    /// the request must carry the text
    /// ([`InvoiceRequest::hashed_description`]); a bare hash is refused.
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        check_request(BACKEND, request)?;
        let mut params = json!({
            "amount_msat": request.amount_msat,
            "label": self.next_label(),
            "description": request.memo,
            "expiry": request.expiry.as_secs(),
        });
        if request.description_hash.is_some() {
            let Some(text) = &request.hashed_description else {
                return Err(invalid(
                    BACKEND,
                    "Core Lightning hashes the description itself: \
                     give the text (InvoiceRequest::hashed_description), not only its hash",
                ));
            };
            params["description"] = json!(text);
            params["deschashonly"] = json!(true);
        }
        let result = match self.call("invoice", &params, self.timeout).await? {
            Reply::Ok(result) => result,
            // -32602 invalid parameters, 900/901 label/preimage exists.
            Reply::Rpc(e) if matches!(e.code, -32602 | 900 | 901) => {
                return Err(invalid(BACKEND, e.message));
            }
            Reply::Rpc(e) => return Err(rejected(&e).into()),
        };
        let text = |key: &str| {
            result
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(BACKEND, format!("invoice result has no {key}")))
        };
        let bolt11 = text("bolt11")?.to_string();
        let hash = PaymentHash::from_str(text("payment_hash")?)
            .map_err(|e| bad(BACKEND, format!("payment_hash: {e}")))?;
        created_invoice(BACKEND, request, bolt11, hash, "payment_hash")
    }

    /// `listinvoices {payment_hash}` → `{invoices: [{status: "unpaid" |
    /// "paid" | "expired", payment_preimage (when paid), …}]}`
    /// (`doc/schemas/lightning-listinvoices.json`).
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        let params = json!({ "payment_hash": payment_hash.to_string() });
        let result = match self.call("listinvoices", &params, self.timeout).await? {
            Reply::Ok(result) => result,
            Reply::Rpc(e) => return Err(rejected(&e).into()),
        };
        let Some(invoice) = result
            .get("invoices")
            .and_then(Value::as_array)
            .and_then(|list| list.first())
        else {
            return Err(ReceiveError::UnknownInvoice {
                backend: BACKEND,
                payment_hash: *payment_hash,
            });
        };
        match invoice.get("status").and_then(Value::as_str) {
            Some("paid") => {
                let preimage = invoice
                    .get("payment_preimage")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(BACKEND, "a paid invoice has no payment_preimage"))?;
                let preimage = Preimage::from_str(preimage)
                    .map_err(|e| bad(BACKEND, format!("payment_preimage: {e}")))?;
                if !preimage.matches(payment_hash) {
                    return Err(bad(BACKEND, "preimage does not hash to the payment hash").into());
                }
                Ok(InvoiceStatus::Paid { preimage })
            }
            Some("unpaid") => Ok(InvoiceStatus::Pending),
            Some("expired") => Ok(InvoiceStatus::Expired),
            other => Err(bad(BACKEND, format!("unknown invoice status {other:?}")).into()),
        }
    }
}

//! `create_invoice` and `check_invoice_status`: receiving into the wallet
//! (Lightning Enable's shapes).

use l402_lightning::{InvoiceRequest, InvoiceStatus};
use serde_json::{Value, json};

use crate::buyer::{Buyer, fail, sats_of};

impl Buyer {
    /// `create_invoice`: an invoice to be paid into the wallet.
    pub async fn create_invoice(
        &self,
        amount_sats: u64,
        memo: Option<&str>,
        expiry_secs: Option<u64>,
    ) -> Value {
        let Some(receiver) = &self.receiver else {
            return json!({"success": false, "error": "no receiving wallet configured", "errorCode": "no_receiver"});
        };
        if amount_sats == 0 {
            return fail("amount_sats must be at least 1");
        }
        let mut request = InvoiceRequest::sats(amount_sats).memo(memo.unwrap_or_default());
        if let Some(secs) = expiry_secs {
            request = request.expiry(std::time::Duration::from_secs(secs.clamp(60, 86_400)));
        }
        match receiver.create_invoice(&request).await {
            Ok(invoice) => {
                let expires = invoice
                    .expires_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                json!({
                    "success": true,
                    "provider": receiver.backend().to_string(),
                    "invoice": {
                        "id": invoice.payment_hash.to_string(),
                        "bolt11": invoice.bolt11,
                        "amountSats": sats_of(invoice.amount_msat),
                        "expiresAt": expires,
                    },
                    "message": format!("Invoice for {amount_sats} sats created; check it with check_invoice_status and its id."),
                })
            }
            Err(e) => fail(e.to_string()),
        }
    }

    /// `check_invoice_status`: `invoice_id` is the payment hash.
    pub async fn invoice_status(&self, invoice_id: &str) -> Value {
        let Some(receiver) = &self.receiver else {
            return json!({"success": false, "error": "no receiving wallet configured", "errorCode": "no_receiver"});
        };
        let Ok(hash) = invoice_id.trim().parse() else {
            return fail("invoice_id is the invoice's payment hash (64 hex digits)");
        };
        match receiver.lookup_invoice(&hash).await {
            Ok(status) => {
                let state = match status {
                    InvoiceStatus::Pending => "pending",
                    InvoiceStatus::Paid { .. } => "paid",
                    InvoiceStatus::Expired => "expired",
                };
                json!({
                    "success": true,
                    "provider": receiver.backend().to_string(),
                    "invoice": {
                        "id": invoice_id.trim(),
                        "state": state,
                        "isPaid": status.is_paid(),
                        "isPending": matches!(status, InvoiceStatus::Pending),
                    },
                    "message": format!("The invoice is {state}."),
                })
            }
            Err(e) => fail(e.to_string()),
        }
    }
}

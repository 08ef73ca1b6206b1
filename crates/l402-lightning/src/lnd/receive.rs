//! [`Receiver`] for LND: `POST /v1/invoices` (`AddInvoice`) and
//! `GET /v1/invoice/{r_hash_str}` (`LookupInvoice`), as mapped in
//! `lnrpc/lightning.yaml`.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{BACKEND, LndClient};
use crate::http::bad;
use crate::new_invoice::{check_request, created as created_invoice, invalid};
use crate::{
    Backend, Invoice, InvoiceRequest, InvoiceStatus, PaymentHash, Preimage, ReceiveError, Receiver,
};

/// `lnrpc.AddInvoiceResponse` (`lightning.proto`): `r_hash` (bytes, base64),
/// `payment_request`, `add_index` (uint64, a string), `payment_addr`.
#[derive(Deserialize)]
struct AddInvoiceResponse {
    r_hash: String,
    payment_request: String,
}

/// `lnrpc.Invoice` (`lightning.proto`): of its fields, `r_preimage` (bytes,
/// base64) and `state` (`OPEN`, `SETTLED`, `CANCELED`, `ACCEPTED`).
#[derive(Deserialize)]
struct LndInvoice {
    #[serde(default)]
    r_preimage: Option<String>,
    state: String,
}

fn b64(text: &str, what: &str) -> Result<[u8; 32], crate::BackendError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .map_err(|e| bad(BACKEND, format!("{what}: not base64: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| bad(BACKEND, format!("{what}: not 32 bytes")))
}

#[async_trait::async_trait]
impl Receiver for LndClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// `POST /v1/invoices {"value_msat", "memo", "expiry"}`, with
    /// `description_hash` (bytes: base64 in proto3 JSON) when asked for; LND
    /// then puts the hash, not the memo, in the invoice.
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        check_request(BACKEND, request)?;
        // LND's REST proxy takes 64-bit integers as strings (proto3 JSON).
        let mut body = json!({
            "value_msat": request.amount_msat.to_string(),
            "memo": request.memo,
            "expiry": request.expiry.as_secs().to_string(),
        });
        if let Some(hash) = request.description_hash {
            body["description_hash"] =
                json!(base64::engine::general_purpose::STANDARD.encode(hash));
        }
        let answer = self.call(Method::POST, "/v1/invoices", Some(&body)).await?;
        if !answer.status.is_success() {
            // InvalidArgument (400) and the `Unknown` (500) LND uses for its
            // own validation errors ("memo too large"…) are refusals; other
            // statuses say nothing about the invoice.
            return Err(if answer.status == StatusCode::BAD_REQUEST {
                invalid(BACKEND, answer.detail())
            } else {
                answer.rejected().into()
            });
        }
        let created: AddInvoiceResponse = answer.json("AddInvoice")?;
        let hash = PaymentHash(b64(&created.r_hash, "r_hash")?);
        created_invoice(BACKEND, request, created.payment_request, hash, "r_hash")
    }

    /// `GET /v1/invoice/{r_hash_str}` (hex). LND answers `NotFound` (404)
    /// "unable to locate invoice" for a hash it does not know.
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        let answer = self
            .call(Method::GET, &format!("/v1/invoice/{payment_hash}"), None)
            .await?;
        if !answer.status.is_success() {
            let unknown = answer.status == StatusCode::NOT_FOUND
                || answer.detail().contains("unable to locate invoice");
            return Err(if unknown {
                ReceiveError::UnknownInvoice {
                    backend: BACKEND,
                    payment_hash: *payment_hash,
                }
            } else {
                answer.rejected().into()
            });
        }
        let invoice: LndInvoice = answer.json("Invoice")?;
        match invoice.state.as_str() {
            "SETTLED" => {
                let preimage = invoice
                    .r_preimage
                    .as_deref()
                    .ok_or_else(|| bad(BACKEND, "a settled invoice has no r_preimage"))?;
                let preimage = Preimage::from(b64(preimage, "r_preimage")?);
                if !preimage.matches(payment_hash) {
                    return Err(bad(BACKEND, "r_preimage does not hash to the payment hash").into());
                }
                Ok(InvoiceStatus::Paid { preimage })
            }
            // ACCEPTED: a hold invoice whose HTLCs are held, not settled.
            "OPEN" | "ACCEPTED" => Ok(InvoiceStatus::Pending),
            "CANCELED" => Ok(InvoiceStatus::Expired),
            other => Err(bad(BACKEND, format!("unknown invoice state {other:?}")).into()),
        }
    }

    /// The invoice subscription (`GET /v1/invoices/subscribe`).
    fn settlements(&self) -> Option<&dyn crate::Settlements> {
        Some(self)
    }
}

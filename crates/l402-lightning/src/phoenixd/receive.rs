//! [`Receiver`] for phoenixd: `POST /createinvoice`, `GET /payments/incoming/{hash}`.

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{BACKEND, MAX_DESCRIPTION_CHARS, PhoenixdClient, parse_hash, parse_preimage};
use crate::http::bad;
use crate::new_invoice::{check_request, created as created_invoice, invalid};
use crate::{Backend, Invoice, InvoiceRequest, InvoiceStatus, PaymentHash, ReceiveError, Receiver};

/// `ApiType.GeneratedInvoice` (`json/JsonSerializers.kt`):
/// `{"amountSat", "paymentHash", "serialized"}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeneratedInvoice {
    payment_hash: String,
    serialized: String,
}

/// `ApiType.IncomingPayment` (`json/JsonSerializers.kt`): `{"subType",
/// "paymentHash", "preimage", "externalId"?, "description"?, "invoice"?,
/// "isPaid", "isExpired", "requestedSat"?, "receivedSat", "fees",
/// "expiresAt"?, "completedAt"?, "createdAt"}`; nulls are omitted
/// (`explicitNulls = false` in `Api.kt`). phoenixd stores the preimage when
/// it creates the invoice, so `preimage` is there before it is paid.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingPayment {
    #[serde(default)]
    preimage: Option<String>,
    is_paid: bool,
    #[serde(default)]
    is_expired: bool,
}

#[async_trait::async_trait]
impl Receiver for PhoenixdClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// `POST /createinvoice` with `description` (or, for a description
    /// hash, `descriptionHash` in hex: phoenixd takes exactly one of them),
    /// `amountSat` and `expirySeconds` (`Api.kt`, `post("createinvoice")`).
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        check_request(BACKEND, request)?;
        if !request.amount_msat.is_multiple_of(1000) {
            return Err(invalid(BACKEND, "phoenixd invoices are in whole satoshis"));
        }
        let description = match request.description_hash {
            Some(hash) => ("descriptionHash", hex::encode(hash)),
            None => {
                if request.memo.chars().count() > MAX_DESCRIPTION_CHARS {
                    return Err(invalid(
                        BACKEND,
                        format!(
                            "phoenixd allows descriptions of at most {MAX_DESCRIPTION_CHARS} characters"
                        ),
                    ));
                }
                ("description", request.memo.clone())
            }
        };
        let form = [
            description,
            ("amountSat", (request.amount_msat / 1000).to_string()),
            ("expirySeconds", request.expiry.as_secs().to_string()),
        ];
        let answer = self
            .call(Method::POST, "/createinvoice", Some(&form), self.timeout)
            .await?;
        if !answer.status.is_success() {
            return Err(if answer.status == StatusCode::BAD_REQUEST {
                invalid(BACKEND, answer.detail())
            } else {
                answer.rejected().into()
            });
        }
        let created: GeneratedInvoice = answer.json("created invoice")?;
        let hash = parse_hash(&created.payment_hash)?;
        created_invoice(BACKEND, request, created.serialized, hash, "paymentHash")
    }

    /// `GET /payments/incoming/{paymentHash}`; phoenixd answers 404 when it
    /// has no such invoice (`Api.kt`: `NoContent`, mapped to 404).
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        let answer = self
            .get(&format!("/payments/incoming/{payment_hash}"))
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(ReceiveError::UnknownInvoice {
                backend: BACKEND,
                payment_hash: *payment_hash,
            });
        }
        if !answer.status.is_success() {
            return Err(answer.rejected().into());
        }
        let payment: IncomingPayment = answer.json("incoming payment")?;
        if payment.is_paid {
            let preimage = parse_preimage(payment.preimage.as_deref())?;
            if !preimage.matches(payment_hash) {
                return Err(bad(BACKEND, "preimage does not hash to the payment hash").into());
            }
            return Ok(InvoiceStatus::Paid { preimage });
        }
        Ok(if payment.is_expired {
            InvoiceStatus::Expired
        } else {
            InvoiceStatus::Pending
        })
    }

    /// The websocket's `payment_received` events (`GET /websocket`).
    fn settlements(&self) -> Option<&dyn crate::Settlements> {
        Some(self)
    }
}

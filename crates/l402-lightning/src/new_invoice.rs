//! What the wire backends share when creating an invoice: refusing a
//! request no node can fill before sending it, and checking the invoice the
//! node answered against what was asked for.

use crate::invoice::decode_invoice;
use crate::{Backend, BackendError, Invoice, InvoiceRequest, PaymentHash, ReceiveError};

/// `BackendError::BadResponse` for `backend` (as `http::bad`, which NWC,
/// not an HTTP backend, does not compile).
fn bad(backend: Backend, reason: impl Into<String>) -> BackendError {
    BackendError::BadResponse {
        backend,
        reason: reason.into(),
    }
}

/// `ReceiveError::InvalidRequest` for `backend`.
pub(crate) fn invalid(backend: Backend, reason: impl Into<String>) -> ReceiveError {
    ReceiveError::InvalidRequest {
        backend,
        reason: reason.into(),
    }
}

/// Refuses an invoice request for nothing or expiring at once.
pub(crate) fn check_request(
    backend: Backend,
    request: &InvoiceRequest,
) -> Result<(), ReceiveError> {
    if request.amount_msat == 0 {
        return Err(invalid(backend, "amount must be positive"));
    }
    if request.expiry.as_secs() == 0 {
        return Err(invalid(backend, "expiry must be at least one second"));
    }
    if request.description_hash.is_some() {
        return Err(invalid(
            backend,
            "this backend cannot create invoices with a description hash yet",
        ));
    }
    Ok(())
}

/// The [`Invoice`] a node created for `request`: `bolt11` must decode, carry
/// the payment hash the node named in its `hash_field`, and be for exactly
/// the amount asked for; anything else is `BackendError::BadResponse`.
pub(crate) fn created(
    backend: Backend,
    request: &InvoiceRequest,
    bolt11: String,
    hash: PaymentHash,
    hash_field: &str,
) -> Result<Invoice, ReceiveError> {
    let decoded =
        decode_invoice(&bolt11).map_err(|e| bad(backend, format!("created invoice: {e}")))?;
    if decoded.payment_hash != hash {
        return Err(bad(
            backend,
            format!("{hash_field} does not match the invoice's payment hash"),
        )
        .into());
    }
    if decoded.amount_msat != Some(request.amount_msat) {
        return Err(bad(backend, "invoice amount differs from the amount asked for").into());
    }
    Ok(Invoice {
        bolt11,
        payment_hash: hash,
        amount_msat: request.amount_msat,
        expires_at: decoded.expires_at,
    })
}

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

/// Refuses an invoice request for nothing or expiring at once, or whose
/// hashed description does not hash to its description hash.
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
    if let (Some(hash), Some(text)) = (&request.description_hash, &request.hashed_description) {
        use sha2::Digest as _;
        let of_text: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
        if of_text != *hash {
            return Err(invalid(
                backend,
                "hashed_description does not hash to description_hash",
            ));
        }
    }
    Ok(())
}

/// The [`Invoice`] a node created for `request`: `bolt11` must decode, carry
/// the payment hash the node named in its `hash_field`, be for exactly
/// the amount asked for and, when a description hash was asked for, commit
/// to it (the node is not trusted to have honoured it); anything else is
/// `BackendError::BadResponse`.
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
    if request.description_hash.is_some() && decoded.description_hash != request.description_hash {
        return Err(bad(
            backend,
            "invoice does not commit to the description hash asked for",
        )
        .into());
    }
    Ok(Invoice {
        bolt11,
        payment_hash: hash,
        amount_msat: request.amount_msat,
        expires_at: decoded.expires_at,
    })
}

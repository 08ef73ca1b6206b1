//! Recording the sales of routes behind the [`L402Layer`](crate::L402Layer)
//! in the producer's store: each 402 challenge before it leaves, and each
//! payment at the first paid request that reaches the route. Recorded as
//! merchant 0 (this server's own sales), API `"route"`.

use std::str::FromStr;
use std::time::UNIX_EPOCH;

use ::l402::{Credential, Ignorable, RequestContext};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use l402_store::{ChallengeRecord, PaymentRecord};
use serde_json::Value;

use super::kit::KIT_MERCHANT;
use super::{Shared, store_unavailable};

/// The largest 402 body looked at.
const MAX_CHALLENGE_BODY: usize = 64 * 1024;

pub(super) async fn record_sales(
    State(inner): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let credential = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Credential::from_str(v).ok());
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYMENT_REQUIRED
        && response.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_CHALLENGE_BODY).await else {
            return super::error::ApiError::unavailable(
                "challenge_unreadable",
                "the challenge could not be read",
            )
            .into_response();
        };
        if let Some(record) = challenge_of(&bytes)
            && let Err(e) = inner.store.record_challenge(&record, None).await
        {
            // An idempotent repeat of a recorded challenge is fine; anything
            // else was not recorded, so it is not sent.
            let known = inner.store.challenge(&record.payment_hash).await;
            if !matches!(known, Ok(Some(_))) {
                return store_unavailable(&e).into_response();
            }
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    if response.status().is_success()
        && let Some(credential) = credential
    {
        let ctx = RequestContext::now()
            .ignore(Ignorable::Resource)
            .ignore(Ignorable::AmountSats)
            .ignore(Ignorable::Method)
            .ignore(Ignorable::Services);
        if let Ok(verified) = inner.verifier.verify(&credential, &ctx) {
            let hash = verified.payment_hash();
            if !inner.seen_payment(&hash.0) {
                let payment = PaymentRecord {
                    payment_hash: hash.to_string(),
                    merchant_id: KIT_MERCHANT,
                    resource: verified.caveat("resource").map(str::to_owned),
                    amount_sats: verified
                        .caveat("amount_sats")
                        .and_then(|a| a.parse().ok())
                        .unwrap_or(0),
                    verified_at: crate::unix_now(),
                };
                match inner.store.record_payment(&payment).await {
                    Ok(_) => inner.remember_payment(hash.0),
                    Err(e) => tracing::error!(error = %e, "producer: cannot record a payment"),
                }
            }
        }
    }
    response
}

/// The challenge in a 402 body (l402-express's shape, as the layer writes it).
fn challenge_of(body: &[u8]) -> Option<ChallengeRecord> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let l402 = value.get("l402")?;
    let invoice = l402.get("invoice")?.as_str()?;
    let decoded = l402_lightning::decode_invoice(invoice).ok()?;
    Some(ChallengeRecord {
        payment_hash: decoded.payment_hash.to_string(),
        merchant_id: KIT_MERCHANT,
        api: "route".to_owned(),
        resource: l402.get("resource")?.as_str()?.to_owned(),
        amount_sats: l402.get("amount_sats")?.as_u64()?,
        description: None,
        owner_address: None,
        invoice: invoice.to_owned(),
        macaroon: l402.get("macaroon")?.as_str()?.to_owned(),
        expires_at: decoded
            .expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        created_at: crate::unix_now(),
    })
}

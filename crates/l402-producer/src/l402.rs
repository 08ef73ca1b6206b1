//! Lightning Enable's producer API: `POST /api/l402/challenges` and
//! `POST /api/l402/challenges/verify`, plus the merchant's stats and the
//! free status probe.

use std::net::SocketAddr;
use std::str::FromStr;

use ::l402::{Caveat, Credential, Macaroon, PaymentHash, Preimage, RequestContext, Verified};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::StatusCode;
use l402_server::{IssuedChallenge, Offer};
use l402_store::PaymentRecord;
use serde_json::{Value, json};

use super::decode::Fields;
use super::error::ApiError;
use super::extract::{IdempotencyKey, Merchant};
use super::passes::PassCheck;
use super::{Inner, Shared, json, read_body, store_unavailable};

/// The longest resource accepted.
pub(crate) const MAX_RESOURCE_CHARS: usize = 2048;
/// BOLT11 descriptions are at most 639 bytes.
pub(crate) const MAX_DESCRIPTION_BYTES: usize = l402_server::issuer::MAX_MEMO_BYTES;
/// The longest macaroon accepted (base64 characters).
pub(crate) const MAX_MACAROON_CHARS: usize = 8192;

impl Inner {
    /// Verifies a macaroon and preimage against `ctx`, recording the first
    /// valid verification of each payment hash and counting every one.
    pub(crate) async fn check(
        &self,
        merchant_id: i64,
        macaroon: &str,
        preimage: &str,
        ctx: &RequestContext<'_>,
    ) -> Result<Verified, (&'static str, String)> {
        let expected = merchant_id.to_string();
        let result = self
            .check_token(macaroon, preimage, ctx)
            .and_then(|verified| {
                // Bound to this merchant: a token without a merchant caveat
                // (one sold by a paid route of this server, say) is not one.
                if verified.caveat("merchant") == Some(expected.as_str()) {
                    Ok(verified)
                } else {
                    Err((
                        "wrong_merchant",
                        "Token was not issued for this merchant".to_owned(),
                    ))
                }
            });
        self.count(merchant_id, result.is_ok());
        let verified = result?;
        let hash = verified.payment_hash();
        if !self.seen_payment(&hash.0) {
            let payment = PaymentRecord {
                payment_hash: hash.to_string(),
                merchant_id,
                resource: verified.caveat("resource").map(str::to_owned),
                amount_sats: verified
                    .caveat("amount_sats")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0),
                verified_at: l402_server::unix_now(),
            };
            // Verification needs no database: a store failure is logged and
            // the payment is recorded at its next verification.
            // The payment and its owner's split credit, in one transaction.
            match self.record_settled(&payment).await {
                Ok(_) => {
                    self.remember_payment(hash.0);
                    // payment.received, unless a settlement notification
                    // queued it already (once per payment hash).
                    self.payment_event(
                        merchant_id,
                        &payment.payment_hash,
                        payment.amount_sats,
                        payment.resource.as_deref(),
                    )
                    .await;
                }
                Err(e) => tracing::error!(error = %e, "producer: cannot record a payment"),
            }
        }
        Ok(verified)
    }

    fn check_token(
        &self,
        macaroon: &str,
        preimage: &str,
        ctx: &RequestContext<'_>,
    ) -> Result<Verified, (&'static str, String)> {
        let macaroon = Macaroon::from_str(macaroon.trim()).map_err(|e| {
            (
                "malformed_macaroon",
                format!("macaroon is not a valid base64 macaroon: {e}"),
            )
        })?;
        let preimage = Preimage::from_str(preimage.trim()).map_err(|_| {
            (
                "malformed_preimage",
                "preimage must be 64 hex digits".to_owned(),
            )
        })?;
        let credential = Credential::new(macaroon, preimage);
        self.verifier.verify(&credential, ctx).map_err(|e| {
            let code = match &e {
                ::l402::VerifyError::Caveat(::l402::CaveatError::WrongMerchant { .. }) => {
                    "wrong_merchant"
                }
                other => other.code(),
            };
            let message = match &e {
                ::l402::VerifyError::WrongPreimage(_) => {
                    "Preimage does not match payment hash".to_owned()
                }
                other => {
                    let text = other.to_string();
                    let mut chars = text.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                        .unwrap_or(text)
                }
            };
            (code, message)
        })
    }
}

/// The challenge as Lightning Enable answers it.
pub(crate) fn challenge_json(c: &IssuedChallenge) -> Value {
    json!({
        "invoice": c.challenge.invoice,
        "macaroon": c.challenge.macaroon,
        "paymentHash": c.payment_hash.to_string(),
        "expiresAt": l402_server::rfc3339(c.expires_at),
        "resource": c.resource,
        "priceSats": c.amount_sats,
        "mppChallenge": null,
    })
}

pub(super) async fn create(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
    key: Option<IdempotencyKey>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let fields = Fields::parse(&body, &["resource", "priceSats", "description"])?;
    let resource = fields.string("resource", MAX_RESOURCE_CHARS)?;
    let price = fields.integer("priceSats", 1, inner.max_price_sats)?;
    let description = fields.opt_string("description", MAX_DESCRIPTION_BYTES)?;
    if description.is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES) {
        return Err(ApiError::field(
            "invalid_field",
            "description",
            format!("description is longer than {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }

    // Without a key, Lightning Enable de-duplicates by client address.
    let merchant_id = who.merchant.id;
    let client = match key {
        Some(IdempotencyKey(key)) => format!("{merchant_id}/key:{key}"),
        None => {
            let ip = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            match inner.client_addr(&parts.headers, ip) {
                Some(ip) => format!("{merchant_id}/ip:{ip}"),
                None => format!("{merchant_id}/ip:unknown"),
            }
        }
    };
    let scope = l402_server::idempotency::scope(&client, resource, price);
    let mut offer = Offer::new(resource, price).caveat(Caveat::merchant(&merchant_id.to_string()));
    if let Some(d) = description {
        offer = offer.description(d);
    }
    let issued = inner.issue_idempotent(merchant_id, scope, &offer).await?;
    Ok(json(StatusCode::OK, challenge_json(&issued)))
}

pub(super) async fn verify(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
    request: Request,
) -> Result<Response, ApiError> {
    let body = read_body(request.into_body()).await?;
    let fields = Fields::parse(&body, &["macaroon", "preimage", "resource", "amountSats"])?;
    let macaroon = fields.string("macaroon", MAX_MACAROON_CHARS)?;
    let preimage = fields.string("preimage", 128)?;
    let resource = fields.opt_string("resource", MAX_RESOURCE_CHARS)?;
    let amount = fields.opt_integer("amountSats", 1, inner.max_price_sats)?;

    // Fail closed: a token is checked against the resource it is presented
    // for and a price; leaving either out never means "any". Without
    // `amountSats` (l402-express 0.2.0 never sends it) the price is the
    // merchant's current one for the resource: that of its most recent
    // challenge for it, from the store.
    let Some(resource) = resource else {
        inner.count(who.merchant.id, false);
        return Ok(invalid(
            "resource_required",
            "resource is required: the resource the token is presented for",
        ));
    };
    // The merchant's pass, for any route in its scope (passes.rs).
    if let PassCheck::Pass(checked) = inner
        .verify_pass(who.merchant.id, macaroon, preimage, resource)
        .await?
    {
        let body = match checked {
            Ok(verified) => {
                let mut body = valid_json(&verified, who.merchant.id);
                body["scope"] = body["resource"].take();
                body["resource"] = json!(resource);
                body["pass"] = json!(true);
                body
            }
            Err((code, error)) => json!({"valid": false, "error": error, "code": code}),
        };
        return Ok(json(StatusCode::OK, body));
    }
    let amount = match amount {
        Some(amount) => amount,
        None => match inner
            .store
            .current_price(who.merchant.id, resource)
            .await
            .map_err(|e| store_unavailable(&e))?
        {
            Some(price) => price,
            None => {
                inner.count(who.merchant.id, false);
                return Ok(invalid(
                    "amount_required",
                    "amountSats is required: no challenge for this resource is on record to price \
                     the token, so send amountSats, the price of the resource it is presented for",
                ));
            }
        },
    };
    let ctx = RequestContext::now()
        .merchant(who.merchant.id.to_string())
        .resource(resource)
        .amount_sats(amount);
    let body = match inner.check(who.merchant.id, macaroon, preimage, &ctx).await {
        Ok(verified) => valid_json(&verified, who.merchant.id),
        Err((code, error)) => json!({"valid": false, "error": error, "code": code}),
    };
    Ok(json(StatusCode::OK, body))
}

/// Lightning Enable's shape for a refused token: 200 `valid:false`.
fn invalid(code: &str, error: &str) -> Response {
    json(
        StatusCode::OK,
        json!({"valid": false, "error": error, "code": code}),
    )
}

fn valid_json(verified: &Verified, merchant_id: i64) -> Value {
    let amount: Option<u64> = verified.caveat("amount_sats").and_then(|a| a.parse().ok());
    let hash: PaymentHash = verified.payment_hash();
    json!({
        "valid": true,
        "resource": verified.caveat("resource"),
        "merchantId": merchant_id,
        "amountSats": amount,
        "paymentHash": hash.to_string(),
    })
}

pub(super) async fn stats(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
) -> Result<Response, ApiError> {
    if let Err(e) = inner.flush().await {
        tracing::warn!(error = %e, "producer: cannot write verification counts");
    }
    let stats = inner
        .store
        .stats(Some(who.merchant.id))
        .await
        .map_err(|e| store_unavailable(&e))?;
    let mut body = super::admin::stats_json(&stats);
    body["merchantId"] = json!(who.merchant.id);
    Ok(json(StatusCode::OK, body))
}

pub(super) async fn status(State(inner): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        json!({
            "status": "ok",
            "l402": true,
            "backend": inner.receiver.backend().to_string(),
        }),
    )
}

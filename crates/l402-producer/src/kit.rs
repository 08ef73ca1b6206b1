//! l402kit's hosted API: `POST /api/invoice` and `POST /api/verify`.
//!
//! Unlike l402kit's unsigned `base64(JSON{hash, exp})`, the `macaroon` here is
//! a real signed macaroon (merchant `0`, the amount, an expiry one hour out),
//! so a self-minted token does not verify. Clients treat it as opaque; an SDK
//! that decodes it locally must verify through `POST /api/verify` instead.

use ::l402::{Caveat, Ignorable, RequestContext};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use super::decode::Fields;
use super::error::ApiError;
use super::l402::{Issue, MAX_MACAROON_CHARS};
use super::{Inner, Shared, json, read_body};

/// The merchant id of l402kit-style challenges.
pub(crate) const KIT_MERCHANT: i64 = 0;

/// The longest owner Lightning address accepted.
const MAX_ADDRESS_CHARS: usize = 320;

pub(super) async fn invoice(State(inner): State<Shared>, request: Request) -> Response {
    invoice_inner(&inner, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn invoice_inner(inner: &Inner, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    if let Some(ip) = inner.client_addr(&parts)
        && let Err(wait) = inner.limiter.check(ip)
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from {ip}; try again in {wait} s"),
        )
        .with_error("Rate limit exceeded")
        .retry_after(wait));
    }
    let body = read_body(body).await?;
    let fields = Fields::parse(&body, &["amountSats", "ownerAddress"])?;
    let price = fields
        .integer("amountSats", 1, inner.max_price_sats)
        .map_err(|e| e.with_error("Invalid amountSats"))?;
    let owner = fields.opt_string("ownerAddress", MAX_ADDRESS_CHARS)?;
    let valid_until = l402_server::unix_now().saturating_add(inner.kit_token_lifetime.as_secs());
    let record = inner
        .issue(
            Issue {
                merchant_id: KIT_MERCHANT,
                api: "kit",
                resource: "/api/invoice",
                price,
                description: None,
                owner_address: owner,
                caveats: vec![
                    Caveat::merchant(&KIT_MERCHANT.to_string()),
                    Caveat::amount_sats(price),
                    Caveat::valid_until(valid_until),
                ],
                lightning_error: Some("Lightning provider temporarily unavailable"),
            },
            None,
        )
        .await?;
    Ok(json(
        StatusCode::OK,
        json!({
            "paymentRequest": record.invoice,
            "paymentHash": record.payment_hash,
            "macaroon": record.macaroon,
        }),
    ))
}

pub(super) async fn verify(State(inner): State<Shared>, request: Request) -> Response {
    verify_inner(&inner, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn verify_inner(inner: &Inner, request: Request) -> Result<Response, ApiError> {
    let (_, body) = request.into_parts();
    let body = read_body(body).await?;
    let fields = Fields::parse(&body, &["token"])?;
    let token = fields
        .string("token", MAX_MACAROON_CHARS + 200)
        .map_err(|e| e.with_error("Missing token"))?;
    let token = token.trim();
    let token = token
        .strip_prefix("L402 ")
        .or_else(|| token.strip_prefix("LSAT "))
        .unwrap_or(token);
    let Some((macaroon, preimage)) = token.split_once(':') else {
        return Ok(json(
            StatusCode::OK,
            json!({"valid": false, "error": "Token must be <macaroon>:<preimage>", "code": "malformed_token"}),
        ));
    };
    let ctx = RequestContext::now()
        .merchant(KIT_MERCHANT.to_string())
        .ignore(Ignorable::Resource)
        .ignore(Ignorable::AmountSats);
    let body = match inner.check(KIT_MERCHANT, macaroon, preimage, &ctx).await {
        Ok(_) => json!({"valid": true}),
        Err((code, error)) => {
            let error = if code == "token_expired" {
                "Token expired".to_owned()
            } else {
                error
            };
            json!({"valid": false, "error": error, "code": code})
        }
    };
    Ok(json(StatusCode::OK, body))
}

//! l402kit's hosted API: `POST /api/invoice` and `POST /api/verify`.
//!
//! Unlike l402kit's unsigned `base64(JSON{hash, exp})`, the `macaroon` here is
//! a real signed macaroon (merchant `0`, the amount, an expiry one hour out),
//! so a self-minted token does not verify. Clients treat it as opaque; an SDK
//! that decodes it locally must verify through `POST /api/verify` instead.

use std::net::SocketAddr;

use ::l402::{Caveat, Ignorable, RequestContext};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::StatusCode;
use l402_server::Offer;
use serde_json::json;

use super::decode::Fields;
use super::error::ApiError;
use super::issue::record_of;
use super::l402::MAX_MACAROON_CHARS;
use super::{Shared, json, read_body};

/// The merchant id of l402kit-style challenges.
pub(crate) const KIT_MERCHANT: i64 = 0;

/// The resource l402kit-style tokens are bound to (their verification, as
/// l402kit's, checks only the payment, the merchant and the expiry).
pub(crate) const KIT_RESOURCE: &str = "/api/invoice";

/// The longest owner Lightning address accepted.
const MAX_ADDRESS_CHARS: usize = 320;

pub(super) async fn invoice(
    State(inner): State<Shared>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    inner.rate_limit(&parts.headers, peer)?;
    let body = read_body(body).await?;
    let fields = Fields::parse(&body, &["amountSats", "ownerAddress"])?;
    let price = fields
        .integer("amountSats", 1, inner.max_price_sats)
        .map_err(|e| e.with_error("Invalid amountSats"))?;
    let owner = fields.opt_string("ownerAddress", MAX_ADDRESS_CHARS)?;
    let offer = Offer::new(KIT_RESOURCE, price).caveat(Caveat::merchant(&KIT_MERCHANT.to_string()));
    let issued = inner.kit_issuer.issue(&offer).await.map_err(|e| {
        ApiError::issue(&e).with_error("Lightning provider temporarily unavailable")
    })?;
    inner
        .record(record_of(&issued, KIT_MERCHANT, "kit", None, owner))
        .await?;
    Ok(json(
        StatusCode::OK,
        json!({
            "paymentRequest": issued.challenge.invoice,
            "paymentHash": issued.payment_hash.to_string(),
            "macaroon": issued.challenge.macaroon,
        }),
    ))
}

pub(super) async fn verify(
    State(inner): State<Shared>,
    request: Request,
) -> Result<Response, ApiError> {
    let body = read_body(request.into_body()).await?;
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

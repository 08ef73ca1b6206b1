//! Receiving by Lightning Address (LUD-16 over LUD-06's `payRequest`).
//!
//! - `GET /.well-known/lnurlp/{username}`: `{tag: "payRequest", callback,
//!   minSendable, maxSendable (msat), metadata}`, the metadata a JSON array
//!   text with `text/plain` and `text/identifier` (`username@host`).
//! - `GET /api/lnurlp/{username}/callback?amount=<msat>`: `{pr, routes: []}`,
//!   an invoice minted through the merchants' one issuing path
//!   ([`l402_server::Issuer`], the configured backend) whose description hash
//!   is `sha256(metadata)`, recorded as the merchant's challenge (API
//!   `lnaddress`) before it is answered. The invoice is decoded and checked
//!   (amount, description hash) before it is sent: a backend that cannot
//!   commit to a description hash answers 503, never a wrong invoice.
//! - `POST /api/admin/merchants/{id}/lightning-address` `{"username"}` binds
//!   a username to a merchant (LUD-16's characters: `a-z0-9-_.`).
//!
//! Errors are LUD-06's `{"status": "ERROR", "reason"}`, with the API's
//! `error`, `code` and `message` beside them, on a 4xx/5xx status.
//! The callback is rate limited per client as l402kit's `POST /api/invoice`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

use ::l402::Caveat;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use http::{HeaderMap, StatusCode};
use l402_server::Offer;
use l402_store::{MerchantStatus, StoreError};
use serde_json::json;

use crate::decode::Fields;
use crate::error::ApiError;
use crate::extract::Admin;
use crate::issue::record_of;
use crate::{Shared, json, read_body, sha256, store_unavailable};

/// The longest username accepted.
pub const MAX_USERNAME_CHARS: usize = 64;
/// The smallest amount a Lightning Address accepts, in millisatoshis.
pub const MIN_SENDABLE_MSAT: u64 = 1_000;

/// The routes of this module.
pub(crate) fn routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/.well-known/lnurlp/{username}", get(pay_request)),
        ("/api/lnurlp/{username}/callback", get(callback)),
        (
            "/api/admin/merchants/{id}/lightning-address",
            post(bind_username),
        ),
    ]
}

/// A LUD-16 username: `a-z0-9-_.`, 1 to [`MAX_USERNAME_CHARS`] characters.
///
/// ```
/// assert!(l402_producer::valid_username("alice-1.x_y"));
/// assert!(!l402_producer::valid_username("Alice"));
/// assert!(!l402_producer::valid_username(""));
/// assert!(!l402_producer::valid_username("a/b"));
/// ```
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USERNAME_CHARS
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'))
}

/// LUD-06's error shape, with the API's fields beside it.
pub(crate) fn lud06_error(e: &ApiError) -> Response {
    json(
        e.status,
        json!({
            "status": "ERROR",
            "reason": e.message,
            "error": e.message,
            "code": e.code,
            "message": e.message,
        }),
    )
}

/// The public base URL: the configured one, else `http://<Host>`.
fn base_url(inner: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = &inner.identity.public_url {
        return Ok(url.clone());
    }
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()) && !h.contains('/'))
        .map(|h| format!("http://{h}"))
        .ok_or_else(|| {
            ApiError::field(
                "missing_host",
                "Host",
                "no public URL is configured and the request has no usable Host header",
            )
        })
}

/// The metadata text of `username` at `base` (LUD-06: a JSON array as a
/// string; LUD-16: with `text/identifier`).
pub(crate) fn metadata(username: &str, base: &str) -> String {
    let host = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .trim_end_matches('/');
    let address = format!("{username}@{host}");
    json!([
        ["text/plain", format!("Payment to {address}")],
        ["text/identifier", address],
    ])
    .to_string()
}

/// The active merchant a username names, or 404/403/503.
async fn merchant_of(inner: &Shared, username: &str) -> Result<i64, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_username",
            "no Lightning Address with this username here",
        )
    };
    if !valid_username(username) {
        return Err(unknown());
    }
    let id = inner
        .store
        .username_merchant(username)
        .await
        .map_err(|e| store_unavailable(&e))?
        .ok_or_else(unknown)?;
    let merchant = inner
        .store
        .merchant(id)
        .await
        .map_err(|e| store_unavailable(&e))?
        .ok_or_else(unknown)?;
    if merchant.status != MerchantStatus::Active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "merchant_suspended",
            "this Lightning Address cannot receive payments now",
        ));
    }
    Ok(id)
}

fn max_sendable_msat(inner: &Shared) -> u64 {
    inner.max_price_sats.saturating_mul(1000)
}

async fn pay_request(
    State(inner): State<Shared>,
    username: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let Path(username) = username.map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_username",
                "no such username",
            )
        })?;
        merchant_of(&inner, &username).await?;
        let base = base_url(&inner, &headers)?;
        Ok::<_, ApiError>(json(
            StatusCode::OK,
            json!({
                "tag": "payRequest",
                "callback": format!("{base}/api/lnurlp/{username}/callback"),
                "minSendable": MIN_SENDABLE_MSAT,
                "maxSendable": max_sendable_msat(&inner),
                "metadata": metadata(&username, &base),
            }),
        ))
    };
    answer.await.unwrap_or_else(|e| lud06_error(&e))
}

/// The `amount` parameter (msat): whole sats within the sendable range.
fn amount_param(inner: &Shared, query: Option<&str>) -> Result<u64, ApiError> {
    let mut amount = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "amount" {
            if amount.is_some() {
                return Err(ApiError::field(
                    "duplicate_parameter",
                    "amount",
                    "amount is given more than once",
                ));
            }
            amount = Some(v);
        }
    }
    let max = max_sendable_msat(inner);
    let range = || {
        ApiError::field(
            "invalid_amount",
            "amount",
            format!(
                "amount must be whole sats in millisatoshis, from {MIN_SENDABLE_MSAT} to {max}"
            ),
        )
    };
    let text = amount
        .ok_or_else(|| ApiError::field("missing_field", "amount", "amount (msat) is required"))?;
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(range());
    }
    let msat = u64::from_str(text).map_err(|_| range())?;
    if !(MIN_SENDABLE_MSAT..=max).contains(&msat) || !msat.is_multiple_of(1000) {
        return Err(range());
    }
    Ok(msat)
}

async fn callback(
    State(inner): State<Shared>,
    username: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let answer = async {
        let Path(username) = username.map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_username",
                "no such username",
            )
        })?;
        let (parts, _) = request.into_parts();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        inner.rate_limit(&parts.headers, peer)?;
        let merchant_id = merchant_of(&inner, &username).await?;
        let msat = amount_param(&inner, query.as_deref())?;
        let base = base_url(&inner, &parts.headers)?;
        let metadata = metadata(&username, &base);
        let hash = sha256(metadata.as_bytes());
        let resource = format!("/.well-known/lnurlp/{username}");
        // The metadata itself, not only its hash: Core Lightning hashes it.
        let offer = Offer::new(resource, msat / 1000)
            .caveat(Caveat::merchant(&merchant_id.to_string()))
            .hashed_description(metadata);
        let issued = inner
            .issuer
            .issue(&offer)
            .await
            .map_err(|e| ApiError::issue(&e))?;
        // The backend's invoice is checked before anyone is asked to pay it.
        let invoice = ::l402::invoice::Invoice::from_str(&issued.challenge.invoice);
        let fits = invoice
            .as_ref()
            .is_ok_and(|i| i.description_hash() == Some(hash) && i.amount_msat() == Some(msat));
        if !fits {
            tracing::error!(
                backend = %inner.receiver.backend(),
                "lnaddress: the backend's invoice does not commit to the metadata hash"
            );
            return Err(ApiError::unavailable(
                "description_hash_unsupported",
                "the Lightning backend cannot create invoices for a Lightning Address",
            ));
        }
        inner
            .record(record_of(&issued, merchant_id, "lnaddress", None, None))
            .await?;
        Ok::<_, ApiError>(json(
            StatusCode::OK,
            json!({"pr": issued.challenge.invoice, "routes": []}),
        ))
    };
    answer.await.unwrap_or_else(|e| lud06_error(&e))
}

type Params = Result<Path<HashMap<String, String>>, PathRejection>;

fn merchant_param(params: &Params) -> Result<i64, ApiError> {
    let bad = || ApiError::field("invalid_field", "id", "id must be a merchant id (1, 2, 3…)");
    let Ok(Path(map)) = params else {
        return Err(bad());
    };
    map.get("id")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id >= 1)
        .ok_or_else(bad)
}

/// `POST /api/admin/merchants/{id}/lightning-address` `{"username"}`.
async fn bind_username(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let id = merchant_param(&params)?;
    let fields = Fields::parse(&read_body(request.into_body()).await?, &["username"])?;
    let username = fields.string("username", MAX_USERNAME_CHARS)?;
    if !valid_username(username) {
        return Err(ApiError::field(
            "invalid_field",
            "username",
            "username must be 1 to 64 of a-z, 0-9, '-', '_' and '.'",
        ));
    }
    inner
        .store
        .bind_username(username, id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            other => store_unavailable(&other),
        })?;
    let base = base_url(&inner, &headers)?;
    let host = base.split_once("://").map_or(base.as_str(), |(_, h)| h);
    Ok(json(
        StatusCode::CREATED,
        json!({
            "merchantId": id,
            "username": username,
            "address": format!("{username}@{host}"),
            "lnurlp": format!("{base}/.well-known/lnurlp/{username}"),
        }),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_the_address_and_is_a_json_array_text() {
        let text = metadata("alice", "https://pay.example.com");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[1][0], "text/identifier");
        assert_eq!(value[1][1], "alice@pay.example.com");
        assert_eq!(value[0][0], "text/plain");
    }
}

//! Webhooks in: payment notifications pushed by backends, each checked
//! against its sender's signature before anything is believed, then handed
//! to [`Producer::payment_settled`](crate::Producer::payment_settled) (the
//! payment recorded, `payment.received` queued, once per payment hash).
//!
//! - `POST /api/webhooks/in/phoenixd`: phoenixd's `X-Phoenix-Signature`
//!   (hex HMAC-SHA256 of the body under its `webhook-secret`), checked by
//!   l402-lightning's [`verified_webhook_event`].
//! - `POST /api/webhooks/in/blink` (and seed 004's `POST /api/blink-webhook`):
//!   Svix's `svix-id`, `svix-timestamp` (at most [`SVIX_TOLERANCE_SECS`]
//!   from now) and `svix-signature` (`v1,<base64 HMAC-SHA256(key,
//!   "<id>.<timestamp>.<body>")>`, space-separated, any one may match),
//!   the key being the base64 after `whsec_`; the payment hash is Blink's
//!   `initiationVia.paymentHash` (under `data` or `transaction`).
//!
//! Answers: 200 `{ok, known}` (`known:false`: not a challenge of this
//! server, nothing to retry); 401 `bad_signature`; 400 a body that is not
//! a notification; 404 `not_configured` when no secret is set for that
//! sender; 503 when the store fails (so the sender retries: unlike
//! l402kit's receiver, which answers 200 and loses the event).

use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode};
use l402_lightning::phoenixd::{PhoenixdEvent, verified_webhook_event};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::webhooks::Settled;
use crate::{Producer, Shared, json, read_body};

/// How far a Svix timestamp may be from now, in seconds.
pub const SVIX_TOLERANCE_SECS: u64 = 300;

/// Why a Svix secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundSecretError {
    /// Not `whsec_` followed by base64.
    #[error("a Svix webhook secret is whsec_ followed by base64")]
    Svix,
    /// Empty.
    #[error("a webhook secret must not be empty")]
    Empty,
}

/// Decodes a Svix secret (`whsec_<base64>`; the prefix may be left out).
pub(crate) fn svix_key(secret: &str) -> Result<Vec<u8>, InboundSecretError> {
    let text = secret.trim();
    let text = text.strip_prefix("whsec_").unwrap_or(text);
    let key = B64.decode(text).map_err(|_| InboundSecretError::Svix)?;
    if key.is_empty() {
        return Err(InboundSecretError::Empty);
    }
    Ok(key)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bad_signature(why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", why)
}

fn not_configured(sender: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_configured",
        format!("no {sender} webhook secret is configured on this server"),
    )
}

/// Checks Svix's headers over `body` with `key`.
pub(crate) fn check_svix(
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<(), ApiError> {
    let (Some(id), Some(ts), Some(signatures)) = (
        header(headers, "svix-id"),
        header(headers, "svix-timestamp"),
        header(headers, "svix-signature"),
    ) else {
        return Err(bad_signature(
            "svix-id, svix-timestamp and svix-signature are required",
        ));
    };
    let t: u64 = ts
        .trim()
        .parse()
        .map_err(|_| bad_signature("svix-timestamp is not unix seconds"))?;
    if t.abs_diff(now) > SVIX_TOLERANCE_SECS {
        return Err(bad_signature("svix-timestamp is too far from now"));
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).map_err(|_| bad_signature("unusable secret"))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let matched = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| B64.decode(s).ok())
        .any(|sig| bool::from(sig.as_slice().ct_eq(expected.as_slice())));
    if matched {
        Ok(())
    } else {
        Err(bad_signature("svix-signature does not sign this body"))
    }
}

/// Blink's payment hash: `initiationVia.paymentHash` under `data` or
/// `transaction`; `None` for a notification that is not a settled receive.
fn blink_payment_hash(body: &[u8]) -> Result<Option<String>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::field("malformed_json", "(body)", "the notification is not JSON"))?;
    for key in ["data", "transaction"] {
        let Some(tx) = value.get(key) else { continue };
        if tx
            .get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.eq_ignore_ascii_case("success"))
        {
            return Ok(None);
        }
        if let Some(hash) = tx
            .pointer("/initiationVia/paymentHash")
            .and_then(Value::as_str)
        {
            return Ok(Some(hash.to_ascii_lowercase()));
        }
    }
    Ok(None)
}

async fn settle(inner: &Shared, hash: Option<&str>) -> Result<Response, ApiError> {
    let Some(hash) = hash else {
        return Ok(json(StatusCode::OK, json!({"ok": true, "ignored": true})));
    };
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            "invalid_field",
            "paymentHash",
            "paymentHash must be 64 hex digits",
        ));
    }
    let producer = Producer {
        inner: inner.clone(),
    };
    match producer.payment_settled(hash).await {
        Ok(Settled::Unknown) => Ok(json(StatusCode::OK, json!({"ok": true, "known": false}))),
        Ok(_) => Ok(json(StatusCode::OK, json!({"ok": true, "known": true}))),
        Err(e) => Err(crate::store_unavailable(&e)),
    }
}

/// `POST /api/webhooks/in/phoenixd`.
pub(crate) async fn phoenixd(
    State(inner): State<Shared>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some(secret) = inner.webhooks.config.phoenixd_secret.clone() else {
        return Err(not_configured("phoenixd"));
    };
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let signature = header(&parts.headers, "x-phoenix-signature")
        .ok_or_else(|| bad_signature("X-Phoenix-Signature is required"))?;
    let event =
        verified_webhook_event(secret.as_bytes(), &body, signature).map_err(|e| match e {
            l402_lightning::phoenixd::WebhookError::BadBody(_) => ApiError::field(
                "malformed_json",
                "(body)",
                "the notification is not a phoenixd event",
            ),
            _ => bad_signature("X-Phoenix-Signature does not sign this body"),
        })?;
    let hash = match event {
        PhoenixdEvent::PaymentReceived { payment_hash, .. } => Some(payment_hash.to_string()),
        _ => None,
    };
    settle(&inner, hash.as_deref()).await
}

/// `POST /api/webhooks/in/blink`, `POST /api/blink-webhook`.
pub(crate) async fn blink(
    State(inner): State<Shared>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some(key) = inner.webhooks.config.svix_key.clone() else {
        return Err(not_configured("Blink (Svix)"));
    };
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    check_svix(&key, &parts.headers, &body, l402_server::unix_now())?;
    let hash = blink_payment_hash(&body)?;
    settle(&inner, hash.as_deref()).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn svix_secrets_and_timestamps() {
        assert_eq!(svix_key("whsec_AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(svix_key("AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(svix_key("whsec_!!"), Err(InboundSecretError::Svix));
        assert_eq!(svix_key("whsec_"), Err(InboundSecretError::Empty));
        let mut headers = HeaderMap::new();
        assert_eq!(
            check_svix(b"k", &headers, b"{}", 1000).unwrap_err().code,
            "bad_signature"
        );
        headers.insert("svix-id", "msg_1".parse().unwrap());
        headers.insert("svix-timestamp", "1000".parse().unwrap());
        headers.insert("svix-signature", "v1,AAAA".parse().unwrap());
        assert!(check_svix(b"k", &headers, b"{}", 1000).is_err());
        let e = check_svix(b"k", &headers, b"{}", 1000 + SVIX_TOLERANCE_SECS + 1).unwrap_err();
        assert!(e.message.contains("too far"), "{}", e.message);
    }

    #[test]
    fn blink_bodies() {
        let hash = "ab".repeat(32);
        let body = json!({"data": {"initiationVia": {"paymentHash": hash}}}).to_string();
        assert_eq!(
            blink_payment_hash(body.as_bytes()).unwrap(),
            Some(hash.clone())
        );
        let body =
            json!({"transaction": {"status": "pending", "initiationVia": {"paymentHash": hash}}})
                .to_string();
        assert_eq!(blink_payment_hash(body.as_bytes()).unwrap(), None);
        assert!(blink_payment_hash(b"nope").is_err());
    }
}

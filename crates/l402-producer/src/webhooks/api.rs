//! The merchant's webhook routes (`X-API-Key` or an LNURL-auth session):
//!
//! - `POST /api/webhooks` `{"url", "events"?}` → 201 `{id, url, events,
//!   secret, createdAt}`: the secret is in this answer and nowhere else.
//! - `GET /api/webhooks` → `{webhooks: [{id, url, events, createdAt}]}`.
//! - `DELETE /api/webhooks/{id}` → `{ok, id}` (its pending deliveries end `failed`).
//! - `GET /api/webhooks/deliveries?limit=` → the delivery log, newest first.
//! - `POST /api/webhooks/test` `{"endpointId"?}` → 202: a `webhook.test`
//!   event for that endpoint, or for each.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::StatusCode;
use l402_store::{DeliveryInfo, Enqueued, WebhookEndpoint};
use serde_json::{Value, json};

use super::{EventKind, MAX_ENDPOINTS_PER_MERCHANT};
use crate::decode::Fields;
use crate::error::ApiError;
use crate::extract::Merchant;
use crate::{Shared, json, read_body, store_unavailable};

/// The most log lines one request returns.
const MAX_LIMIT: u64 = 200;

fn rfc3339_ms(ms: u64) -> String {
    l402_server::rfc3339(ms / 1000)
}

fn endpoint_json(e: &WebhookEndpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "createdAt": l402_server::rfc3339(e.created_at),
    })
}

fn delivery_json(d: &DeliveryInfo) -> Value {
    json!({
        "id": d.id,
        "eventId": d.event_id,
        "type": d.kind,
        "endpointId": d.endpoint_id,
        "state": d.state,
        "attempts": d.attempts,
        "nextAttemptAt": (d.state == "pending").then(|| rfc3339_ms(d.next_attempt_ms)),
        "lastStatus": d.last_status,
        "lastError": d.last_error,
        "createdAt": rfc3339_ms(d.created_at_ms),
        "finishedAt": d.finished_at_ms.map(rfc3339_ms),
    })
}

/// The event types asked for (all subscribable ones when absent).
fn events(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let bad = |m: String| ApiError::field("invalid_field", "events", m);
    let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let list = match value.get("events") {
        None | Some(Value::Null) => return Ok(names.iter().map(|s| (*s).to_owned()).collect()),
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(_) => return Err(bad("events must be a non-empty array of event types".into())),
    };
    let mut out: Vec<String> = Vec::new();
    for item in list {
        let Some(name) = item.as_str().filter(|n| names.contains(n)) else {
            return Err(bad(format!("events may hold only {}", names.join(", "))));
        };
        if !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// `POST /api/webhooks`.
pub(crate) async fn create(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
    request: Request,
) -> Result<Response, ApiError> {
    let body = read_body(request.into_body()).await?;
    let fields = Fields::parse(&body, &["url", "events"])?;
    let url = fields.string("url", super::target::MAX_URL_CHARS)?;
    let url = super::target::check_url(url, inner.webhooks.config.allow_private)
        .map_err(|e| ApiError::field("invalid_url", "url", e.message("url")))?;
    let events = events(&body)?;
    let nonce = inner
        .webhooks
        .new_nonce()
        .map_err(|e| store_unavailable(&e))?;
    let Some(secret) = inner.webhooks.secret(&nonce) else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_signing_key",
            "the server cannot derive a signing secret",
        ));
    };
    let mut id = [0u8; 8];
    getrandom::getrandom(&mut id)
        .map_err(|e| store_unavailable(&l402_store::StoreError::Random(e.to_string())))?;
    let endpoint = WebhookEndpoint {
        id: format!("we_{}", hex::encode(id)),
        merchant_id: who.merchant.id,
        url: url.to_string(),
        events,
        secret_nonce: nonce,
        created_at: l402_server::unix_now(),
    };
    let added = inner
        .store
        .add_endpoint(&endpoint, MAX_ENDPOINTS_PER_MERCHANT)
        .await
        .map_err(|e| store_unavailable(&e))?;
    if !added {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_endpoints",
            format!(
                "a merchant may register at most {MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints; delete one first"
            ),
        ));
    }
    tracing::info!(merchant_id = who.merchant.id, endpoint = %endpoint.id, "webhooks: endpoint registered");
    let mut answer = endpoint_json(&endpoint);
    answer["secret"] = json!(secret);
    Ok(json(StatusCode::CREATED, answer))
}

/// `GET /api/webhooks`.
pub(crate) async fn list(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
) -> Result<Response, ApiError> {
    let endpoints = inner
        .store
        .endpoints(who.merchant.id)
        .await
        .map_err(|e| store_unavailable(&e))?;
    let list: Vec<Value> = endpoints.iter().map(endpoint_json).collect();
    Ok(json(StatusCode::OK, json!({"webhooks": list})))
}

/// `DELETE /api/webhooks/{id}`.
pub(crate) async fn remove(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Ok(Path(id)) = id else {
        return Err(ApiError::field(
            "invalid_field",
            "id",
            "id must be a webhook id (we_…)",
        ));
    };
    let deleted = inner
        .store
        .delete_endpoint(who.merchant.id, &id)
        .await
        .map_err(|e| store_unavailable(&e))?;
    if !deleted {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this merchant has no such webhook endpoint",
        ));
    }
    Ok(json(StatusCode::OK, json!({"ok": true, "id": id})))
}

/// `GET /api/webhooks/deliveries?limit=`.
pub(crate) async fn deliveries(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut limit = 50;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("limit", v)) => {
                limit = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::field(
                            "invalid_field",
                            "limit",
                            format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })?;
            }
            _ => {
                return Err(ApiError::field(
                    "unknown_parameter",
                    "(query)",
                    "the only query parameter is limit",
                ));
            }
        }
    }
    let log = inner
        .store
        .deliveries(who.merchant.id, u32::try_from(limit).unwrap_or(50))
        .await
        .map_err(|e| store_unavailable(&e))?;
    let list: Vec<Value> = log.iter().map(delivery_json).collect();
    Ok(json(StatusCode::OK, json!({"deliveries": list})))
}

/// `POST /api/webhooks/test`.
pub(crate) async fn test(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
    request: Request,
) -> Result<Response, ApiError> {
    let body = read_body(request.into_body()).await?;
    let wanted = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Fields::parse(&body, &["endpointId"])?
            .opt_string("endpointId", 64)?
            .map(str::to_owned)
    };
    let endpoints = inner
        .store
        .endpoints(who.merchant.id)
        .await
        .map_err(|e| store_unavailable(&e))?;
    let targets: Vec<&WebhookEndpoint> = endpoints
        .iter()
        .filter(|e| wanted.as_deref().is_none_or(|w| w == e.id))
        .collect();
    if targets.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            match wanted {
                Some(_) => "this merchant has no such webhook endpoint",
                None => "this merchant has no webhook endpoints; register one first",
            },
        ));
    }
    let mut sent = Vec::new();
    for endpoint in targets {
        let mut subject = [0u8; 16];
        getrandom::getrandom(&mut subject)
            .map_err(|e| store_unavailable(&l402_store::StoreError::Random(e.to_string())))?;
        let data = json!({"message": "a test event from l402", "endpointId": endpoint.id});
        let (event_id, done) = inner
            .emit(
                who.merchant.id,
                EventKind::Test,
                &hex::encode(subject),
                data,
                Some(&endpoint.id),
            )
            .await
            .map_err(|e| store_unavailable(&e))?;
        let queued = matches!(done, Enqueued::New { queued: 1.., .. });
        sent.push(json!({"eventId": event_id, "endpointId": endpoint.id, "queued": queued}));
    }
    Ok(json(
        StatusCode::ACCEPTED,
        json!({"ok": true, "events": sent}),
    ))
}

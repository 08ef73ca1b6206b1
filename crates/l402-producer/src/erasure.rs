//! Who is asking (an API key or an LNURL-auth session), linking keys to
//! merchants (admin), and `POST /api/delete-data`: erasure of exactly the
//! records of the identity that authenticated.
//!
//! With an `X-API-Key`: the merchant's payments, challenges, idempotency
//! claims and counters (the merchant and its keys stay, so it can go on
//! selling). With a session (`Authorization: Bearer l402s_…`): the same for
//! the merchant its key is linked to, if any, plus the key's sessions
//! (including the one presented) and its link; l402kit's body `{lightningAddress,
//! token}` is accepted too, its `token` a session token when no credential
//! header is sent. Nothing of any other merchant or key: unlike l402kit's,
//! the address in the body is ignored, so no one can erase someone else's
//! data. The log line carries
//! counts and the merchant id only, never the key or a token.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use http::request::Parts;
use l402_store::{Authenticated, MerchantStatus, Session, StoreError};
use serde_json::json;

use crate::decode::Fields;
use crate::error::ApiError;
use crate::extract::Admin;
use crate::lnurl_auth::{presented_session, session};
use crate::{Shared, json, read_body, store_unavailable};

/// The merchant a session acts for: 403 when its key is linked to none, or
/// the merchant is suspended.
pub(crate) fn session_merchant(session: &Session) -> Result<Authenticated, ApiError> {
    let Some(merchant) = session.merchant.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "key_not_linked",
            "this linking key is not linked to a merchant (ask the operator to link it)",
        ));
    };
    if merchant.status != MerchantStatus::Active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "merchant_suspended",
            format!("merchant {} is suspended", merchant.id),
        ));
    }
    Ok(Authenticated {
        merchant,
        key_id: "session".to_owned(),
    })
}

/// Who authenticated: a merchant's API key, or an LNURL-auth session.
pub(crate) enum Identity {
    /// `X-API-Key`.
    ApiKey(Authenticated),
    /// `Authorization: Bearer l402s_…`.
    Session(Session),
}

impl FromRequestParts<Shared> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        if let Some(who) = crate::extract::acting(parts) {
            return who.map(Identity::ApiKey);
        }
        if !parts.headers.contains_key("x-api-key")
            && let Some(token) = presented_session(&parts.headers)
        {
            return session(state, token).await.map(Identity::Session);
        }
        state.merchant(&parts.headers).await.map(Identity::ApiKey)
    }
}

/// The longest session token accepted in a body.
const MAX_BODY_TOKEN_CHARS: usize = 200;

/// The identity of a request with no credential header: l402kit's body
/// `{lightningAddress, token}` (platform.md), where `token` is an LNURL-auth
/// session token. The address is ignored (the session says whose data goes).
async fn body_session(inner: &Shared, request: Request) -> Result<Option<Identity>, ApiError> {
    let body = read_body(request.into_body()).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let fields = Fields::parse(&body, &["lightningAddress", "token"])?;
    match fields.opt_string("token", MAX_BODY_TOKEN_CHARS)? {
        Some(token) => Ok(Some(Identity::Session(session(inner, token.trim()).await?))),
        None => Ok(None),
    }
}

/// `POST /api/delete-data`: the identity from `X-API-Key` or
/// `Authorization: Bearer`, else from l402kit's body `token`.
pub(crate) async fn delete_data(
    State(inner): State<Shared>,
    identity: Result<Identity, ApiError>,
    request: Request,
) -> Result<Response, ApiError> {
    let presented = request.headers().contains_key("x-api-key")
        || request.headers().contains_key(http::header::AUTHORIZATION);
    let identity = match identity {
        Ok(identity) => identity,
        // A credential header that does not authenticate is refused as it
        // is; only a request with none may name its session in the body.
        Err(refused) if presented => return Err(refused),
        Err(refused) => body_session(&inner, request).await?.ok_or(refused)?,
    };
    let (merchant_id, key, kind) = match &identity {
        Identity::ApiKey(who) => (Some(who.merchant.id), None, "api_key"),
        Identity::Session(s) => (
            s.merchant.as_ref().map(|m| m.id),
            Some(s.linking_key.as_str()),
            "session",
        ),
    };
    let erased = inner
        .store
        .erase(merchant_id, key)
        .await
        .map_err(|e| store_unavailable(&e))?;
    // The merchant's webhook events and delivery log name its payments too
    // (its endpoints, like its API keys, stay).
    let deliveries = match merchant_id {
        Some(m) => inner
            .store
            .erase_webhooks(m)
            .await
            .map_err(|e| store_unavailable(&e))?,
        None => 0,
    };
    // Cached API keys of this merchant stay valid (keys are not erased);
    // nothing personal is logged.
    tracing::info!(
        identity = kind,
        merchant_id,
        payments = erased.payments,
        challenges = erased.challenges,
        sessions = erased.sessions,
        webhook_deliveries = deliveries,
        "delete-data: erased the records of the identity that asked"
    );
    Ok(json(
        StatusCode::OK,
        json!({
            "ok": true,
            "paymentsDeleted": erased.payments,
            "proDeleted": 0,
            "challengesDeleted": erased.challenges,
            "sessionsDeleted": erased.sessions,
            "linkingKeysDeleted": erased.linking_keys,
            "webhookDeliveriesDeleted": deliveries,
        }),
    ))
}

type Params = Result<Path<HashMap<String, String>>, PathRejection>;

fn merchant_id(params: &Params) -> Result<i64, ApiError> {
    let bad = || ApiError::field("invalid_field", "id", "id must be a merchant id (1, 2, 3…)");
    let Ok(Path(map)) = params else {
        return Err(bad());
    };
    map.get("id")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id >= 1)
        .ok_or_else(bad)
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(what) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        ),
        other => store_unavailable(&other),
    }
}

/// `POST /api/admin/merchants/{id}/linking-keys` `{"key": "<66 hex>"}`:
/// the key's sessions act for this merchant (a key links to one merchant;
/// linking it again moves it).
pub(crate) async fn link_key(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let id = merchant_id(&params)?;
    let fields = Fields::parse(&read_body(request.into_body()).await?, &["key"])?;
    let key = crate::parse_linking_key(fields.string("key", 66)?).ok_or_else(|| {
        ApiError::field(
            "invalid_field",
            "key",
            "key must be a 33-byte compressed secp256k1 public key in hex",
        )
    })?;
    inner.store.link_key(&key, id).await.map_err(not_found)?;
    Ok(json(
        StatusCode::CREATED,
        json!({"merchantId": id, "key": key}),
    ))
}

/// `GET /api/admin/merchants/{id}/linking-keys`.
pub(crate) async fn linked_keys(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
) -> Result<Response, ApiError> {
    let id = merchant_id(&params)?;
    if inner.store.merchant(id).await.map_err(not_found)?.is_none() {
        return Err(not_found(StoreError::NotFound(format!("merchant {id}"))));
    }
    let keys = inner.store.linked_keys(id).await.map_err(not_found)?;
    Ok(json(
        StatusCode::OK,
        json!({"merchantId": id, "keys": keys}),
    ))
}

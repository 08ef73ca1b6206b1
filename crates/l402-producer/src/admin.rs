//! The admin API: merchants, API keys (shown once) and stats, behind
//! `Authorization: Bearer <admin token>`.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use l402_store::{ApiKeyInfo, Merchant, MerchantStatus, Stats, StoreError};
use serde_json::{Value, json};

use super::decode::Fields;
use super::error::ApiError;
use super::extract::Admin;
use super::{Inner, Shared, json, read_body, store_unavailable};

const MAX_NAME_CHARS: usize = 200;

type Params = Result<Path<HashMap<String, String>>, PathRejection>;

fn store(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(what) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        ),
        other => store_unavailable(&other),
    }
}

pub(crate) fn merchant_json(m: &Merchant) -> Value {
    json!({
        "id": m.id,
        "name": m.name,
        "status": m.status.as_str(),
        "createdAt": l402_server::rfc3339(m.created_at),
    })
}

fn key_json(k: &ApiKeyInfo) -> Value {
    json!({
        "id": k.id,
        "merchantId": k.merchant_id,
        "label": k.label,
        "createdAt": l402_server::rfc3339(k.created_at),
        "revokedAt": k.revoked_at.map(l402_server::rfc3339),
    })
}

pub(crate) fn stats_json(s: &Stats) -> Value {
    json!({
        "challenges": s.challenges,
        "challengedSats": s.challenged_sats,
        "payments": s.payments,
        "paidSats": s.paid_sats,
        "verifications": {"valid": s.verifications_valid, "invalid": s.verifications_invalid},
    })
}

fn param_id(params: &Params) -> Result<i64, ApiError> {
    let bad = || ApiError::field("invalid_field", "id", "id must be a merchant id (1, 2, 3…)");
    let Ok(Path(map)) = params else {
        return Err(bad());
    };
    map.get("id")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id >= 1)
        .ok_or_else(bad)
}

async fn known_merchant(inner: &Inner, id: i64) -> Result<Merchant, ApiError> {
    inner
        .store
        .merchant(id)
        .await
        .map_err(store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("merchant {id} not found"),
            )
        })
}

/// An optional JSON body: empty means `{}`.
async fn optional_fields(body: axum::body::Body, allowed: &[&str]) -> Result<Fields, ApiError> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Fields::parse(b"{}", allowed);
    }
    Fields::parse(&bytes, allowed)
}

pub(super) async fn list_merchants(
    State(inner): State<Shared>,
    _: Admin,
) -> Result<Response, ApiError> {
    let merchants = inner.store.merchants().await.map_err(store)?;
    Ok(json(
        StatusCode::OK,
        json!({"merchants": merchants.iter().map(merchant_json).collect::<Vec<_>>()}),
    ))
}

pub(super) async fn create_merchant(
    State(inner): State<Shared>,
    _: Admin,
    request: Request,
) -> Result<Response, ApiError> {
    let body = request.into_body();
    let fields = Fields::parse(&read_body(body).await?, &["name"])?;
    let name = fields.string("name", MAX_NAME_CHARS)?;
    let merchant = inner.store.create_merchant(name).await.map_err(store)?;
    Ok(json(StatusCode::CREATED, merchant_json(&merchant)))
}

pub(super) async fn set_status(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let body = request.into_body();
    let id = param_id(&params)?;
    let fields = Fields::parse(&read_body(body).await?, &["status"])?;
    let status = match fields.string("status", 32)? {
        "active" => MerchantStatus::Active,
        "suspended" => MerchantStatus::Suspended,
        other => {
            return Err(ApiError::field(
                "invalid_field",
                "status",
                format!("status must be \"active\" or \"suspended\", not {other:?}"),
            ));
        }
    };
    let merchant = inner
        .store
        .set_merchant_status(id, status)
        .await
        .map_err(store)?;
    inner.forget_keys();
    Ok(json(StatusCode::OK, merchant_json(&merchant)))
}

pub(super) async fn list_keys(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
) -> Result<Response, ApiError> {
    let id = param_id(&params)?;
    known_merchant(&inner, id).await?;
    let keys = inner.store.api_keys(id).await.map_err(store)?;
    Ok(json(
        StatusCode::OK,
        json!({"keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

pub(super) async fn create_key(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let body = request.into_body();
    let id = param_id(&params)?;
    let fields = optional_fields(body, &["label"]).await?;
    let label = fields.opt_string("label", MAX_NAME_CHARS)?;
    known_merchant(&inner, id).await?;
    let created = inner.store.create_api_key(id, label).await.map_err(store)?;
    let mut body = key_json(&created.info);
    body["key"] = json!(created.key.expose());
    Ok(json(StatusCode::CREATED, body))
}

pub(super) async fn revoke_key(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
) -> Result<Response, ApiError> {
    let id = param_id(&params)?;
    let key_id = match &params {
        Ok(Path(map)) => map.get("key_id").cloned().unwrap_or_default(),
        Err(_) => String::new(),
    };
    let revoked = inner
        .store
        .revoke_api_key(id, &key_id)
        .await
        .map_err(store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("merchant {id} has no key {key_id:?}"),
            )
        })?;
    inner.forget_keys();
    Ok(json(StatusCode::OK, key_json(&revoked)))
}

pub(super) async fn stats(State(inner): State<Shared>, _: Admin) -> Result<Response, ApiError> {
    if let Err(e) = inner.flush().await {
        tracing::warn!(error = %e, "producer: cannot write verification counts");
    }
    let totals = inner.store.stats(None).await.map_err(store)?;
    let by = inner.store.stats_by_merchant().await.map_err(store)?;
    let by: Vec<Value> = by
        .iter()
        .map(|(id, s)| {
            let mut v = stats_json(s);
            v["merchantId"] = json!(id);
            v
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({"totals": stats_json(&totals), "byMerchant": by}),
    ))
}

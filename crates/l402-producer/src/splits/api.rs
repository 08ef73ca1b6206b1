//! The splits' routes: l402kit's `POST /api/split` (secret header), and the
//! admin's owner addresses and payout list.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use http::{HeaderMap, StatusCode};
use l402_store::{Credited, Payout, StoreError};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::lnurl::{LightningAddress, MAX_ADDRESS_CHARS};
use crate::decode::Fields;
use crate::error::ApiError;
use crate::extract::Admin;
use crate::{Shared, json, read_body, sha256, store_unavailable};

/// The most payouts `GET /api/admin/payouts` lists.
const LISTED_PAYOUTS: u32 = 100;

pub(crate) fn routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/api/split", post(split)),
        (
            "/api/admin/merchants/{id}/owner-address",
            post(set_owner_address),
        ),
        ("/api/admin/payouts", get(list_payouts)),
    ]
}

fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "splits_disabled",
        "splits are not configured on this server",
    )
}

fn address(fields: &Fields, name: &str) -> Result<Option<String>, ApiError> {
    fields
        .opt_string(name, MAX_ADDRESS_CHARS)?
        .map(|text| {
            text.parse::<LightningAddress>()
                .map(|a| a.to_string())
                .map_err(|e| ApiError::field("invalid_field", name, e.to_string()))
        })
        .transpose()
}

fn check_secret(inner: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = inner
        .splits
        .as_ref()
        .ok_or_else(disabled)?
        .config
        .secret_hash
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "split_secret_unset",
                "no split secret is configured: manual splits are off",
            )
        })?;
    let presented = headers
        .get("x-split-secret")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized("missing x-split-secret header").field_named("x-split-secret")
        })?;
    if bool::from(sha256(presented.as_bytes()).ct_eq(&expected)) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("invalid split secret").field_named("x-split-secret"))
    }
}

/// `POST /api/split` `{amountSats, ownerAddress}` with `x-split-secret`:
/// `{ok, ownerSats, payoutId}`, or `{ok, skipped: true, accruedSats}` below
/// the minimum.
async fn split(
    State(inner): State<Shared>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    check_secret(&inner, &headers)?;
    let fields = Fields::parse(
        &read_body(request.into_body()).await?,
        &["amountSats", "ownerAddress"],
    )?;
    let sats = fields.integer("amountSats", 1, inner.max_price_sats)?;
    let owner = address(&fields, "ownerAddress")?.ok_or_else(|| {
        ApiError::field("missing_field", "ownerAddress", "ownerAddress is required")
    })?;
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_randomness",
            "no randomness",
        )
    })?;
    let source = format!("manual:{}", hex::encode(id));
    let (owner_sats, credited) = inner
        .credit(&source, &owner, sats)
        .await
        .map_err(|e| store_unavailable(&e))?;
    let body = match credited {
        Credited::Queued {
            payout_id,
            amount_sats,
        } => {
            json!({"ok": true, "ownerSats": owner_sats, "payoutId": payout_id, "payoutSats": amount_sats})
        }
        Credited::Accrued { accrued_sats } => {
            json!({"ok": true, "skipped": true, "ownerSats": owner_sats, "accruedSats": accrued_sats})
        }
        Credited::Full => {
            return Err(ApiError::unavailable(
                "too_many_owners",
                "too many owner addresses have accrued splits; try later",
            ));
        }
        Credited::Duplicate => json!({"ok": true, "skipped": true, "ownerSats": 0}),
    };
    Ok(json(StatusCode::OK, body))
}

type Params = Result<Path<HashMap<String, String>>, PathRejection>;

/// `POST /api/admin/merchants/{id}/owner-address` `{"ownerAddress": "a@b" | null}`.
async fn set_owner_address(
    State(inner): State<Shared>,
    _: Admin,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let bad = || ApiError::field("invalid_field", "id", "id must be a merchant id (1, 2, 3…)");
    let id = match &params {
        Ok(Path(map)) => map
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|id| *id >= 1)
            .ok_or_else(bad)?,
        Err(_) => return Err(bad()),
    };
    let fields = Fields::parse(&read_body(request.into_body()).await?, &["ownerAddress"])?;
    let owner = address(&fields, "ownerAddress")?;
    inner
        .store
        .set_owner_address(id, owner.as_deref())
        .await
        .map_err(|e| match e {
            StoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            other => store_unavailable(&other),
        })?;
    Ok(json(
        StatusCode::OK,
        json!({"merchantId": id, "ownerAddress": owner}),
    ))
}

pub(crate) fn payout_json(p: &Payout) -> Value {
    json!({
        "id": p.id,
        "ownerAddress": p.owner_address,
        "amountSats": p.amount_sats,
        "state": p.state.as_str(),
        "paymentHash": p.payment_hash,
        "feeMsat": p.fee_msat,
        "attempts": p.attempts,
        "lastError": p.last_error,
        "createdAt": l402_server::rfc3339(p.created_at),
    })
}

/// `GET /api/admin/payouts`: the newest 100.
async fn list_payouts(State(inner): State<Shared>, _: Admin) -> Result<Response, ApiError> {
    let payouts = inner
        .store
        .payouts(LISTED_PAYOUTS)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(json(
        StatusCode::OK,
        json!({"payouts": payouts.iter().map(payout_json).collect::<Vec<_>>()}),
    ))
}

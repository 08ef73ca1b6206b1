//! l402kit's dashboard numbers: `GET /api/stats` for the merchant that
//! authenticated (API key or LNURL-auth session) and the public
//! `GET /api/global-stats`, read from the store's per-day rollup
//! ([`StatsStore`](l402_store::StatsStore)): a handful of indexed rows
//! however many payments there are.
//!
//! Days are UTC. `byDay` covers the last [`BY_DAY_DAYS`] days (today
//! included); `trend` compares the last 7 days (today and the 6 before)
//! with the 7 before those. `recent` holds the 20 newest payments (`id` is
//! the payment hash). `fee` (and l402kit's `shinydappsFee`) is the operator
//! fee, 0: this server keeps none. l402kit's `walletSats`/`walletUsdCents`
//! are not given (no wallet balance is read).

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::extract::Merchant;
use crate::{Shared, json, store_unavailable};

/// Days `byDay` covers.
pub const BY_DAY_DAYS: u64 = 30;
const RECENT: u32 = 20;

fn day_text(day: u64) -> String {
    l402_server::rfc3339(day.saturating_mul(86_400))[..10].to_owned()
}

/// One of `/api/stats`'s `recent` payments, in l402kit's shape (the
/// dashboard's live list uses the same).
pub fn recent_payment(p: &l402_store::RecentPayment) -> Value {
    json!({
        "id": p.payment_hash,
        "endpoint": p.resource,
        "payment_hash": p.payment_hash,
        "amount_sats": p.amount_sats,
        "owner_address": p.owner_address,
        "paid_at": l402_server::rfc3339(p.verified_at),
    })
}

/// `GET /api/stats`.
pub(crate) async fn stats(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
) -> Result<Response, ApiError> {
    let today = l402_server::unix_now() / 86_400;
    let since = today.saturating_sub(BY_DAY_DAYS - 1);
    let a = inner
        .store
        .activity(who.merchant.id, since, RECENT)
        .await
        .map_err(|e| store_unavailable(&e))?;
    let mut by_owner = Map::new();
    for o in &a.by_owner {
        by_owner.insert(
            o.owner.clone(),
            json!({"count": o.payments, "sats": o.sats}),
        );
    }
    let mut by_day = Map::new();
    let (mut p7, mut s7, mut p7prev, mut s7prev) = (0u64, 0u64, 0u64, 0u64);
    for d in &a.by_day {
        by_day.insert(
            day_text(d.day),
            json!({"count": d.payments, "sats": d.sats}),
        );
        let age = today.saturating_sub(d.day);
        if age < 7 {
            p7 += d.payments;
            s7 += d.sats;
        } else if age < 14 {
            p7prev += d.payments;
            s7prev += d.sats;
        }
    }
    let recent: Vec<Value> = a.recent.iter().map(recent_payment).collect();
    Ok(json(
        StatusCode::OK,
        json!({
            "merchantId": who.merchant.id,
            "totalPayments": a.payments,
            "totalSats": a.sats,
            "fee": 0,
            "shinydappsFee": 0,
            "byOwner": by_owner,
            "byDay": by_day,
            "trend": {
                "payments7d": p7,
                "payments7dPrev": p7prev,
                "sats7d": s7,
                "sats7dPrev": s7prev,
            },
            "recent": recent,
        }),
    ))
}

/// `GET /api/global-stats`: public totals, cacheable for a minute.
pub(crate) async fn global(State(inner): State<Shared>) -> Result<Response, ApiError> {
    let (count, sats) = inner
        .store
        .global_totals()
        .await
        .map_err(|e| store_unavailable(&e))?;
    let mut response = json(StatusCode::OK, json!({"count": count, "totalSats": sats}));
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

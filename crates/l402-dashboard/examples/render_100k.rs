//! Page weight and first render: seeds a SQLite store with 100,000
//! payments over a year (20 routes; `L402_EXAMPLE_PAYMENTS` for another
//! count) and a challenge for each (plus one unpaid per four), signs the operator in, and prints the
//! bytes of each page (HTML + CSS + JS it loads) and the time to render the
//! overview for each range, the payments table and the CSV export.
//!
//! `cargo run --release -p l402-dashboard --example render_100k`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use http::Request;
use l402::Keyring;
use l402_dashboard::{ASSETS, Dashboard};
use l402_lightning::dev::DevNode;
use l402_producer::Producer;
use l402_store::{StatsStore, Store};
use tower::ServiceExt;

/// Payments seeded unless `L402_EXAMPLE_PAYMENTS` says otherwise.
const PAYMENTS: u64 = 100_000;
const ADMIN: &str = "an admin token for the example";

async fn call(
    router: &axum::Router,
    req: Request<Body>,
) -> (http::StatusCode, http::HeaderMap, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn cookie(headers: &http::HeaderMap, name: &str) -> String {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(name))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let payments: u64 = std::env::var("L402_EXAMPLE_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PAYMENTS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = Arc::new(Store::sqlite(&path).await.unwrap());
    let started = Instant::now();
    {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        let now = l402_server::unix_now();
        // A challenge per payment, and one unpaid for every four paid (a
        // success rate of 80%).
        for i in 0..payments + payments / 4 {
            sqlx::query("INSERT INTO challenges (payment_hash, merchant_id, api, resource, amount_sats, invoice, macaroon, expires_at, created_at) VALUES ($1, 0, 'l402kit', $2, $3, 'lnbc', 'mac', $4, $5)")
                .bind(format!("{i:064x}"))
                .bind(format!("/api/route/{}", i % 20))
                .bind(i64::try_from(1 + i % 100).unwrap())
                .bind(i64::try_from(now - (i * 315) % (365 * 86_400) + 600).unwrap())
                .bind(i64::try_from(now - (i * 315) % (365 * 86_400)).unwrap())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for i in 0..payments {
            sqlx::query("INSERT INTO payments (payment_hash, merchant_id, resource, amount_sats, verified_at) VALUES ($1, 0, $2, $3, $4)")
                .bind(format!("{i:064x}"))
                .bind(format!("/api/route/{}", i % 20))
                .bind(i64::try_from(1 + i % 100).unwrap())
                .bind(i64::try_from(now - (i * 315) % (365 * 86_400)).unwrap())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        pool.close().await;
    }
    store.rebuild_payment_rollup().await.unwrap();
    println!(
        "seeded {payments} payments and {} challenges in {:?}",
        payments + payments / 4,
        started.elapsed()
    );

    let node = DevNode::builder().in_memory().open().await.unwrap();
    let receiver = Arc::new(node.wallet("merchant").await.unwrap());
    let producer = Producer::builder(store.clone(), receiver, Keyring::new(1, [7; 32]))
        .admin_token(ADMIN)
        .build();
    let router = Dashboard::builder(producer, store)
        .admin_token(ADMIN)
        .build()
        .router();

    let (_, headers, html) = call(
        &router,
        Request::get("/dashboard/login")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let pre = cookie(&headers, "l402_dashboard_login");
    let csrf = pre.split('=').nth(1).unwrap().to_owned();
    let css: usize = ASSETS
        .iter()
        .filter(|a| a.0.ends_with(".css"))
        .map(|a| a.2.len())
        .sum();
    let js = |name: &str| ASSETS.iter().find(|a| a.0 == name).map_or(0, |a| a.2.len());
    println!(
        "login: {} B HTML + {css} B CSS = {} B",
        html.len(),
        html.len() + css
    );
    let form = format!("csrf={csrf}&secret={}", ADMIN.replace(' ', "+"));
    let (status, headers, _) = call(
        &router,
        Request::post("/dashboard/login")
            .header("cookie", &pre)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 303);
    let session = cookie(&headers, "l402_dashboard=");
    let get = |uri: &str| {
        Request::get(uri)
            .header("cookie", &session)
            .body(Body::empty())
            .unwrap()
    };
    for range in ["1d", "7d", "30d", "1y", "all"] {
        let t = Instant::now();
        let (status, _, html) = call(&router, get(&format!("/dashboard?range={range}"))).await;
        let took = t.elapsed();
        assert_eq!(status, 200);
        println!(
            "overview {range}: {took:?}; {} B HTML + {css} B CSS + {} B JS = {} B",
            html.len(),
            js("live.js"),
            html.len() + css + js("live.js")
        );
    }
    // The CSV streams: its first bytes come long before its last.
    {
        use futures_util::StreamExt;
        let t = Instant::now();
        let resp = router
            .clone()
            .oneshot(get("/dashboard/payments.csv"))
            .await
            .unwrap();
        let mut body = resp.into_body().into_data_stream();
        let first = body.next().await.unwrap().unwrap().len();
        let to_first = t.elapsed();
        let mut bytes = first;
        while let Some(chunk) = body.next().await {
            bytes += chunk.unwrap().len();
        }
        println!(
            "payments.csv streamed: first {first} B after {to_first:?}, all {bytes} B after {:?}",
            t.elapsed()
        );
    }
    for (name, uri, script) in [
        ("payments", "/dashboard/payments", ""),
        (
            "payments filtered",
            "/dashboard/payments?route=%2Fapi%2Froute%2F7&state=paid",
            "",
        ),
        ("keys", "/dashboard/keys", ""),
        ("routes", "/dashboard/routes", ""),
        ("webhooks (merchant 0)", "/dashboard/webhooks", ""),
        ("directory", "/dashboard/directory", ""),
        ("danger zone (merchant 0)", "/dashboard/danger", ""),
        ("recent.json", "/dashboard/recent.json", ""),
        ("payments.csv (all rows)", "/dashboard/payments.csv", ""),
    ] {
        let t = Instant::now();
        let (status, _, body) = call(&router, get(uri)).await;
        let took = t.elapsed();
        let extra = if uri.ends_with(".csv") || uri.ends_with(".json") {
            0
        } else {
            css + js(script)
        };
        println!(
            "{name}: {status} in {took:?}; {} B (+{extra} B assets)",
            body.len()
        );
    }
}

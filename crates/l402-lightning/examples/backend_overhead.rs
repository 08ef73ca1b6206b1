//! The phoenixd, LND and Core Lightning (clnrest) adapters' overhead over
//! the raw wire call.
//!
//! A loopback server answers each endpoint with a fixed, valid answer (a
//! real signed invoice and its preimage, from the dev node), so only the
//! client side differs: the *raw* call is one reqwest request with the same
//! body and a read of the whole answer; the *adapter* call is the trait
//! method (request building, invoice decoding and signature check, answer
//! parsing, preimage check, pinned-certificate verification for LND).
//! Sequential calls on one keep-alive connection.
//!
//! ```sh
//! cargo run --release -p l402-lightning --example backend_overhead [calls]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use l402_lightning::cln::ClnRestClient;
use l402_lightning::dev::DevNode;
use l402_lightning::lnd::LndClient;
use l402_lightning::phoenixd::PhoenixdClient;
use l402_lightning::{InvoiceRequest, PayRequest, PaymentHash, Receiver, Wallet};
use serde_json::json;

use l402_testkit::wire;
use l402_testkit::wire::TLS_CERT as CERT;
const MACAROON: &str = "0201036c6e6402f801030a10b0dd7c6f1e2a3b4c5d6e7f8091a2b3c4";

/// Mean time per call of `f`, after a warm-up.
async fn time<F, Fut>(calls: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..calls / 10 {
        f().await;
    }
    let started = Instant::now();
    for _ in 0..calls {
        f().await;
    }
    started.elapsed() / calls as u32
}

fn report(what: &str, raw: Duration, adapter: Duration) {
    println!(
        "{what:<34} raw {:>7.1} µs   adapter {:>7.1} µs   overhead {:>6.1} µs",
        raw.as_secs_f64() * 1e6,
        adapter.as_secs_f64() * 1e6,
        (adapter.as_secs_f64() - raw.as_secs_f64()) * 1e6
    );
}

/// Sends a raw request and reads the whole answer.
async fn send(request: reqwest::RequestBuilder) {
    request.send().await.unwrap().bytes().await.unwrap();
}

/// Times `node`'s create_invoice, pay and lookup_payment (of `bolt11`,
/// whose hash is `hash`) against the raw requests `raw` builds for each.
async fn compare<N: Receiver + Wallet>(
    backend: &str,
    calls: usize,
    node: &N,
    (bolt11, hash): (&str, &PaymentHash),
    raw: [&dyn Fn() -> reqwest::RequestBuilder; 3],
) {
    let [raw_create, raw_pay, raw_lookup] = raw;
    let request = InvoiceRequest::sats(10).memo("bench");
    let r = time(calls, || send(raw_create())).await;
    let a = time(calls, || async {
        node.create_invoice(&request).await.unwrap();
    })
    .await;
    report(&format!("{backend} create_invoice"), r, a);
    let pay = PayRequest::new(bolt11);
    let r = time(calls, || send(raw_pay())).await;
    let a = time(calls, || async {
        node.pay(&pay).await.unwrap();
    })
    .await;
    report(&format!("{backend} pay"), r, a);
    let r = time(calls, || send(raw_lookup())).await;
    let a = time(calls, || async {
        assert!(node.lookup_payment(hash).await.unwrap().is_settled());
    })
    .await;
    report(&format!("{backend} lookup_payment"), r, a);
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let seller = node.wallet("seller").await.unwrap();
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(100).await.unwrap();
    let invoice = seller
        .create_invoice(&InvoiceRequest::sats(10).memo("bench"))
        .await
        .unwrap();
    let paid = buyer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    let (bolt11, hash, preimage) = (
        invoice.bolt11.clone(),
        invoice.payment_hash,
        paid.preimage.to_hex(),
    );
    println!("{calls} sequential calls each, loopback, one keep-alive connection\n");

    // --- phoenixd ---
    let created = json!({"amountSat": 10, "paymentHash": hash.to_string(), "serialized": bolt11});
    let sent = json!({"recipientAmountSat": 10, "routingFeeSat": 0,
        "paymentId": "5d7a3f3e-6c0e-4b5e-9b0a-2f1d8c9e0a11",
        "paymentHash": hash.to_string(), "paymentPreimage": preimage});
    let outgoing = json!({"subType": "lightning", "paymentId": "x", "paymentHash": hash.to_string(),
        "preimage": preimage, "isPaid": true, "sent": 10, "fees": 0, "invoice": bolt11,
        "completedAt": 1, "createdAt": 1});
    let app = {
        let (c, s, o) = (created.clone(), sent.clone(), outgoing.clone());
        Router::new()
            .route("/createinvoice", post(move || async move { Json(c) }))
            .route("/payinvoice", post(move || async move { Json(s) }))
            .route(
                "/payments/outgoingbyhash/{h}",
                get(move || async move { Json(o) }),
            )
    };
    let addr = wire::serve(app, None, wire::Cutter::default()).await;
    let base = format!("http://{addr}");
    let raw = reqwest::Client::new();
    let phoenixd = PhoenixdClient::builder(&base, "password").build().unwrap();
    compare(
        "phoenixd",
        calls,
        &phoenixd,
        (&bolt11, &hash),
        [
            &|| {
                raw.post(format!("{base}/createinvoice"))
                    .basic_auth("", Some("password"))
                    .form(&[
                        ("description", "bench"),
                        ("amountSat", "10"),
                        ("expirySeconds", "3600"),
                    ])
            },
            &|| {
                raw.post(format!("{base}/payinvoice"))
                    .basic_auth("", Some("password"))
                    .form(&[("invoice", bolt11.as_str())])
            },
            &|| {
                raw.get(format!("{base}/payments/outgoingbyhash/{hash}"))
                    .basic_auth("", Some("password"))
            },
        ],
    )
    .await;

    // --- LND (TLS) ---
    let added = json!({"r_hash": STANDARD.encode(hash.as_bytes()), "payment_request": bolt11,
        "add_index": "1", "payment_addr": STANDARD.encode([0u8; 32])});
    let line = format!(
        "{}\n",
        json!({"result": {"payment_hash": hash.to_string(), "payment_preimage": preimage,
            "value_msat": "10000", "fee_msat": "0", "status": "SUCCEEDED",
            "failure_reason": "FAILURE_REASON_NONE", "htlcs": []}})
    );
    let app = {
        let (added, l1, l2) = (added.clone(), line.clone(), line.clone());
        Router::new()
            .route("/v1/invoices", post(move || async move { Json(added) }))
            .route("/v2/router/send", post(move || async move { l1 }))
            .route("/v2/router/track/{h}", get(move || async move { l2 }))
    };
    let addr = wire::serve(app, Some(wire::acceptor()), wire::Cutter::default()).await;
    let base = format!("https://{addr}");
    let raw = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let lnd = LndClient::builder(&base, MACAROON)
        .tls_cert_pem(CERT)
        .build()
        .unwrap();
    let track = format!(
        "{base}/v2/router/track/{}?no_inflight_updates=false",
        base64::engine::general_purpose::URL_SAFE.encode(hash.as_bytes())
    );
    let macaroon =
        |request: reqwest::RequestBuilder| request.header("Grpc-Metadata-macaroon", MACAROON);
    compare(
        "LND",
        calls,
        &lnd,
        (&bolt11, &hash),
        [
            &|| {
                macaroon(raw.post(format!("{base}/v1/invoices")))
                    .json(&json!({"value_msat": "10000", "memo": "bench", "expiry": "3600"}))
            },
            &|| {
                macaroon(raw.post(format!("{base}/v2/router/send")))
                    .json(&json!({"payment_request": bolt11, "timeout_seconds": 55,
                        "fee_limit_msat": "10000", "no_inflight_updates": true}))
            },
            &|| macaroon(raw.get(&track)),
        ],
    )
    .await;

    // --- Core Lightning (clnrest, TLS) ---
    let invoice_result = json!({"payment_hash": hash.to_string(), "bolt11": bolt11,
        "expires_at": 4_000_000_000u64, "payment_secret": "00".repeat(32), "created_index": 1});
    let pay_result = json!({"payment_hash": hash.to_string(), "payment_preimage": preimage,
        "amount_msat": 10_000, "amount_sent_msat": 10_000, "status": "complete", "parts": 1,
        "created_at": 1.0});
    let pays = json!({"pays": [{"payment_hash": hash.to_string(), "status": "complete",
        "preimage": preimage, "amount_msat": 10_000, "amount_sent_msat": 10_000,
        "created_at": 1}]});
    let app = Router::new().route(
        "/v1/{method}",
        post(
            move |axum::extract::Path(method): axum::extract::Path<String>| {
                let body = match method.as_str() {
                    "invoice" => invoice_result.clone(),
                    "pay" => pay_result.clone(),
                    _ => pays.clone(),
                };
                async move { (axum::http::StatusCode::CREATED, Json(body)) }
            },
        ),
    );
    let addr = wire::serve(app, Some(wire::acceptor()), wire::Cutter::default()).await;
    let base = format!("https://{addr}");
    let cln = ClnRestClient::builder(&base, "rune")
        .tls_cert_pem(CERT)
        .build()
        .unwrap();
    let rpc = |method: &str, body: serde_json::Value| {
        raw.post(format!("{base}/v1/{method}"))
            .header("Rune", "rune")
            .json(&body)
    };
    compare(
        "CLN",
        calls,
        &cln,
        (&bolt11, &hash),
        [
            &|| {
                rpc(
                    "invoice",
                    json!({"amount_msat": 10_000, "label": "l402-1", "description": "bench", "expiry": 3600}),
                )
            },
            &|| rpc("pay", json!({"bolt11": bolt11, "retry_for": 55})),
            &|| rpc("listpays", json!({"payment_hash": hash.to_string()})),
        ],
    )
    .await;
}

//! The demo of the real `l402 serve` in l402kit's shapes (seed 004), over
//! real HTTP: the index, the 1-sat BTC price from a configured price source
//! (a local HTTP server here) bought with the real `l402 get`, the preimage
//! endpoint (pending, then the preimage of the demo's own paid invoice, and
//! nothing for any other invoice), the labelled demo price when no source
//! is set, the browser page, and `/.well-known/l402.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::path::Path;

use axum::Router;
use axum::routing::get;
use l402_lightning::{PayRequest, Wallet};
use serde_json::{Value, json};
use serve_support::{dev_wallet, get_regtest, l402, start};

/// A price source in CoinGecko's `simple/price` shape, on a free port.
async fn price_source() -> String {
    let app = Router::new().route(
        "/simple/price",
        get(|| async {
            axum::Json(json!({"bitcoin": {"usd": 123456.5, "eur": 111111, "gbp": 99999}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/simple/price")
}

fn write_config(dir: &Path, demo: &str) -> std::path::PathBuf {
    let path = dir.join("serve.toml");
    std::fs::write(
        &path,
        format!(
            "[demo]\n{demo}\n[[routes]]\npath = \"/api/report\"\nprice_sats = 7\n\
             description = \"the daily report\"\nbody = \"report\"\n"
        ),
    )
    .unwrap();
    path
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn btc_price_from_the_source_the_preimage_endpoint_and_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let source = price_source().await;
    let config = write_config(dir.path(), &format!("price_url = \"{source}\""));
    let server = start(l402(dir.path()), &["--config", config.to_str().unwrap()]).await;
    let base = server.url();
    let http = reqwest::Client::new();

    // The index.
    let (status, index) = json_of(http.get(format!("{base}/api/demo")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(index["endpoints"]["btcPrice"], "/api/demo/btc-price");
    assert!(index["message"].is_string());

    // Bought with l402 get: the source's price, 1 sat.
    let url = format!("{base}/api/demo/btc-price");
    let paid = get_regtest(dir.path(), &url, &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    assert_eq!(paid.json["receipt"]["amount_msat"], 1000);
    let body = &paid.json["body_json"];
    assert_eq!(body["bitcoin"]["usd"], 123456.5, "{body}");
    assert_eq!(body["bitcoin"]["gbp"], 99999.0);
    assert_eq!(body["bitcoin"]["source"], "127.0.0.1");
    assert!(body["bitcoin"].get("demo").is_none());
    assert_eq!(body["priceSats"], 1);
    assert_eq!(body["protocol"], "L402");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    // A person paying the QR code: the 402, the preimage pending, paid
    // from a wallet that shows no preimage, then revealed for this invoice.
    let (status, challenge) = json_of(http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, 402);
    let l402 = &challenge["l402"];
    let hash = l402["payment_hash"].as_str().unwrap();
    let preimage_url = format!("{base}/api/demo/preimage?hash={hash}");
    let (status, pending) = json_of(http.get(&preimage_url).send().await.unwrap()).await;
    assert_eq!((status, pending), (202, json!({"pending": true})));
    dev_wallet(dir.path())
        .pay(&PayRequest::new(l402["invoice"].as_str().unwrap()))
        .await
        .unwrap();
    let (status, revealed) = json_of(http.get(&preimage_url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{revealed}");
    let preimage = revealed["preimage"].as_str().unwrap();
    let parsed: l402::Preimage = preimage.parse().unwrap();
    assert_eq!(parsed.payment_hash().to_string(), hash);
    let macaroon = l402["macaroon"].as_str().unwrap();
    let (status, bought) = json_of(
        http.get(&url)
            .header("authorization", format!("L402 {macaroon}:{preimage}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{bought}");
    assert_eq!(bought["bitcoin"]["usd"], 123456.5);

    // Nothing for invoices that are not the demo's: a paid route's (even
    // paid), an unknown hash, a malformed one.
    let (_, report) = json_of(http.get(format!("{base}/api/report")).send().await.unwrap()).await;
    let report_hash = report["l402"]["payment_hash"].as_str().unwrap();
    dev_wallet(dir.path())
        .pay(&PayRequest::new(
            report["l402"]["invoice"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    for (query, want_status, want_code) in [
        (report_hash.to_owned(), 404, "unknown_invoice"),
        ("ab".repeat(32), 404, "unknown_invoice"),
        ("not-hex".to_owned(), 400, "invalid_field"),
    ] {
        let response = http
            .get(format!("{base}/api/demo/preimage?hash={query}"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, want_status, "{query}: {body}");
        assert_eq!(body["code"], want_code);
    }

    // A browser gets the page.
    let page = http
        .get(&url)
        .header("accept", "text/html,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 402);
    assert!(page.headers().contains_key("www-authenticate"));
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("1 sat<") && html.contains("<svg"), "{html}");

    // Discovery: the paid routes, in both clients' shapes.
    let (status, doc) = json_of(
        http.get(format!("{base}/.well-known/l402.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["protocol"], "l402");
    assert_eq!(doc["version"], "1.0");
    assert_eq!(doc["demo_endpoint"], "/api/demo/btc-price");
    assert_eq!(doc["price_sats"], 1);
    let endpoints = doc["endpoints"].as_array().unwrap();
    let report = endpoints
        .iter()
        .find(|e| e["path"] == "/api/report")
        .unwrap();
    assert_eq!(report["method"], "GET");
    assert_eq!(report["price_sats"], 7);
    assert_eq!(report["pricing"]["base_price_sats"], 7);
    assert_eq!(report["summary"], "the daily report");
    assert_eq!(report["l402_enabled"], true);
    assert!(
        endpoints
            .iter()
            .any(|e| e["path"] == "/api/demo/joke" && e["price_sats"] == 21)
    );
    assert!(doc["service"]["name"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn without_a_price_source_the_price_is_labelled_a_demo_price() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "enabled = true");
    let server = start(l402(dir.path()), &["--config", config.to_str().unwrap()]).await;
    let paid = get_regtest(
        dir.path(),
        &format!("{}/api/demo/btc-price", server.url()),
        &[],
    )
    .await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    let bitcoin = &paid.json["body_json"]["bitcoin"];
    assert_eq!(bitcoin["demo"], true, "{bitcoin}");
    assert!(
        bitcoin["source"]
            .as_str()
            .unwrap()
            .starts_with("demo price")
    );
    assert!(bitcoin["usd"].as_f64().unwrap() > 0.0);
    // The joke is still sold at its path.
    let joke = get_regtest(dir.path(), &format!("{}/api/demo/joke", server.url()), &[]).await;
    assert_eq!(joke.code, Some(0), "{}", joke.stderr);
    assert!(joke.json["body_json"]["joke"].is_string());
    server.stop().await;
}

//! The API directory over real HTTP, on SQLite and PostgreSQL: a listing is
//! verified only when a second server (the listed API's host) serves the
//! server-issued nonce at `/.well-known/l402.txt`; registration is
//! idempotent on the URL, validated, rate limited and bounded; a verified
//! listing cannot be re-pointed to another payout address without proof;
//! the proof is read with a bound and a timeout; private hosts are refused
//! unless allowed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use l402_producer::{DirectoryConfig, MAX_PROOF_BYTES};
use serde_json::{Value, json};
use support::{Server, start_custom, stores};

/// The listed API's host: serves whatever `proof` holds at
/// `/.well-known/l402.txt`.
async fn host(proof: Arc<Mutex<String>>) -> String {
    let app = axum::Router::new().route(
        "/.well-known/l402.txt",
        get(move || {
            let proof = proof.clone();
            async move { proof.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn register(s: &Server, body: Value) -> (u16, Value) {
    s.post("/api/register", None, body).await
}

async fn apis(s: &Server, query: &str) -> (u16, Value) {
    let resp = s
        .http
        .get(format!("{}/api/apis.json{query}", s.base))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn listing(url: &str, address: &str) -> Value {
    json!({
        "url": url,
        "name": "Weather API",
        "description": "Live weather data, 1 sat per query",
        "price_sats": 1,
        "lightning_address": address,
        "category": "weather",
    })
}

fn open() -> DirectoryConfig {
    DirectoryConfig::default()
        .allow_private_targets(true)
        .per_hour(100)
        .timeout(Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_is_verified_by_its_host_serving_the_nonce() {
    for (store, _keep) in stores("directory").await {
        let s = start_custom(store.clone(), None, |b| b.directory(open())).await;
        let proof = Arc::new(Mutex::new(String::new()));
        let base = host(proof.clone()).await;
        let url = format!("{base}/api/weather");

        let (status, first) = register(&s, listing(&url, "dev@example.com")).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(
            (first["ok"].as_bool(), first["verified"].as_bool()),
            (Some(true), Some(false))
        );
        let id = first["id"].as_str().unwrap().to_owned();
        let nonce = first["nonce"].as_str().unwrap().to_owned();
        assert_eq!(first["wellKnown"], format!("{base}/.well-known/l402.txt"));
        // Again, host not serving it yet: same listing, same nonce.
        let (_, again) = register(&s, listing(&url, "dev@example.com")).await;
        assert_eq!(
            (
                again["id"].as_str(),
                again["nonce"].as_str(),
                again["verified"].as_bool()
            ),
            (Some(id.as_str()), Some(nonce.as_str()), Some(false))
        );
        // The host serves something else: not verified.
        *proof.lock().unwrap() = "dev@example.com".to_owned();
        let (_, again) = register(&s, listing(&url, "dev@example.com")).await;
        assert_eq!(again["verified"], false);
        // The host serves the nonce: verified.
        *proof.lock().unwrap() = format!("# l402 directory proof\n{nonce}\n");
        let (status, verified) = register(&s, listing(&url, "dev@example.com")).await;
        assert_eq!(
            (
                status,
                verified["verified"].as_bool(),
                verified["id"].as_str()
            ),
            (200, Some(true), Some(id.as_str())),
            "{verified}"
        );

        // The listing, in the seed's shape.
        let (status, all) = apis(&s, "").await;
        assert_eq!(status, 200);
        assert_eq!(
            (all["version"].as_str(), all["count"].as_u64()),
            (Some("1"), Some(1))
        );
        let api = &all["apis"][0];
        assert_eq!(api["url"], url);
        assert_eq!(api["name"], "Weather API");
        assert_eq!(api["price_sats"], 1);
        assert_eq!(api["category"], "weather");
        assert_eq!(api["verified"], true);
        assert!(api["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(api.get("lightning_address").is_none() && api.get("nonce").is_none());
        assert_eq!(apis(&s, "?category=weather").await.1["count"], 1);
        assert_eq!(apis(&s, "?category=ai").await.1["count"], 0);
        let (status, body) = apis(&s, "?category=bogus").await;
        assert_eq!((status, body["field"].as_str()), (400, Some("category")));

        // Someone re-points the verified listing to their own address: the
        // host does not serve the new nonce, so it is refused and nothing changes.
        let mut hijack = listing(&url, "thief@example.com");
        hijack["name"] = json!("Stolen");
        let (status, refused) = register(&s, hijack.clone()).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (409, Some("verification_required")),
            "{refused}"
        );
        assert_eq!(apis(&s, "").await.1["apis"][0]["name"], "Weather API");
        let thief_nonce = refused["message"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .find(|w| w.starts_with("l402-"))
            .unwrap()
            .to_owned();
        // The owner changes its address: refused until its host serves the
        // new address's nonce (given in the refusal), then accepted.
        let (status, asked) = register(&s, listing(&url, "new@example.com")).await;
        assert_eq!(status, 409, "{asked}");
        let new_nonce = asked["message"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .find(|w| w.starts_with("l402-"))
            .unwrap()
            .to_owned();
        assert_ne!(new_nonce, nonce);
        assert_ne!(new_nonce, thief_nonce);
        *proof.lock().unwrap() = new_nonce.clone();
        let (status, moved) = register(&s, listing(&url, "new@example.com")).await;
        assert_eq!(
            (status, moved["verified"].as_bool(), moved["nonce"].as_str()),
            (200, Some(true), Some(new_nonce.as_str())),
            "{moved}"
        );

        // A proof past MAX_PROOF_BYTES is not read to its end.
        let url2 = format!("{base}/api/other");
        let (_, other) = register(&s, listing(&url2, "b@example.com")).await;
        let nonce2 = other["nonce"].as_str().unwrap().to_owned();
        *proof.lock().unwrap() = format!("{}{nonce2}", " ".repeat(MAX_PROOF_BYTES));
        assert_eq!(
            register(&s, listing(&url2, "b@example.com")).await.1["verified"],
            false
        );
        *proof.lock().unwrap() = nonce2.clone();
        assert_eq!(
            register(&s, listing(&url2, "b@example.com")).await.1["verified"],
            true
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_validated_limited_and_bounded() {
    for (store, _keep) in stores("directory_bounds").await {
        // Default settings: private hosts refused.
        let strict = start_custom(store.clone(), None, |b| b).await;
        let (status, body) =
            register(&strict, listing("http://127.0.0.1:9/x", "a@example.com")).await;
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (400, Some("invalid_url"), Some("url")),
            "{body}"
        );

        let s = start_custom(store.clone(), None, |b| b.directory(open().max_listings(2))).await;
        let good = listing("http://127.0.0.1:9/api", "a@example.com");
        for (field, value) in [
            ("name", json!("x")),
            ("price_sats", json!(0)),
            ("lightning_address", json!("not-an-address")),
            ("category", json!("music")),
            ("url", json!("ftp://example.com/")),
        ] {
            let mut body = good.clone();
            body[field] = value;
            let (status, answer) = register(&s, body).await;
            assert_eq!(
                (status, answer["field"].as_str()),
                (400, Some(field)),
                "{answer}"
            );
        }
        let mut body = good.clone();
        body["extra"] = json!(1);
        assert_eq!(register(&s, body).await.1["code"], "unknown_field");

        // A host that never answers: the registration still answers, within the timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_url = format!("http://{}/api", silent.local_addr().unwrap());
        let _held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                held.push(conn);
            }
        });
        assert_eq!(
            register(&s, listing(&silent_url, "a@example.com")).await.0,
            200
        );
        let started = Instant::now();
        let (status, body) = register(&s, listing(&silent_url, "a@example.com")).await;
        assert_eq!(
            (status, body["verified"].as_bool()),
            (200, Some(false)),
            "{body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        // At most max_listings (2): a third URL is refused, updates are not.
        assert_eq!(register(&s, good.clone()).await.0, 200);
        let (status, body) =
            register(&s, listing("http://127.0.0.1:9/third", "a@example.com")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("directory_full")),
            "{body}"
        );
        assert_eq!(register(&s, good.clone()).await.0, 200);
        assert_eq!(apis(&s, "").await.1["count"], 2);

        // The rate limit: 3 registrations an hour per client, then 429.
        let limited = start_custom(store.clone(), None, |b| b.directory(open().per_hour(3))).await;
        for _ in 0..3 {
            assert_eq!(register(&limited, good.clone()).await.0, 200);
        }
        let resp = limited
            .http
            .post(format!("{}/api/register", limited.base))
            .json(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 429);
        let wait: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait > 60, "an hour's window: {wait}");
    }
}

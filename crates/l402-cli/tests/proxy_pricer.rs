//! Dynamic prices in `l402 serve`'s proxy: a real HTTP pricer started here
//! prices each request by path; the invoices are of those amounts and
//! `l402 get` pays them; a price of 0 passes free; the pricer never sees
//! the credential or cookies; a pricer that is down is a 503
//! `pricer_unavailable` with `Retry-After`, unless a fallback price is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod proxy_support;
mod serve_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

use proxy_support::write_serve_config;
use serve_support::{l402, start};

/// The pricer: `/llm/big` 11 sats, `/llm/free` 0, `/llm/slow` answers too
/// late, `/llm/bad` answers nonsense, anything else 3. It keeps every
/// question it was asked.
async fn pricer() -> (std::net::SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let app = Router::new().route(
        "/price",
        post(move |axum::Json(q): axum::Json<Value>| {
            seen.lock().unwrap().push(q.clone());
            async move {
                match q["path"].as_str().unwrap_or_default() {
                    "/llm/big" => axum::Json(json!({"price_sats": 11})),
                    "/llm/free" => axum::Json(json!({"price_sats": 0})),
                    "/llm/slow" => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        axum::Json(json!({"price_sats": 1}))
                    }
                    "/llm/bad" => axum::Json(json!({"price_sats": -4})),
                    _ => axum::Json(json!({"price_sats": 3})),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, asked)
}

#[tokio::test]
async fn a_pricer_sets_each_requests_price_and_its_failures_are_bounded() {
    let upstream = proxy_support::upstream().await;
    let (pricer, asked) = pricer().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let up = upstream.addr;
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[[services]]
name = "llm"
pathregexp = "^/llm/"
address = "{up}"
price = {{ pricer = "http://{pricer}/price", timeout_ms = 1000 }}

[[services]]
name = "down"
pathregexp = "^/down/"
address = "{up}"
price = {{ pricer = "http://{closed}/price" }}

[[services]]
name = "fallback"
pathregexp = "^/fb/"
address = "{up}"
price = {{ pricer = "http://{closed}/price", fallback_sats = 4 }}
"#
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let base = server.url();
    let http = reqwest::Client::new();
    let challenge = |path: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let resp = http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(resp.status(), 402, "{path}");
            let body: Value = resp.json().await.unwrap();
            body["l402"]["amount_sats"].as_u64().unwrap()
        }
    };

    // Two paths, two prices.
    assert_eq!(challenge("/llm/small").await, 3);
    assert_eq!(challenge("/llm/big").await, 11);

    // l402 get pays each at its price; the POST body's size reaches the
    // pricer, the credential and cookies never do.
    let payload = "x".repeat(1234);
    let big = get_support::get_json(
        dir.path(),
        &[
            "-X",
            "POST",
            "-d",
            &payload,
            "-H",
            "cookie: session=secret-cookie",
            &format!("{base}/llm/big"),
        ],
        &[],
    )
    .await;
    assert_eq!(big.code, Some(0), "{} {}", big.json, big.stderr);
    assert_eq!(big.json["status"], 200, "{}", big.json);
    assert_eq!(big.json["receipt"]["amount_msat"], 11_000);
    assert_eq!(big.json["body_json"]["body_len"], 1234);
    let small = get_support::get_json(dir.path(), &[&format!("{base}/llm/small")], &[]).await;
    assert_eq!(small.code, Some(0), "{} {}", small.json, small.stderr);
    assert_eq!(small.json["receipt"]["amount_msat"], 3_000);
    {
        let asked = asked.lock().unwrap();
        let posts: Vec<&Value> = asked
            .iter()
            .filter(|q| q["path"] == "/llm/big" && q["method"] == "POST")
            .collect();
        // The unpaid request and the paid retry.
        assert_eq!(posts.len(), 2, "{asked:?}");
        for q in &posts {
            assert_eq!(q["service"], "llm");
            assert_eq!(q["body_size"], 1234, "{q}");
            assert_eq!(q["headers"]["content-length"], "1234", "{q}");
            assert!(q["headers"].get("cookie").is_none(), "{q}");
        }
        let all = serde_json::to_string(&*asked).unwrap();
        assert!(!all.contains("authorization"), "{all}");
        assert!(!all.contains("L402 "), "{all}");
        assert!(!all.contains("secret-cookie"), "{all}");
    }

    // A token bought at 11 sats is not good where the price is 3.
    let export = get_support::run_json(
        dir.path(),
        &["token", "export", &format!("{base}/llm/big")],
        &[],
    )
    .await;
    let credential = export.json["authorization"].as_str().unwrap().to_owned();
    let resp = http
        .get(format!("{base}/llm/other"))
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 402);
    let resp = http
        .get(format!("{base}/llm/big"))
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Price 0: forwarded without a challenge.
    let resp = http.get(format!("{base}/llm/free")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["path"], "/llm/free");

    // The pricer down, too slow, or answering nonsense: 503 with
    // Retry-After, nothing minted; with a fallback, that price.
    for path in ["/down/x", "/llm/slow", "/llm/bad"] {
        let started = std::time::Instant::now();
        let resp = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: bounded by the timeout"
        );
        assert!(resp.headers().get("retry-after").is_some(), "{path}");
        assert!(resp.headers().get("www-authenticate").is_none(), "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "pricer_unavailable", "{path}: {body}");
    }
    assert_eq!(challenge("/fb/x").await, 4);
    let fb = get_support::get_json(dir.path(), &[&format!("{base}/fb/x")], &[]).await;
    assert_eq!(fb.json["receipt"]["amount_msat"], 4_000, "{}", fb.json);
    assert_eq!(fb.json["status"], 200);

    server.stop().await;
}

//! The OpenAPI document is true: every path, method and status it lists is
//! exercised over real HTTP against the producer, and nothing else is served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{ADMIN, sqlite_store, start, start_with};

use std::sync::Arc;
use std::time::Duration;

use l402_lightning::Receiver;
use l402_lightning::dev::DevWallet;
use l402_lightning::lnbits::LnbitsClient;
use l402_producer::{MAX_BODY_BYTES, ProducerBuilder, SplitsConfig, openapi};
use serde_json::{Value, json};

/// Every path, method and status code in the OpenAPI document is exercised
/// against the real server, and its answer has the documented required fields.
#[tokio::test]
async fn openapi_document_is_true() {
    let (store, _dir) = sqlite_store().await;
    let s = start(store.clone()).await;
    let limited = start_with(store.clone(), None, 1).await;
    let dead: Arc<dyn Receiver> = Arc::new(
        LnbitsClient::builder("http://127.0.0.1:9")
            .invoice_key("x")
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let down = start_with(store.clone(), Some(dead), 100).await;
    let blind = support::start_blind(store.clone()).await;
    let (closed_store, _closed_dir) = sqlite_store().await;
    let closed = support::start_custom(closed_store.clone(), None, |b| {
        b.key_cache_ttl(Duration::from_secs(600))
    })
    .await;
    let (_, closed_key, _) = closed.merchant("closed").await;
    let closed_token = {
        let (_, c) = closed
            .post(
                "/api/l402/challenges",
                Some(&closed_key),
                json!({"resource": "/doc", "priceSats": 2}),
            )
            .await;
        let pre = closed.pay(c["invoice"].as_str().unwrap()).await;
        (c["macaroon"].as_str().unwrap().to_owned(), pre)
    };
    closed_store.close().await;
    let (mid, key, _) = s.merchant("doc").await;
    let (_, spare) = s
        .admin(
            reqwest::Method::POST,
            &format!("/api/admin/merchants/{mid}/keys"),
            None,
        )
        .await;
    let key_id = spare["id"].as_str().unwrap().to_owned();
    let (sus_id, sus_key, _) = s.merchant("suspended").await;
    s.admin(
        reqwest::Method::POST,
        &format!("/api/admin/merchants/{sus_id}/status"),
        Some(json!({"status": "suspended"})),
    )
    .await;
    // Lightning Addresses: one payable, one of the suspended merchant.
    let (payee, _, _) = s.merchant("payee").await;
    for (id, username) in [(payee, "payee"), (sus_id, "suspended-user")] {
        let (status, bound) = s
            .admin(
                reqwest::Method::POST,
                &format!("/api/admin/merchants/{id}/lightning-address"),
                Some(json!({"username": username})),
            )
            .await;
        assert_eq!(status, 201, "{bound}");
    }
    // A pass, bought and paid (activated by the documented POST below).
    let pass = {
        let offer: Value = s
            .http
            .get(format!("{}/api/dev-token?address=pass@example.com", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pre = s.pay(offer["invoice"].as_str().unwrap()).await;
        (offer["macaroon"].as_str().unwrap().to_owned(), pre)
    };
    // Splits: one server with a split secret, one without.
    const SPLIT_SECRET: &str = "a split secret for the document";
    let splits = |secret: Option<&'static str>| {
        move |b: ProducerBuilder, wallet: DevWallet| {
            let config = SplitsConfig::new(Arc::new(wallet));
            b.splits(match secret {
                Some(s) => config.secret(s),
                None => config,
            })
        }
    };
    let (sp, sp_open) = {
        let node = l402_lightning::dev::DevNode::builder()
            .in_memory()
            .open()
            .await
            .unwrap();
        let with_secret = node.wallet("operator").await.unwrap();
        let without = node.wallet("operator2").await.unwrap();
        let f = splits(Some(SPLIT_SECRET));
        let g = splits(None);
        (
            support::start_custom(store.clone(), None, move |b| f(b, with_secret)).await,
            support::start_custom(store.clone(), None, move |b| g(b, without)).await,
        )
    };
    // The down server shares the store: the same key works there.
    let served: Value = s
        .http
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, openapi());
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    let big = vec![b' '; MAX_BODY_BYTES + 10];
    let mut exercised = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let status: u16 = status.parse().unwrap();
                let concrete = path
                    .replace("{id}", &mid.to_string())
                    .replace("{key_id}", &key_id)
                    .replace("{username}", "payee");
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let admin = op["security"][0].get("admin").is_some();
                let keyed = op["security"][0].get("apiKey").is_some();
                let mut target = &s;
                let mut url_path = match path.as_str() {
                    "/api/pro-check" => format!("{path}?address=alice@example.com"),
                    "/api/dev-token" if method == "get" => {
                        format!("{path}?address=doc@example.com")
                    }
                    "/api/lnurlp/{username}/callback" => format!("{concrete}?amount=2000"),
                    _ => concrete.clone(),
                };
                let mut api_key = Some(key.clone());
                let mut bearer = admin.then_some(ADMIN);
                let mut body: Option<Vec<u8>> = match (path.as_str(), method.as_str()) {
                    ("/api/l402/challenges", _) => {
                        Some(br#"{"resource":"/doc","priceSats":3}"#.to_vec())
                    }
                    ("/api/l402/challenges/verify", _) => {
                        Some(br#"{"macaroon":"x","preimage":"00"}"#.to_vec())
                    }
                    ("/api/invoice", _) => Some(br#"{"amountSats":2}"#.to_vec()),
                    ("/api/verify", _) => Some(br#"{"token":"a:b"}"#.to_vec()),
                    ("/api/admin/merchants", "post") => Some(br#"{"name":"n"}"#.to_vec()),
                    ("/api/admin/merchants/{id}/status", _) => {
                        Some(br#"{"status":"active"}"#.to_vec())
                    }
                    ("/api/admin/merchants/{id}/keys", "post") => Some(br#"{}"#.to_vec()),
                    ("/api/dev-token", "post") => Some(
                        serde_json::to_vec(&json!({"macaroon": pass.0, "preimage": pass.1}))
                            .unwrap(),
                    ),
                    ("/api/split", _) => {
                        target = &sp;
                        Some(br#"{"amountSats":5,"ownerAddress":"owner@example.com"}"#.to_vec())
                    }
                    ("/api/admin/merchants/{id}/owner-address", _) => {
                        Some(br#"{"ownerAddress":"owner@example.com"}"#.to_vec())
                    }
                    ("/api/admin/merchants/{id}/lightning-address", _) => {
                        Some(br#"{"username":"doc"}"#.to_vec())
                    }
                    _ => None,
                };
                match status {
                    200 | 201 => {}
                    400 if path == "/api/apis.json" => {
                        url_path = format!("{path}?category=no-such-category");
                    }
                    400 if path == "/api/pro-check"
                        || (path == "/api/dev-token" && method == "get") =>
                    {
                        url_path = path.clone();
                    }
                    400 if path == "/api/webhooks/deliveries" => {
                        url_path = format!("{path}?limit=0");
                    }
                    403 if path == "/api/split" => target = &sp_open,
                    404 if path == "/api/split" => target = &s,
                    401 if path == "/api/dev-token" => {
                        body = Some(br#"{"macaroon":"x","preimage":"00"}"#.to_vec());
                    }
                    400 if path.contains("{username}") => url_path = concrete.clone(),
                    403 if path.contains("{username}") => {
                        url_path = url_path.replace("payee", "suspended-user");
                    }
                    400 => {
                        if path.contains("{id}") {
                            url_path = path.replace("{id}", "zero").replace("{key_id}", "k");
                        } else {
                            body = Some(br#"{"unknownField":1}"#.to_vec());
                        }
                    }
                    401 => {
                        api_key = None;
                        bearer = if admin { Some("wrong") } else { None };
                    }
                    403 => api_key = Some(sus_key.clone()),
                    404 if path.contains("{username}") => {
                        url_path = url_path.replace("payee", "nobody");
                    }
                    404 => url_path = path.replace("{id}", "999").replace("{key_id}", "k"),
                    413 => body = Some(big.clone()),
                    429 => {
                        // This server allows 1 a minute: use it up first.
                        target = &limited;
                        let _ = limited
                            .http
                            .post(format!("{}{url_path}", limited.base))
                            .body(r#"{"amountSats":1}"#)
                            .send()
                            .await;
                    }
                    500 => target = &blind,
                    503 if path == "/api/l402/challenges/verify" => {
                        // The store is read to price a token sent without
                        // amountSats: with it closed (the key still cached), 503.
                        target = &closed;
                        api_key = Some(closed_key.clone());
                        body = Some(
                            serde_json::to_vec(&json!({"macaroon": closed_token.0, "preimage": closed_token.1, "resource": "/doc"}))
                                .unwrap(),
                        );
                    }
                    503 => {
                        target = &down;
                        if path == "/api/l402/challenges" {
                            // Not the idempotent repeat of the 200 above.
                            body = Some(br#"{"resource":"/doc-down","priceSats":3}"#.to_vec());
                        }
                    }
                    other => panic!("{method} {path}: documented status {other} is not exercised"),
                }
                let mut req = target.http.request(m, format!("{}{url_path}", target.base));
                if keyed && let Some(k) = &api_key {
                    req = req.header("X-API-Key", k);
                }
                if let Some(b) = bearer {
                    req = req.bearer_auth(b);
                }
                if let Some(b) = body {
                    req = req.body(b);
                }
                if path == "/api/split" && status != 401 {
                    req = req.header("x-split-secret", SPLIT_SECRET);
                }
                if path == "/api/pass" && status == 200 {
                    req = req.header("Authorization", format!("L402 {}:{}", pass.0, pass.1));
                }
                let resp = req.send().await.unwrap();
                let got = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                assert_eq!(
                    got, status,
                    "{method} {path} ({url_path}) expected {status}: {text}"
                );
                let v: Value = serde_json::from_str(&text).unwrap();
                if let Some(reference) =
                    response["content"]["application/json"]["schema"]["$ref"].as_str()
                {
                    let name = reference.rsplit('/').next().unwrap();
                    for field in schemas[name]["required"].as_array().into_iter().flatten() {
                        let field = field.as_str().unwrap();
                        assert!(
                            v.get(field).is_some(),
                            "{method} {path} {status}: {field} missing in {v}"
                        );
                    }
                }
                exercised += 1;
            }
        }
    }
    assert!(exercised >= 40, "{exercised}");
    // Methods a path does not document are not served there.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", &mid.to_string())
            .replace("{key_id}", "k");
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                continue;
            }
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = s
                .http
                .request(m, format!("{}{concrete}", s.base))
                .bearer_auth(ADMIN)
                .header("X-API-Key", &key)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                405,
                "{method} {path} is served but not documented"
            );
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["code"], "method_not_allowed");
        }
    }
    // Every route the router serves is documented: an undocumented path is not routed.
    let resp = s
        .http
        .post(format!("{}/api/l402/undocumented", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

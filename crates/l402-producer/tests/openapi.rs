//! The OpenAPI document is true: every path, method and status it lists is
//! exercised over real HTTP against the producer, and nothing else is served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{ADMIN, sqlite_store, start, start_with};

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
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
    // Backends' signed notifications: the secrets of `hooks` (and `closed`).
    const PHOENIXD_SECRET: &str = "a phoenixd webhook secret";
    const SVIX_SECRET: &str = "whsec_c3ZpeCBrZXkgZm9yIHRoZSBkb2N1bWVudA==";
    let inbound = || {
        l402_producer::WebhookConfig::default()
            .phoenixd_webhook_secret(PHOENIXD_SECRET)
            .blink_webhook_secret(SVIX_SECRET)
            .unwrap()
    };
    let closed = support::start_custom(closed_store.clone(), None, move |b| {
        b.key_cache_ttl(Duration::from_secs(600))
            .webhooks(inbound())
    })
    .await;
    let hooks = support::start_custom(store.clone(), None, move |b| b.webhooks(inbound())).await;
    // The directory: a listed API's host serving a proof, a listing it
    // verified (so another address for its url is a 409), and a server
    // allowing one registration an hour.
    let directory = |per_hour: u32| {
        move |b: ProducerBuilder| {
            b.directory(
                l402_producer::DirectoryConfig::default()
                    .allow_private_targets(true)
                    .per_hour(per_hour),
            )
        }
    };
    let dir = support::start_custom(store.clone(), None, directory(100)).await;
    let dir_limited = support::start_custom(store.clone(), None, directory(1)).await;
    let proof = Arc::new(std::sync::Mutex::new(String::new()));
    let api_host = {
        let proof = proof.clone();
        let app = axum::Router::new().route(
            "/.well-known/l402.txt",
            axum::routing::get(move || {
                let proof = proof.clone();
                async move { proof.lock().unwrap().clone() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    };
    let listing = |url: &str, address: &str| {
        serde_json::to_vec(
            &json!({"url": url, "name": "Doc API", "price_sats": 1, "lightning_address": address}),
        )
        .unwrap()
    };
    let verified_url = format!("{api_host}/verified");
    for _ in 0..2 {
        let (status, r) = dir
            .post(
                "/api/register",
                None,
                serde_json::from_slice(&listing(&verified_url, "owner@example.com")).unwrap(),
            )
            .await;
        assert_eq!(status, 200, "{r}");
        *proof.lock().unwrap() = r["nonce"].as_str().unwrap().to_owned();
    }
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
    // Webhook endpoints: one to test, one to delete; a merchant with the
    // most endpoints, one with none; a merchant whose data is erased.
    let hook = |k: String| {
        let s = &s;
        async move {
            let (status, h) = s
                .post(
                    "/api/webhooks",
                    Some(&k),
                    json!({"url": "https://hooks.example.com/l402"}),
                )
                .await;
            assert_eq!(status, 201, "{h}");
            h["id"].as_str().unwrap().to_owned()
        }
    };
    hook(key.clone()).await;
    let doomed_hook = hook(key.clone()).await;
    let (_, full_key, _) = s.merchant("full").await;
    for _ in 0..l402_producer::MAX_ENDPOINTS_PER_MERCHANT {
        hook(full_key.clone()).await;
    }
    let (_, bare_key, _) = s.merchant("bare").await;
    let (_, eraser_key, _) = s.merchant("eraser").await;
    // A session to revoke.
    let (session, _) = s.login(0x41).await;
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
        if l402_producer::PROXY_PATHS.contains(&path.as_str()) {
            // They need `l402 serve`'s proxy: l402-cli's tests/proxy_admin.rs.
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let status: u16 = status.parse().unwrap();
                let concrete = path
                    .replace(
                        "/api/webhooks/{id}",
                        &format!("/api/webhooks/{doomed_hook}"),
                    )
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
                if path == "/api/session" && status == 200 {
                    bearer = Some(session.as_str());
                }
                // The backends' notifications: signed below (401: wrongly).
                let signed = path.starts_with("/api/webhooks/in/") || path == "/api/blink-webhook";
                if signed && status == 200 {
                    target = &hooks;
                }
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
                    ("/api/webhooks", "post") => {
                        Some(br#"{"url":"https://hooks.example.com/doc"}"#.to_vec())
                    }
                    ("/api/delete-data", _) => {
                        api_key = Some(eraser_key.clone());
                        None
                    }
                    ("/api/register", _) => {
                        target = &dir;
                        Some(listing(&format!("{api_host}/doc"), "doc@example.com"))
                    }
                    ("/api/webhooks/in/phoenixd", _) => Some(
                        format!(r#"{{"type":"payment_received","amountSat":1,"paymentHash":"{}"}}"#, "cd".repeat(32))
                            .into_bytes(),
                    ),
                    ("/api/webhooks/in/blink" | "/api/blink-webhook", _) => Some(
                        format!(r#"{{"data":{{"initiationVia":{{"paymentHash":"{}"}}}}}}"#, "cd".repeat(32))
                            .into_bytes(),
                    ),
                    ("/api/admin/merchants/{id}/linking-keys", "post") => Some(
                        br#"{"key":"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"}"#
                            .to_vec(),
                    ),
                    _ => None,
                };
                match status {
                    200..=202 => {}
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
                    // Without a credential header the body is read (l402kit's token).
                    400 | 413 if path == "/api/delete-data" => {
                        api_key = None;
                        body = Some(if status == 400 {
                            br#"{"unknownField":1}"#.to_vec()
                        } else {
                            big.clone()
                        });
                    }
                    400 if path == "/api/lnurl-auth" => {
                        url_path = format!("{path}?tag=login&k1=zz&sig=00&key=00&action=login");
                    }
                    404 if path == "/api/lnurl-auth" => {
                        url_path = format!("{path}?poll={}", "00".repeat(32));
                    }
                    503 if path == "/api/lnurl-auth" => target = &closed,
                    404 if signed => {}
                    503 if signed => target = &closed,
                    400 | 413 if signed => {
                        target = &hooks;
                        body = Some(if status == 400 {
                            b"not a notification".to_vec()
                        } else {
                            big.clone()
                        });
                    }
                    401 if signed => target = &hooks,
                    409 if path == "/api/register" => {
                        body = Some(listing(&verified_url, "thief@example.com"));
                    }
                    429 if path == "/api/register" => {
                        target = &dir_limited;
                        let _ = dir_limited
                            .http
                            .post(format!("{}{url_path}", dir_limited.base))
                            .body(listing("https://api.example.com/first", "a@example.com"))
                            .send()
                            .await;
                    }
                    503 if path == "/api/register" => {
                        target = &closed;
                        body = Some(listing("https://api.example.com/doc", "doc@example.com"));
                    }
                    409 => api_key = Some(full_key.clone()),
                    404 if path == "/api/webhooks/test" => api_key = Some(bare_key.clone()),
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
                if signed {
                    let b = body.clone().unwrap_or_default();
                    let secret = if status == 401 {
                        "not the secret"
                    } else {
                        PHOENIXD_SECRET
                    };
                    req = if path.ends_with("/phoenixd") {
                        req.header(
                            "x-phoenix-signature",
                            hex::encode(hmac(secret.as_bytes(), &b)),
                        )
                    } else {
                        let key = if status == 401 {
                            b"not the key".to_vec()
                        } else {
                            base64::engine::general_purpose::STANDARD
                                .decode(SVIX_SECRET.trim_start_matches("whsec_"))
                                .unwrap()
                        };
                        let ts = l402_server::unix_now().to_string();
                        let signed_text =
                            [b"msg_doc.".as_slice(), ts.as_bytes(), b".", &b].concat();
                        let sig = base64::engine::general_purpose::STANDARD
                            .encode(hmac(&key, &signed_text));
                        req.header("svix-id", "msg_doc")
                            .header("svix-timestamp", ts)
                            .header("svix-signature", format!("v1,{sig}"))
                    };
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

/// HMAC-SHA256 of `message` under `key` (the backends' signatures).
fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

//! The producer API over real HTTP on 127.0.0.1, with the real dev node and
//! real stores: SQLite always, PostgreSQL when `L402_TEST_DATABASE_URL` is set
//! (each test in a fresh schema; `L402_REQUIRE_POSTGRES=1` makes its absence
//! a failure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{ADMIN, Server, sqlite_store, start, start_with, stores};

use std::sync::Arc;
use std::time::Duration;

use l402::Keyring;
use l402_lightning::Receiver;
use l402_lightning::lnbits::LnbitsClient;
use l402_producer::MAX_BODY_BYTES;
use serde_json::{Value, json};

#[tokio::test]
async fn lightning_enable_flow_on_both_stores() {
    for (store, _dir) in stores("flow").await {
        let backend = store.backend();
        let s = start(store).await;
        let (mid, key, _) = s.merchant("weather").await;
        let (other_id, other_key, _) = s.merchant("other").await;
        assert_ne!(mid, other_id);

        let (status, c) = s
            .post(
                "/api/l402/challenges",
                Some(&key),
                json!({"resource": "/api/premium/weather", "priceSats": 100, "description": "7-day forecast"}),
            )
            .await;
        assert_eq!(status, 200, "{backend}: {c}");
        for field in [
            "invoice",
            "macaroon",
            "paymentHash",
            "expiresAt",
            "resource",
            "priceSats",
        ] {
            assert!(!c[field].is_null(), "{field} in {c}");
        }
        assert_eq!(c["priceSats"], 100);
        assert!(c["mppChallenge"].is_null());
        assert!(c["expiresAt"].as_str().unwrap().ends_with('Z'));
        assert!(c["macaroon"].as_str().unwrap().starts_with("AgEEbHNhdA"));

        // Idempotent by client address: same resource and price, same challenge.
        let (_, again) = s
            .post(
                "/api/l402/challenges",
                Some(&key),
                json!({"resource": "/api/premium/weather", "priceSats": 100}),
            )
            .await;
        assert_eq!(again["paymentHash"], c["paymentHash"]);
        // Another price or resource: another challenge.
        let (_, other_price) = s
            .post(
                "/api/l402/challenges",
                Some(&key),
                json!({"resource": "/api/premium/weather", "priceSats": 101}),
            )
            .await;
        assert_ne!(other_price["paymentHash"], c["paymentHash"]);
        // By X-Idempotency-Key.
        let with_key = |k: &str| {
            s.http
                .post(format!("{}/api/l402/challenges", s.base))
                .header("X-API-Key", &key)
                .header("X-Idempotency-Key", k)
                .json(&json!({"resource": "/r", "priceSats": 5}))
        };
        let challenge =
            async |k: &str| -> Value { with_key(k).send().await.unwrap().json().await.unwrap() };
        let a = challenge("order-1").await;
        let b = challenge("order-1").await;
        let d = challenge("order-2").await;
        assert_eq!(a["paymentHash"], b["paymentHash"]);
        assert_ne!(a["paymentHash"], d["paymentHash"]);
        let long = with_key(&"k".repeat(257)).send().await.unwrap();
        assert_eq!(long.status(), 400);
        let body: Value = long.json().await.unwrap();
        assert_eq!(body["field"], "X-Idempotency-Key");
        assert_eq!(
            with_key(&"k".repeat(256)).send().await.unwrap().status(),
            200
        );

        // Pay and verify, for the resource and price it was bought for.
        let preimage = s.pay(c["invoice"].as_str().unwrap()).await;
        let mac = c["macaroon"].as_str().unwrap();
        let genuine = json!({"macaroon": mac, "preimage": preimage, "resource": "/api/premium/weather", "amountSats": 100});
        let (status, v) = s
            .post("/api/l402/challenges/verify", Some(&key), genuine.clone())
            .await;
        assert_eq!(status, 200);
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["resource"], "/api/premium/weather");
        assert_eq!(v["merchantId"], mid);
        assert_eq!(v["amountSats"], 100);
        assert_eq!(v["paymentHash"], c["paymentHash"]);
        // Fails closed: without the resource it is not "any"; without the
        // price it is the merchant's current one (the 101 asked last for
        // this resource, tests/verify.rs has the rest), not "any".
        for (body, code) in [
            (
                json!({"macaroon": mac, "preimage": preimage}),
                "resource_required",
            ),
            (
                json!({"macaroon": mac, "preimage": preimage, "amountSats": 100}),
                "resource_required",
            ),
            (
                json!({"macaroon": mac, "preimage": preimage, "resource": "/api/premium/weather"}),
                "wrong_amount",
            ),
        ] {
            let (status, v) = s
                .post("/api/l402/challenges/verify", Some(&key), body.clone())
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                (v["valid"].clone(), v["code"].clone()),
                (json!(false), json!(code)),
                "{body}: {v}"
            );
            assert!(!v["error"].as_str().unwrap().is_empty());
        }
        // Reusable until it expires (not single-use).
        let (_, v) = s
            .post("/api/l402/challenges/verify", Some(&key), genuine.clone())
            .await;
        assert_eq!(v["valid"], true);

        // Invalid tokens: 200 with valid:false and an error.
        let cases = [
            (
                json!({"macaroon": mac, "preimage": preimage, "resource": "/api/other", "amountSats": 100}),
                &key,
                "wrong_resource",
            ),
            (
                json!({"macaroon": mac, "preimage": preimage, "resource": "/api/premium/weather", "amountSats": 1}),
                &key,
                "wrong_amount",
            ),
            (
                json!({"macaroon": mac, "preimage": "00".repeat(32), "resource": "/api/premium/weather", "amountSats": 100}),
                &key,
                "wrong_preimage",
            ),
            (
                json!({"macaroon": mac, "preimage": "xyz", "resource": "/api/premium/weather", "amountSats": 100}),
                &key,
                "malformed_preimage",
            ),
            (
                json!({"macaroon": "not a macaroon", "preimage": preimage, "resource": "/api/premium/weather", "amountSats": 100}),
                &key,
                "malformed_macaroon",
            ),
            (genuine.clone(), &other_key, "wrong_merchant"),
        ];
        for (body, k, code) in cases {
            let (status, v) = s
                .post("/api/l402/challenges/verify", Some(k), body.clone())
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(v["valid"], false, "{body}: {v}");
            assert_eq!(v["code"], code, "{body}: {v}");
            assert!(!v["error"].as_str().unwrap().is_empty());
        }
        let (_, v) = s
            .post(
                "/api/l402/challenges/verify",
                Some(&key),
                json!({"macaroon": mac, "preimage": "00".repeat(32), "resource": "/api/premium/weather", "amountSats": 100}),
            )
            .await;
        assert_eq!(v["error"], "Preimage does not match payment hash");

        // A genuine token of this server without a merchant caveat (what its
        // paid routes sell) is not a merchant's token.
        let pre = l402::Preimage::from([1u8; 32]);
        let routed = l402::Minter::new(Keyring::new(1, [7; 32]))
            .mint(
                pre.payment_hash(),
                &[l402::Caveat::resource("/api/premium/weather")],
            )
            .unwrap();
        let (_, v) = s
            .post(
                "/api/l402/challenges/verify",
                Some(&key),
                json!({"macaroon": routed.to_string(), "preimage": pre.to_hex(), "resource": "/api/premium/weather", "amountSats": 100}),
            )
            .await;
        assert_eq!(
            (v["valid"].clone(), v["code"].clone()),
            (json!(false), json!("wrong_merchant")),
            "{v}"
        );

        // A token minted for l402kit's API is not a merchant's token.
        let (_, kit) = s.post("/api/invoice", None, json!({"amountSats": 3})).await;
        let kit_pre = s.pay(kit["paymentRequest"].as_str().unwrap()).await;
        let (_, v) = s
            .post(
                "/api/l402/challenges/verify",
                Some(&key),
                json!({"macaroon": kit["macaroon"], "preimage": kit_pre, "resource": "/api/invoice", "amountSats": 3}),
            )
            .await;
        assert_eq!(v["valid"], false);

        // Stats: the merchant's own, and everything for the admin.
        s.producer.flush().await.unwrap();
        let st: Value = s
            .http
            .get(format!("{}/api/l402/stats", s.base))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["merchantId"], mid);
        assert_eq!(st["challenges"], 5, "{st}");
        assert_eq!(st["payments"], 1);
        assert_eq!(st["paidSats"], 100);
        assert_eq!(st["verifications"]["valid"], 2);
        assert_eq!(st["verifications"]["invalid"], 11, "{st}");
        let (status, all) = s
            .admin(reqwest::Method::GET, "/api/admin/stats", None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(all["totals"]["challenges"], 6, "{all}");
    }
}

#[tokio::test]
async fn keys_are_revoked_and_merchants_suspended() {
    let (store, _dir) = sqlite_store().await;
    let s = start(store).await;
    let (mid, key, key_id) = s.merchant("m").await;
    let body = json!({"resource": "/r", "priceSats": 1});
    assert_eq!(
        s.post("/api/l402/challenges", Some(&key), body.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        s.post("/api/l402/challenges", None, body.clone()).await.0,
        401
    );
    assert_eq!(
        s.post("/api/l402/challenges", Some("l402k_nope"), body.clone())
            .await
            .0,
        401
    );

    let (status, _) = s
        .admin(
            reqwest::Method::POST,
            &format!("/api/admin/merchants/{mid}/status"),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, e) = s
        .post("/api/l402/challenges", Some(&key), body.clone())
        .await;
    assert_eq!(status, 403);
    assert_eq!(e["code"], "merchant_suspended");
    s.admin(
        reqwest::Method::POST,
        &format!("/api/admin/merchants/{mid}/status"),
        Some(json!({"status": "active"})),
    )
    .await;

    let (status, keys) = s
        .admin(
            reqwest::Method::GET,
            &format!("/api/admin/merchants/{mid}/keys"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(keys["keys"][0]["id"], key_id.as_str());
    assert!(
        keys["keys"][0].get("key").is_none(),
        "a listed key never shows the key"
    );
    let (status, revoked) = s
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/admin/merchants/{mid}/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(revoked["revokedAt"].is_string());
    assert_eq!(
        s.post("/api/l402/challenges", Some(&key), body).await.0,
        401
    );
    let (status, _) = s
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/admin/merchants/{mid}/keys/{key_id}x"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The admin API wants the admin token.
    let resp = s
        .http
        .get(format!("{}/api/admin/merchants", s.base))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .http
        .get(format!("{}/api/admin/merchants", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn l402kit_invoice_verify_rate_limit_and_unavailable() {
    let (store, _dir) = sqlite_store().await;
    let s = start_with(store.clone(), None, 3).await;
    let (status, inv) = s
        .post(
            "/api/invoice",
            None,
            json!({"amountSats": 10, "ownerAddress": "me@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{inv}");
    assert!(
        inv["paymentRequest"]
            .as_str()
            .unwrap()
            .starts_with("lnbcrt100n1")
    );
    let preimage = s.pay(inv["paymentRequest"].as_str().unwrap()).await;
    let token = format!("{}:{preimage}", inv["macaroon"].as_str().unwrap());
    let (status, v) = s.post("/api/verify", None, json!({"token": token})).await;
    assert_eq!((status, v["valid"].clone()), (200, json!(true)), "{v}");
    let (_, v) = s
        .post(
            "/api/verify",
            None,
            json!({"token": format!("{}:{}", inv["macaroon"].as_str().unwrap(), "11".repeat(32))}),
        )
        .await;
    assert_eq!(v["valid"], false);
    // A self-minted l402kit-style token (unsigned JSON) does not verify here.
    let forged = format!("eyJoYXNoIjoiYWEiLCJleHAiOjk5OTk5OTk5OTk5OTl9:{preimage}");
    let (_, v) = s.post("/api/verify", None, json!({"token": forged})).await;
    assert_eq!(v["valid"], false);

    // CORS for any origin, as l402kit's hosted API.
    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/invoice", s.base))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");

    let (status, e) = s.post("/api/verify", None, json!({})).await;
    assert_eq!((status, e["error"].clone()), (400, json!("Missing token")));
    let (status, e) = s
        .post("/api/invoice", None, json!({"amountSats": -1}))
        .await;
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("Invalid amountSats"))
    );
    // 3 a minute: two used above (one 200, one 400); the next passes, then 429.
    assert_eq!(
        s.post("/api/invoice", None, json!({"amountSats": 1}))
            .await
            .0,
        200
    );
    let resp = s
        .http
        .post(format!("{}/api/invoice", s.base))
        .json(&json!({"amountSats": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "Rate limit exceeded");

    // A Lightning backend that cannot be reached: 503, nothing recorded.
    let dead: Arc<dyn Receiver> = Arc::new(
        LnbitsClient::builder("http://127.0.0.1:9")
            .invoice_key("x")
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let before = l402_store::PaymentStore::stats(&*store, None)
        .await
        .unwrap()
        .challenges;
    let down = start_with(store.clone(), Some(dead), 100).await;
    let resp = down
        .http
        .post(format!("{}/api/invoice", down.base))
        .json(&json!({"amountSats": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "Lightning provider temporarily unavailable");
    let after = l402_store::PaymentStore::stats(&*store, None)
        .await
        .unwrap()
        .challenges;
    assert_eq!(before, after);
}

/// Sends a raw body and checks the answer is a 4xx JSON error naming a field.
async fn expect_field_error(s: &Server, path: &str, key: Option<&str>, body: Vec<u8>, field: &str) {
    let mut req = s
        .http
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json")
        .body(body.clone());
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let shown = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
    assert!(
        (400..500).contains(&status),
        "{path} {shown}: {status} {text}"
    );
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} {shown}: not JSON: {text}"));
    assert!(
        v["code"].is_string() && v["error"].is_string(),
        "{path} {shown}: {v}"
    );
    assert_eq!(v["field"], field, "{path} {shown}: {v}");
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field() {
    let (store, _dir) = sqlite_store().await;
    let s = start(store).await;
    let (_, key, _) = s.merchant("m").await;
    let k = Some(key.as_str());
    let big = format!(
        "{{\"resource\":\"{}\",\"priceSats\":1}}",
        "a".repeat(MAX_BODY_BYTES)
    );
    let cases: Vec<(&str, Option<&str>, &str, &str)> = vec![
        ("/api/l402/challenges", k, "{", "(body)"),
        ("/api/l402/challenges", k, "", "(body)"),
        ("/api/l402/challenges", k, "[]", "(body)"),
        ("/api/l402/challenges", k, "\"x\"", "(body)"),
        ("/api/l402/challenges", k, "{\"priceSats\":1}", "resource"),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"\",\"priceSats\":1}",
            "resource",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":7,\"priceSats\":1}",
            "resource",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\"}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":\"100\"}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":-5}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":0}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":1.5}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":1e300}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":99999999999999999999999}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":2100000000000000}",
            "priceSats",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":1,\"description\":[1]}",
            "description",
        ),
        (
            "/api/l402/challenges",
            k,
            "{\"resource\":\"/r\",\"priceSats\":1,\"extra\":1}",
            "extra",
        ),
        ("/api/l402/challenges", k, &big, "(body)"),
        (
            "/api/l402/challenges/verify",
            k,
            "{\"preimage\":\"00\"}",
            "macaroon",
        ),
        (
            "/api/l402/challenges/verify",
            k,
            "{\"macaroon\":\"AgE\"}",
            "preimage",
        ),
        (
            "/api/l402/challenges/verify",
            k,
            "{\"macaroon\":1,\"preimage\":\"00\"}",
            "macaroon",
        ),
        (
            "/api/l402/challenges/verify",
            k,
            "{\"macaroon\":\"a\",\"preimage\":\"00\",\"amountSats\":-1}",
            "amountSats",
        ),
        (
            "/api/l402/challenges/verify",
            k,
            "{\"macaroon\":\"a\",\"preimage\":\"00\",\"resource\":{}}",
            "resource",
        ),
        (
            "/api/l402/challenges/verify",
            k,
            "{\"macaroon\":\"a\",\"preimage\":\"00\",\"token\":\"x\"}",
            "token",
        ),
        ("/api/l402/challenges/verify", k, "nul", "(body)"),
        ("/api/invoice", None, "{}", "amountSats"),
        ("/api/invoice", None, "{\"amountSats\":\"5\"}", "amountSats"),
        ("/api/invoice", None, "{\"amountSats\":-5}", "amountSats"),
        (
            "/api/invoice",
            None,
            "{\"amountSats\":5,\"ownerAddress\":5}",
            "ownerAddress",
        ),
        (
            "/api/invoice",
            None,
            "{\"amountSats\":5,\"owner\":\"x\"}",
            "owner",
        ),
        ("/api/invoice", None, "{oops", "(body)"),
        ("/api/verify", None, "{\"token\":5}", "token"),
        ("/api/verify", None, "{\"token\":\"a:b\",\"x\":1}", "x"),
        ("/api/verify", None, "1", "(body)"),
        ("/api/admin/merchants", None, "{}", "Authorization"),
        ("/api/admin/merchants/0/keys", None, "{}", "Authorization"),
    ];
    for (path, key, body, field) in cases {
        expect_field_error(&s, path, key, body.as_bytes().to_vec(), field).await;
    }
    // Admin endpoints with the admin token.
    for (path, body, field) in [
        ("/api/admin/merchants", "{}", "name"),
        ("/api/admin/merchants", "{\"name\":1}", "name"),
        ("/api/admin/merchants", "{\"name\":\"a\",\"x\":1}", "x"),
        ("/api/admin/merchants/abc/keys", "{}", "id"),
        ("/api/admin/merchants/-1/keys", "{}", "id"),
        ("/api/admin/merchants/1/keys", "{\"label\":5}", "label"),
        (
            "/api/admin/merchants/1/status",
            "{\"status\":\"gone\"}",
            "status",
        ),
    ] {
        let resp = s
            .http
            .post(format!("{}{path}", s.base))
            .bearer_auth(ADMIN)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path} {body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["field"], field, "{path} {body}: {v}");
    }
    // Wrong methods are JSON too.
    let resp = s
        .http
        .get(format!("{}/api/l402/challenges", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "method_not_allowed");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
            Just(Value::from("/api/x")),
            Just(Value::from(1)),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        let names = prop::sample::select(vec![
            "resource",
            "priceSats",
            "description",
            "macaroon",
            "preimage",
            "amountSats",
            "token",
            "ownerAddress",
            "name",
            "label",
            "status",
            "zzz",
        ]);
        prop_oneof![
            // Objects with the API's field names and arbitrary values.
            prop::collection::btree_map(names, json_value(), 0..5).prop_map(|m| {
                serde_json::to_vec(&Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                ))
                .unwrap()
            }),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            prop::collection::vec(any::<u8>(), 0..200),
        ]
    }

    #[test]
    fn request_decoding_never_panics_or_answers_5xx() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (s, key) = rt.block_on(async {
            let (store, dir) = sqlite_store().await;
            std::mem::forget(dir);
            let s = start(store).await;
            let (_, key, _) = s.merchant("fuzz").await;
            (s, key)
        });
        let paths = [
            "/api/l402/challenges",
            "/api/l402/challenges/verify",
            "/api/invoice",
            "/api/verify",
            "/api/admin/merchants",
            "/api/admin/merchants/1/keys",
            "/api/admin/merchants/1/status",
        ];
        let config = ProptestConfig {
            cases: 192,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config, |(path in prop::sample::select(paths.to_vec()), body in body())| {
            let (status, text) = rt.block_on(async {
                let resp = s
                    .http
                    .post(format!("{}{path}", s.base))
                    .header("x-api-key", &key)
                    .bearer_auth(ADMIN)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            });
            prop_assert!(status < 500, "{} {:?}: {} {}", path, String::from_utf8_lossy(&body), status, text);
            let v: Value = serde_json::from_str(&text).unwrap();
            if status >= 400 {
                prop_assert!(v["code"].is_string(), "{}", v);
                if status == 400 {
                    prop_assert!(v["field"].is_string(), "{}", v);
                }
            }
        });
    }
}

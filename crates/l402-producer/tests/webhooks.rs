//! Webhooks out, over real HTTP on SQLite and PostgreSQL, received by a
//! Python `http.server` that checks every signature with Python's own
//! `hmac` (`tests/webhooks_receiver.py`):
//!
//! - a payment through the dev node, verified, arrives as one
//!   `payment.received` with the payment hash and without the preimage; a
//!   settlement notification of the same payment adds nothing;
//! - the receiver down while payments come in, then up: every event is
//!   delivered exactly once (two producers share the store and both run a
//!   worker), each delivery in the log after failed attempts;
//! - tampered bodies and wrong secrets fail the independent check;
//! - registration is validated (private targets refused by default), the
//!   endpoint bound and the per-merchant queue bound are pushed, and
//!   another merchant sees none of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod webhooks_support;

use std::sync::Arc;
use std::time::Duration;

use l402_producer::{EventKind, Settled, WebhookConfig};
use l402_store::Store;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, start_custom, stores};
use webhooks_support::{Receiver, post_signed_by_python, post_with_header};

/// Ports of this file (H5's range 52500-52599).
const PORT_SQLITE: u16 = 52510;
const PORT_PG: u16 = 52511;

fn fast() -> WebhookConfig {
    WebhookConfig::default()
        .allow_private_targets(true)
        .backoff(Duration::from_millis(200), Duration::from_millis(800))
        .poll_interval(Duration::from_millis(50))
        .max_attempts(50)
}

async fn start(store: Arc<Store>, config: WebhookConfig) -> Server {
    start_custom(store, None, move |b| b.webhooks(config)).await
}

async fn call(
    s: &Server,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, format!("{}{path}", s.base));
    if let Some(key) = key {
        req = req.header("X-Api-Key", key);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Buys `resource` from the merchant: challenge, paid by the dev node's
/// buyer, verified. Returns (payment hash, preimage).
async fn buy(s: &Server, key: &str, resource: &str) -> (String, String) {
    let (status, c) = s
        .post(
            "/api/l402/challenges",
            Some(key),
            json!({"resource": resource, "priceSats": 21}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let preimage = s.pay(c["invoice"].as_str().unwrap()).await;
    let (status, v) = s
        .post(
            "/api/l402/challenges/verify",
            Some(key),
            json!({"macaroon": c["macaroon"], "preimage": preimage, "resource": resource, "amountSats": 21}),
        )
        .await;
    assert_eq!((status, &v["valid"]), (200, &json!(true)), "{v}");
    (c["paymentHash"].as_str().unwrap().to_owned(), preimage)
}

async fn register(s: &Server, key: &str, url: &str) -> (u16, Value) {
    call(
        s,
        Method::POST,
        "/api/webhooks",
        Some(key),
        Some(json!({"url": url})),
    )
    .await
}

async fn log(s: &Server, key: &str) -> Vec<Value> {
    let (status, body) = call(
        s,
        Method::GET,
        "/api/webhooks/deliveries?limit=200",
        Some(key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_received_is_signed_once_and_survives_a_receiver_outage() {
    for (i, (store, _keep)) in stores("webhooks").await.into_iter().enumerate() {
        let port = if i == 0 { PORT_SQLITE } else { PORT_PG };
        let s = start(store.clone(), fast()).await;
        // A second instance on the same store: its worker claims too.
        let _other = start(store.clone(), fast()).await;
        let (_, key, _) = s.merchant("shop").await;
        let mut receiver = Receiver::start(port);

        let (status, created) = register(&s, &key, &receiver.url()).await;
        assert_eq!(status, 201, "{created}");
        let secret = created["secret"].as_str().unwrap().to_owned();
        assert!(
            secret.starts_with("whsec_") && secret.len() == 70,
            "{secret}"
        );
        assert_eq!(
            created["events"],
            json!(["payment.received", "split.paid", "pass.activated"])
        );
        receiver.set_secret(&secret);
        // The secret is shown once: never listed again.
        let (_, listed) = call(&s, Method::GET, "/api/webhooks", Some(&key), None).await;
        assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
        assert!(!listed.to_string().contains(&secret));

        // One purchase: one payment.received, without the preimage.
        let (hash, preimage) = buy(&s, &key, "/api/weather").await;
        let events = receiver
            .wait_for(20, |e| {
                e.iter().any(|e| e["data"]["paymentHash"] == hash.as_str())
            })
            .await;
        let event = events
            .iter()
            .find(|e| e["data"]["paymentHash"] == hash.as_str())
            .unwrap();
        assert_eq!(event["type"], "payment.received");
        assert_eq!(event["data"]["amountSats"], 21);
        assert_eq!(event["data"]["endpoint"], "/api/weather");
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        let raw: Vec<String> = receiver
            .log()
            .iter()
            .map(|l| l["raw"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            raw.iter().all(|r| !r.contains(&preimage)),
            "a webhook carried the preimage"
        );
        // The node reports the same payment: recorded already, no second event.
        assert_eq!(
            s.producer.payment_settled(&hash).await.unwrap(),
            Settled::Payment {
                merchant_id: 1,
                new: false
            }
        );
        assert_eq!(
            s.producer.payment_settled(&"00".repeat(32)).await.unwrap(),
            Settled::Unknown
        );

        // The receiver goes down; three payments come in meanwhile.
        receiver.down();
        let mut hashes = vec![hash.clone()];
        for r in ["/a", "/b", "/c"] {
            hashes.push(buy(&s, &key, r).await.0);
        }
        // Attempts fail and are logged as pending with an error.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let pending: Vec<Value> = log(&s, &key)
                .await
                .into_iter()
                .filter(|d| d["state"] == "pending" && d["attempts"].as_u64().unwrap() >= 2)
                .collect();
            if pending.len() == 3 {
                assert!(
                    pending
                        .iter()
                        .all(|d| d["lastError"].as_str().unwrap().contains("connect")),
                    "{pending:?}"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{:#?}",
                log(&s, &key).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        receiver.up();
        let events = receiver
            .wait_for(30, |e| {
                hashes
                    .iter()
                    .all(|h| e.iter().any(|e| e["data"]["paymentHash"] == h.as_str()))
            })
            .await;
        // Let any duplicate that was going to arrive arrive.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let events_now = receiver.events();
        assert_eq!(events_now.len(), events.len());
        for h in &hashes {
            let n = events_now
                .iter()
                .filter(|e| e["data"]["paymentHash"] == h.as_str())
                .count();
            assert_eq!(n, 1, "payment {h} delivered {n} times");
        }
        let ids: std::collections::HashSet<&str> = events_now
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), events_now.len(), "an event id came twice");
        assert!(
            receiver.log().iter().all(|l| l["valid"] == true),
            "{:#?}",
            receiver.log()
        );
        let delivered = log(&s, &key).await;
        assert_eq!(delivered.len(), 4, "{delivered:#?}");
        for d in &delivered {
            assert_eq!(
                (
                    d["state"].as_str(),
                    d["type"].as_str(),
                    d["lastStatus"].as_u64()
                ),
                (Some("delivered"), Some("payment.received"), Some(200)),
                "{d}"
            );
        }
        assert!(
            delivered
                .iter()
                .filter(|d| d["attempts"].as_u64().unwrap() >= 2)
                .count()
                >= 3
        );

        // A test event, to this endpoint.
        let (status, sent) = call(&s, Method::POST, "/api/webhooks/test", Some(&key), None).await;
        assert_eq!(status, 202, "{sent}");
        let test_id = sent["events"][0]["eventId"].as_str().unwrap().to_owned();
        receiver
            .wait_for(20, |e| {
                e.iter()
                    .any(|e| e["id"] == test_id.as_str() && e["type"] == "webhook.test")
            })
            .await;

        // Signatures that are not right are detectably wrong.
        let body = &raw[0];
        let t = l402_server::unix_now();
        assert_eq!(
            post_signed_by_python(&receiver.url(), &secret, t, body).await,
            200
        );
        let tampered = body.replace("\"amountSats\":21", "\"amountSats\":2100");
        assert_ne!(&tampered, body);
        let good_for_original = webhooks_support::python_signature(&secret, t, body);
        assert_eq!(
            post_with_header(&receiver.url(), &good_for_original, &tampered).await,
            400
        );
        assert_eq!(
            post_signed_by_python(&receiver.url(), "whsec_wrong", t, body).await,
            400
        );
        assert_eq!(
            post_signed_by_python(&receiver.url(), &secret, t - 3600, body).await,
            400
        );

        // Another merchant sees none of this.
        let (_, other_key, _) = s.merchant("other").await;
        assert!(log(&s, &other_key).await.is_empty());
        let (_, listed) = call(&s, Method::GET, "/api/webhooks", Some(&other_key), None).await;
        assert_eq!(listed["webhooks"], json!([]));
        let id = created["id"].as_str().unwrap();
        let (status, _) = call(
            &s,
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&other_key),
            None,
        )
        .await;
        assert_eq!(status, 404);
        // Its owner deletes it; then it is gone.
        let (status, _) = call(
            &s,
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&key),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = call(
            &s,
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&key),
            None,
        )
        .await;
        assert_eq!(status, 404);
        let (status, body) = call(&s, Method::POST, "/api/webhooks/test", Some(&key), None).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_validated_and_bounded() {
    for (store, _keep) in stores("webhooks_bounds").await {
        // Default settings: private targets refused.
        let strict = start(store.clone(), WebhookConfig::default()).await;
        let (_, key, _) = strict.merchant("shop").await;
        for (url, code) in [
            ("http://127.0.0.1:9/hook", "invalid_url"),
            ("http://169.254.169.254/latest/meta-data", "invalid_url"),
            ("http://[::1]/x", "invalid_url"),
            ("ftp://example.com/hook", "invalid_url"),
            ("not a url", "invalid_url"),
        ] {
            let (status, body) = register(&strict, &key, url).await;
            assert_eq!(
                (status, body["code"].as_str(), body["field"].as_str()),
                (400, Some(code), Some("url")),
                "{url}: {body}"
            );
        }
        let (status, body) = call(
            &strict,
            Method::POST,
            "/api/webhooks",
            Some(&key),
            Some(json!({"url": "https://example.com/h", "events": ["payment.sent"]})),
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("events")),
            "{body}"
        );
        let (status, body) = call(
            &strict,
            Method::POST,
            "/api/webhooks",
            Some(&key),
            Some(json!({"url": "https://example.com/h", "secret": "mine"})),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("unknown_field")),
            "{body}"
        );
        let (status, body) = call(
            &strict,
            Method::POST,
            "/api/webhooks",
            None,
            Some(json!({"url": "https://example.com/h"})),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = call(
            &strict,
            Method::GET,
            "/api/webhooks/deliveries?limit=0",
            Some(&key),
            None,
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("limit")),
            "{body}"
        );

        // At most MAX_ENDPOINTS_PER_MERCHANT endpoints.
        for i in 0..l402_producer::MAX_ENDPOINTS_PER_MERCHANT {
            let (status, body) = call(
                &strict,
                Method::POST,
                "/api/webhooks",
                Some(&key),
                Some(json!({"url": format!("https://example.com/h{i}"), "events": ["split.paid"]})),
            )
            .await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, body) = register(&strict, &key, "https://example.com/one-more").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("too_many_endpoints")),
            "{body}"
        );

        // The per-merchant queue: past max_queued pending deliveries, new
        // ones are logged as dropped. The target never answers (port 9 on
        // loopback, retried slowly).
        let bounded = start(
            store.clone(),
            WebhookConfig::default()
                .allow_private_targets(true)
                .max_queued(3)
                .backoff(Duration::from_secs(60), Duration::from_secs(60)),
        )
        .await;
        let (_, key2, _) = bounded.merchant("queued").await;
        let (status, body) = call(
            &bounded,
            Method::POST,
            "/api/webhooks",
            Some(&key2),
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["pass.activated"]})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (_, who) = call(&bounded, Method::GET, "/api/l402/stats", Some(&key2), None).await;
        let mid = who["merchantId"].as_i64().unwrap();
        for n in 0..5 {
            let id = bounded
                .producer
                .emit(
                    mid,
                    EventKind::PassActivated,
                    &format!("pass-{n}"),
                    json!({"n": n}),
                )
                .await
                .unwrap();
            assert!(id.is_some());
        }
        // The same subject again: nothing new.
        assert_eq!(
            bounded
                .producer
                .emit(mid, EventKind::PassActivated, "pass-0", json!({}))
                .await
                .unwrap(),
            None
        );
        let entries = log(&bounded, &key2).await;
        assert_eq!(entries.len(), 5, "{entries:#?}");
        let dropped = entries.iter().filter(|d| d["state"] == "dropped").count();
        let pending = entries.iter().filter(|d| d["state"] == "pending").count();
        assert_eq!((pending, dropped), (3, 2), "{entries:#?}");
        // split.paid goes only to endpoints that take it: none here.
        assert!(
            bounded
                .producer
                .emit(mid, EventKind::SplitPaid, "payout-1", json!({}))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(log(&bounded, &key2).await.len(), 5);
    }
}

//! Webhooks through the real `l402 serve` on the dev node: a merchant
//! registers an endpoint (the Python receiver, which checks signatures with
//! Python's `hmac`), a buyer pays one of its challenges, and the node's
//! settlement notification alone (no verification call) brings
//! `payment.received` to the receiver, without the preimage. With the
//! receiver down, the next payment waits in the durable queue and arrives
//! once when it is back; verifying the tokens afterwards sends nothing more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;
#[path = "../../l402-producer/tests/webhooks_support/mod.rs"]
mod webhooks_support;

use std::time::Duration;

use l402_lightning::{PayRequest, Wallet};
use serde_json::{Value, json};
use serve_support::{dev_wallet, l402, start};
use webhooks_support::Receiver;

/// H5's port range (52500-52599).
const RECEIVER_PORT: u16 = 52530;

async fn cli_json(data: &std::path::Path, args: &[&str]) -> Value {
    let out = l402(data).args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn deliveries(http: &reqwest::Client, base: &str, key: &str) -> Vec<Value> {
    let v: Value = http
        .get(format!("{base}/api/webhooks/deliveries"))
        .header("X-Api-Key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["deliveries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlements_of_l402_serve_reach_the_merchants_webhook_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let merchant = cli_json(data, &["merchant", "create", "shop"]).await;
    let id = merchant["id"].as_i64().unwrap().to_string();
    let key = cli_json(data, &["merchant", "key", "create", &id]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let config = data.join("l402.toml");
    std::fs::write(
        &config,
        "[webhooks]\nallow_private_targets = true\nfirst_retry_secs = 1\nmax_retry_secs = 2\n",
    )
    .unwrap();
    let server = start(l402(data), &["--config", config.to_str().unwrap()]).await;
    let base = server.url();
    let http = reqwest::Client::new();

    let mut receiver = Receiver::start(RECEIVER_PORT);
    let created: Value = http
        .post(format!("{base}/api/webhooks"))
        .header("X-Api-Key", &key)
        .json(&json!({"url": receiver.url(), "events": ["payment.received"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receiver.set_secret(created["secret"].as_str().expect("a secret"));

    let buyer = dev_wallet(data);
    let buy = |resource: &'static str| {
        let (http, base, key, buyer) = (http.clone(), base.clone(), key.clone(), &buyer);
        async move {
            let c: Value = http
                .post(format!("{base}/api/l402/challenges"))
                .header("X-Api-Key", &key)
                .json(&json!({"resource": resource, "priceSats": 5}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let paid = buyer
                .pay(&PayRequest::new(c["invoice"].as_str().unwrap()))
                .await
                .unwrap();
            (c, paid.preimage.to_hex())
        }
    };

    // Paid: the settlement alone brings the event.
    let (c1, preimage1) = buy("/api/one").await;
    let h1 = c1["paymentHash"].as_str().unwrap().to_owned();
    let events = receiver
        .wait_for(30, |e| {
            e.iter().any(|e| e["data"]["paymentHash"] == h1.as_str())
        })
        .await;
    let event = events
        .iter()
        .find(|e| e["data"]["paymentHash"] == h1.as_str())
        .unwrap();
    assert_eq!(
        (event["type"].as_str(), event["data"]["amountSats"].as_u64()),
        (Some("payment.received"), Some(5))
    );
    assert!(
        receiver
            .log()
            .iter()
            .all(|l| !l["raw"].as_str().unwrap().contains(&preimage1))
    );

    // The receiver is down for the next payment.
    receiver.down();
    let (c2, preimage2) = buy("/api/two").await;
    let h2 = c2["paymentHash"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = deliveries(&http, &base, &key).await;
        if log
            .iter()
            .any(|d| d["state"] == "pending" && d["attempts"].as_u64().unwrap() >= 2)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{log:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    receiver.up();
    receiver
        .wait_for(30, |e| {
            e.iter().any(|e| e["data"]["paymentHash"] == h2.as_str())
        })
        .await;

    // Verifying the tokens now adds no event.
    for (c, preimage) in [(&c1, &preimage1), (&c2, &preimage2)] {
        let v: Value = http
            .post(format!("{base}/api/l402/challenges/verify"))
            .header("X-Api-Key", &key)
            .json(&json!({"macaroon": c["macaroon"], "preimage": preimage, "resource": c["resource"], "amountSats": 5}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["valid"], true, "{v}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = receiver.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(receiver.log().iter().all(|l| l["valid"] == true));
    let log = deliveries(&http, &base, &key).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:#?}");
    server.stop().await;
}

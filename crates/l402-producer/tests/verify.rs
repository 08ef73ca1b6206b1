//! `POST /api/l402/challenges/verify` without `amountSats`, as l402-express
//! 0.2.0 sends it (`macaroon`, `preimage`, `resource`): the token is checked
//! against the price of the merchant's most recent challenge for that
//! resource, and with no such challenge on record it is refused
//! (`amount_required`), never accepted at any price. Over real HTTP, with
//! the dev node, on SQLite and (when configured) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Server, start, stores};

use l402::{Caveat, Keyring, Minter, Preimage};
use serde_json::{Value, json};

const VERIFY: &str = "/api/l402/challenges/verify";

/// A challenge for `resource` at `price` (a fresh idempotency key each time),
/// paid: its macaroon and preimage.
async fn buy(s: &Server, key: &str, resource: &str, price: u64, order: &str) -> (String, String) {
    let c: Value = s
        .http
        .post(format!("{}/api/l402/challenges", s.base))
        .header("X-API-Key", key)
        .header("X-Idempotency-Key", order)
        .json(&json!({"resource": resource, "priceSats": price}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["priceSats"], price, "{c}");
    let preimage = s.pay(c["invoice"].as_str().unwrap()).await;
    (c["macaroon"].as_str().unwrap().to_owned(), preimage)
}

/// What l402-express 0.2.0 sends: no `amountSats`.
fn express(mac: &str, preimage: &str, resource: &str) -> Value {
    json!({"macaroon": mac, "preimage": preimage, "resource": resource})
}

#[tokio::test]
async fn l402_express_shape_verifies_at_the_current_price() {
    for (store, _keep) in stores("express").await {
        let backend = store.backend();
        let s = start(store).await;
        let (mid, key, _) = s.merchant("weather").await;
        let (mac, pre) = buy(&s, &key, "/api/premium/weather", 100, "o-1").await;

        let (status, v) = s
            .post(
                VERIFY,
                Some(&key),
                express(&mac, &pre, "/api/premium/weather"),
            )
            .await;
        assert_eq!(status, 200, "{backend}");
        assert_eq!(v["valid"], true, "{backend}: {v}");
        assert_eq!(v["amountSats"], 100, "{backend}: {v}");
        assert_eq!(v["merchantId"], mid);
        assert_eq!(v["resource"], "/api/premium/weather");

        // The resource is still checked: another resource is refused.
        let (_, v) = s
            .post(VERIFY, Some(&key), express(&mac, &pre, "/api/other"))
            .await;
        assert_eq!(v["valid"], false, "{backend}: {v}");
        // …and without a resource, fail closed as before.
        let (_, v) = s
            .post(
                VERIFY,
                Some(&key),
                json!({"macaroon": mac, "preimage": pre}),
            )
            .await;
        assert_eq!(
            (v["valid"].clone(), v["code"].clone()),
            (json!(false), json!("resource_required")),
            "{backend}: {v}"
        );
    }
}

#[tokio::test]
async fn a_token_bought_before_a_price_rise_is_refused_without_amount() {
    for (store, _keep) in stores("price_rise").await {
        let backend = store.backend();
        let s = start(store).await;
        let (_, key, _) = s.merchant("weather").await;
        let (old_mac, old_pre) = buy(&s, &key, "/api/weather", 10, "o-1").await;
        // The merchant raises the price (within the same second, too).
        let (new_mac, new_pre) = buy(&s, &key, "/api/weather", 20, "o-2").await;

        let (_, v) = s
            .post(
                VERIFY,
                Some(&key),
                express(&old_mac, &old_pre, "/api/weather"),
            )
            .await;
        let code = l402::VerifyError::Caveat(l402::CaveatError::WrongAmount {
            paid: 10,
            price: 20,
        })
        .code();
        assert_eq!(
            (v["valid"].clone(), v["code"].clone()),
            (json!(false), json!(code)),
            "{backend}: {v}"
        );
        let (_, v) = s
            .post(
                VERIFY,
                Some(&key),
                express(&new_mac, &new_pre, "/api/weather"),
            )
            .await;
        assert_eq!(v["valid"], true, "{backend}: {v}");
        assert_eq!(v["amountSats"], 20);

        // A price the seller states is the price checked.
        let (_, v) = s
            .post(
                VERIFY,
                Some(&key),
                json!({"macaroon": old_mac, "preimage": old_pre, "resource": "/api/weather", "amountSats": 10}),
            )
            .await;
        assert_eq!(v["valid"], true, "{backend}: {v}");
    }
}

#[tokio::test]
async fn no_challenge_on_record_means_amount_required() {
    for (store, _keep) in stores("no_record").await {
        let backend = store.backend();
        let s = start(store).await;
        let (mid, key, _) = s.merchant("a").await;
        let (_, other_key, _) = s.merchant("b").await;
        // Another merchant's challenge for the same resource prices nothing
        // for this one.
        buy(&s, &other_key, "/api/weather", 7, "o-1").await;

        // A genuine token of this merchant (same keys as the server) whose
        // challenge is not on record (pruned, or recorded elsewhere).
        let pre = Preimage::from([3u8; 32]);
        let mac = Minter::new(Keyring::new(1, [7; 32]))
            .mint(
                pre.payment_hash(),
                &[
                    Caveat::merchant(&mid.to_string()),
                    Caveat::resource("/api/weather"),
                    Caveat::amount_sats(7),
                ],
            )
            .unwrap()
            .to_string();
        let (status, v) = s
            .post(
                VERIFY,
                Some(&key),
                express(&mac, &pre.to_hex(), "/api/weather"),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            (v["valid"].clone(), v["code"].clone()),
            (json!(false), json!("amount_required")),
            "{backend}: {v}"
        );
        assert!(
            v["error"].as_str().unwrap().contains("amountSats"),
            "{backend}: {v}"
        );
        // With the price stated, the same token is valid.
        let (_, v) = s
            .post(
                VERIFY,
                Some(&key),
                json!({"macaroon": mac, "preimage": pre.to_hex(), "resource": "/api/weather", "amountSats": 7}),
            )
            .await;
        assert_eq!(v["valid"], true, "{backend}: {v}");
    }
}

#[tokio::test]
async fn a_store_failure_while_pricing_answers_503_not_valid() {
    let (store, _dir) = support::sqlite_store().await;
    let s = support::start_custom(store.clone(), None, |b| {
        b.key_cache_ttl(std::time::Duration::from_secs(60))
    })
    .await;
    let (_, key, _) = s.merchant("m").await;
    let (mac, pre) = buy(&s, &key, "/api/weather", 5, "o-1").await;
    // The key is cached now; the store goes away.
    store.close().await;
    let (status, v) = s
        .post(VERIFY, Some(&key), express(&mac, &pre, "/api/weather"))
        .await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["code"], "store_unavailable");
    // With the price stated, verification needs no database.
    let (status, v) = s
        .post(
            VERIFY,
            Some(&key),
            json!({"macaroon": mac, "preimage": pre, "resource": "/api/weather", "amountSats": 5}),
        )
        .await;
    assert_eq!((status, v["valid"].clone()), (200, json!(true)), "{v}");
}

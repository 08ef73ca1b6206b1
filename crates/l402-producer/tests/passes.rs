//! Passes over real HTTP (SQLite, and PostgreSQL when configured): buy a
//! pass with l402kit's `/api/dev-token` shapes, use it across requests
//! until it expires; a token signed with another key, l402kit's unsigned
//! JSON "macaroon", a wrong preimage and an expired pass are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use l402::{Caveat, Keyring};
use l402_lightning::{PayRequest, Wallet};
use l402_producer::PassConfig;
use l402_server::{Issuer, Offer};
use serde_json::{Value, json};
use support::{Server, start_custom, stores};

const HOLDER: &str = "alice@pay.example.com";

async fn get(server: &Server, path: &str, auth: Option<&str>) -> (u16, Value) {
    let mut req = server.http.get(format!("{}{path}", server.base));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn pay(server: &Server, invoice: &str) -> String {
    let buyer = server.node.wallet("buyer").await.unwrap();
    buyer.credit_sats(1_000).await.unwrap();
    buyer
        .pay(&PayRequest::new(invoice))
        .await
        .unwrap()
        .preimage
        .to_hex()
}

#[tokio::test]
async fn a_pass_is_bought_used_until_it_expires_and_forgeries_are_refused() {
    for (store, _keep) in stores("passes").await {
        let server = start_custom(store, None, |b| {
            b.passes(
                PassConfig::default()
                    .price_sats(50)
                    .duration(Duration::from_secs(4)),
            )
        })
        .await;
        let check = format!("/api/pro-check?address={}", HOLDER.replace('@', "%40"));
        let (s, body) = get(&server, &check, None).await;
        assert_eq!((s, body), (200, json!({"active": false})));
        let (s, body) = get(&server, "/api/pro-check?address=not-an-address", None).await;
        assert_eq!((s, body["field"].as_str()), (400, Some("address")));

        // Buy: l402kit's shapes, a signed macaroon with an expiry caveat.
        let offer = format!("/api/dev-token?address={HOLDER}");
        let (s, offer_body) = get(&server, &offer, None).await;
        assert_eq!(s, 200, "{offer_body}");
        assert_eq!(offer_body["access"], false);
        assert_eq!(offer_body["priceSats"], 50);
        let macaroon = offer_body["macaroon"].as_str().unwrap().to_owned();
        let parsed: l402::Macaroon = macaroon.parse().unwrap();
        assert!(
            parsed.caveats().any(|c| c.starts_with(b"valid_until=")),
            "the pass token carries its expiry"
        );
        let preimage = pay(&server, offer_body["invoice"].as_str().unwrap()).await;
        let (s, activated) = server
            .post(
                "/api/dev-token",
                None,
                json!({"macaroon": macaroon, "preimage": preimage}),
            )
            .await;
        assert_eq!(s, 200, "{activated}");
        assert_eq!(activated["access"], true);
        let expires = activated["expiresAt"].as_str().unwrap().to_owned();
        let (s, body) = get(&server, &check, None).await;
        assert_eq!(
            (s, &body["active"], &body["expiresAt"]),
            (200, &json!(true), &json!(expires))
        );
        let (_, again) = get(&server, &offer, None).await;
        assert_eq!(again, json!({"access": true, "expiresAt": expires}));
        // Activating twice changes nothing.
        let (s, twice) = server
            .post(
                "/api/dev-token",
                None,
                json!({"macaroon": macaroon, "preimage": preimage}),
            )
            .await;
        assert_eq!((s, &twice["expiresAt"]), (200, &json!(expires)));

        // Used across requests.
        let auth = format!("L402 {macaroon}:{preimage}");
        for _ in 0..3 {
            let (s, used) = get(&server, "/api/pass", Some(&auth)).await;
            assert_eq!((s, &used["access"]), (200, &json!(true)), "{used}");
        }

        // Forgeries: a wrong preimage, another key, l402kit's unsigned JSON.
        let wrong = format!("L402 {macaroon}:{}", "00".repeat(32));
        let (s, body) = get(&server, "/api/pass", Some(&wrong)).await;
        assert_eq!((s, &body["access"]), (401, &json!(false)), "{body}");
        let other = Issuer::builder(
            Arc::new(server.node.wallet("forger").await.unwrap()),
            Keyring::new(1, [9; 32]),
        )
        .token_lifetime(Duration::from_secs(3600))
        .build();
        let forged = other
            .issue(&Offer::new("*", 50).caveat(Caveat::merchant("0")))
            .await
            .unwrap();
        let forged_pre = pay(&server, &forged.challenge.invoice).await;
        let (s, body) = server
            .post(
                "/api/dev-token",
                None,
                json!({"macaroon": forged.challenge.macaroon, "preimage": forged_pre}),
            )
            .await;
        assert_eq!((s, &body["access"]), (401, &json!(false)), "{body}");
        let kit = base64::engine::general_purpose::STANDARD.encode(
            json!({"hash": forged.payment_hash.to_string(), "exp": 9_999_999_999_999u64, "address": HOLDER})
                .to_string(),
        );
        let (s, body) = server
            .post(
                "/api/dev-token",
                None,
                json!({"macaroon": kit, "preimage": forged_pre}),
            )
            .await;
        assert_eq!(
            (s, &body["code"]),
            (401, &json!("malformed_macaroon")),
            "{body}"
        );

        // Expired: refused as a credential, and no longer active.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (s, body) = get(&server, "/api/pass", Some(&auth)).await;
        assert_eq!((s, &body["code"]), (401, &json!("token_expired")), "{body}");
        let (s, body) = get(&server, &check, None).await;
        assert_eq!((s, body), (200, json!({"active": false})));
    }
}

/// `POST /api/l402/challenges/verify` as `key`, for `resource`.
async fn verify(server: &Server, key: &str, token: (&str, &str), resource: &str) -> Value {
    let (s, body) = server
        .post(
            "/api/l402/challenges/verify",
            Some(key),
            // The price of a per-request token; a pass is priced by itself.
            json!({"macaroon": token.0, "preimage": token.1, "resource": resource, "amountSats": 50}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body
}

#[tokio::test]
async fn a_pass_verifies_for_its_merchants_routes_and_nowhere_else_until_it_expires() {
    for (store, _keep) in stores("passes_verify").await {
        // Merchant 1 sells passes for all of its routes.
        let server = start_custom(store, None, |b| {
            b.passes(
                PassConfig::default()
                    .price_sats(50)
                    .merchant(1)
                    .duration(Duration::from_secs(4)),
            )
        })
        .await;
        let (seller, seller_key, _) = server.merchant("seller").await;
        assert_eq!(seller, 1);
        let (_, other_key, _) = server.merchant("other").await;
        let (s, offer) = get(&server, &format!("/api/dev-token?address={HOLDER}"), None).await;
        assert_eq!(s, 200, "{offer}");
        let macaroon = offer["macaroon"].as_str().unwrap().to_owned();
        let preimage = pay(&server, offer["invoice"].as_str().unwrap()).await;
        let token = (macaroon.as_str(), preimage.as_str());

        // Any route of the seller, no price asked: the pass opens them all.
        for route in ["/api/weather", "/api/forecast/7d"] {
            let body = verify(&server, &seller_key, token, route).await;
            assert_eq!(body["valid"], true, "{body}");
            assert_eq!(body["pass"], true, "{body}");
            assert_eq!(body["resource"], route, "{body}");
            assert_eq!(body["scope"], "*", "{body}");
        }
        // Not another merchant's, not l402kit's (merchant 0), not unpaid.
        let body = verify(&server, &other_key, token, "/api/weather").await;
        assert_eq!(
            (&body["valid"], &body["code"]),
            (&json!(false), &json!("wrong_merchant")),
            "{body}"
        );
        let (s, body) = server
            .post(
                "/api/verify",
                None,
                json!({"token": format!("{macaroon}:{preimage}")}),
            )
            .await;
        assert_eq!((s, &body["valid"]), (200, &json!(false)), "{body}");
        let wrong = "00".repeat(32);
        let body = verify(&server, &seller_key, (&macaroon, &wrong), "/api/weather").await;
        assert_eq!(body["valid"], false, "{body}");

        // Expired: refused.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let body = verify(&server, &seller_key, token, "/api/weather").await;
        assert_eq!(
            (&body["valid"], &body["code"]),
            (&json!(false), &json!("token_expired")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_pass_of_merchant_0_verifies_at_l402kits_verify_and_a_scoped_pass_only_for_its_route() {
    // The server's own passes (merchant 0): l402kit's verify takes them.
    let (store, _dir) = support::sqlite_store().await;
    let server = start_custom(store, None, |b| {
        b.passes(PassConfig::default().price_sats(20))
    })
    .await;
    let (s, offer) = get(&server, &format!("/api/dev-token?address={HOLDER}"), None).await;
    assert_eq!(s, 200, "{offer}");
    let macaroon = offer["macaroon"].as_str().unwrap();
    let preimage = pay(&server, offer["invoice"].as_str().unwrap()).await;
    let (s, body) = server
        .post(
            "/api/verify",
            None,
            json!({"token": format!("L402 {macaroon}:{preimage}")}),
        )
        .await;
    assert_eq!((s, &body["valid"]), (200, &json!(true)), "{body}");
    // A merchant's verify never accepts merchant 0's pass.
    let (_, key, _) = server.merchant("m").await;
    let body = verify(&server, &key, (macaroon, &preimage), "/api/pro").await;
    assert_eq!(body["valid"], false, "{body}");

    // Merchant 1's pass for one route: that route only.
    let (store, _dir) = support::sqlite_store().await;
    let server = start_custom(store, None, |b| {
        b.passes(
            PassConfig::default()
                .price_sats(20)
                .merchant(1)
                .scope("/api/pro"),
        )
    })
    .await;
    let (_, key, _) = server.merchant("m").await;
    let (_, offer) = get(&server, &format!("/api/dev-token?address={HOLDER}"), None).await;
    let macaroon = offer["macaroon"].as_str().unwrap();
    let preimage = pay(&server, offer["invoice"].as_str().unwrap()).await;
    let body = verify(&server, &key, (macaroon, &preimage), "/api/pro").await;
    assert_eq!(
        (&body["valid"], &body["pass"]),
        (&json!(true), &json!(true)),
        "{body}"
    );
    let body = verify(&server, &key, (macaroon, &preimage), "/api/other").await;
    assert_eq!(
        (&body["valid"], &body["code"]),
        (&json!(false), &json!("wrong_resource")),
        "{body}"
    );
}

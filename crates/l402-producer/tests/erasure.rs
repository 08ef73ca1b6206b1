//! `POST /api/delete-data` erases exactly the records of the identity that
//! authenticated (an API key's merchant, or a session's key and the merchant
//! it is linked to), and another identity's data survives; over real HTTP on
//! SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use l402_store::{ChallengeRecord, ChallengeStore, PaymentRecord, PaymentStore, Store};
use serde_json::{Value, json};
use support::{Server, start, stores};

fn now() -> u64 {
    l402_server::unix_now()
}

async fn paid(store: &Store, merchant: i64, n: u64) {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(format!("erase-{merchant}-{n}")));
    store
        .record_challenge(&ChallengeRecord {
            payment_hash: hash.clone(),
            merchant_id: merchant,
            api: "l402".into(),
            resource: "/api/r".into(),
            amount_sats: 10,
            description: None,
            owner_address: Some(format!("m{merchant}@example.com")),
            invoice: "lnbcrt1...".into(),
            macaroon: "AgE...".into(),
            expires_at: now() + 600,
            created_at: now(),
        })
        .await
        .unwrap();
    store
        .record_payment(&PaymentRecord {
            payment_hash: hash,
            merchant_id: merchant,
            resource: Some("/api/r".into()),
            amount_sats: 10,
            verified_at: now(),
        })
        .await
        .unwrap();
}

/// Logs in with LNURL-auth (signed by the secp256k1 crate): the session token and key.
async fn login(s: &Server, secret: u8) -> (String, String) {
    s.login(secret).await
}

async fn get(s: &Server, path: &str, key: Option<&str>, bearer: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(format!("{}{path}", s.base));
    if let Some(key) = key {
        req = req.header("X-Api-Key", key);
    }
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn delete_data(
    s: &Server,
    key: Option<&str>,
    bearer: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = s
        .http
        .post(format!("{}/api/delete-data", s.base))
        .json(&body);
    if let Some(key) = key {
        req = req.header("X-Api-Key", key);
    }
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn link(s: &Server, merchant: i64, key: &str) {
    let (status, body) = s
        .admin(
            reqwest::Method::POST,
            &format!("/api/admin/merchants/{merchant}/linking-keys"),
            Some(json!({"key": key})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn total(s: &Server, key: &str) -> u64 {
    let (status, body) = get(s, "/api/stats", Some(key), None).await;
    assert_eq!(status, 200, "{body}");
    body["totalPayments"].as_u64().unwrap()
}

#[tokio::test]
async fn an_api_key_erases_its_merchants_records_only() {
    for (store, _keep) in stores("erase_key").await {
        let s = start(store.clone()).await;
        let (a, key_a, _) = s.merchant("a").await;
        let (b, key_b, _) = s.merchant("b").await;
        for n in 0..3 {
            paid(&store, a, n).await;
        }
        for n in 0..2 {
            paid(&store, b, n).await;
        }
        let (status, body) = delete_data(&s, None, None, json!({})).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
        // l402kit's body named an address anyone could erase: here it names nothing.
        let (status, body) = delete_data(
            &s,
            Some(&key_a),
            None,
            json!({"lightningAddress": "m2@example.com"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ok"], true);
        assert_eq!(body["paymentsDeleted"], 3);
        assert_eq!(body["challengesDeleted"], 3);
        assert_eq!(body["proDeleted"], 0);
        assert_eq!(total(&s, &key_a).await, 0);
        // b's data survives, and its stats are whole.
        assert_eq!(total(&s, &key_b).await, 2);
        assert_eq!(store.stats(Some(b)).await.unwrap().payments, 2);
        let (_, g) = get(&s, "/api/global-stats", None, None).await;
        assert_eq!(g["count"], 2);
        // Again: nothing left to erase.
        let (_, body) = delete_data(&s, Some(&key_a), None, json!({})).await;
        assert_eq!(body["paymentsDeleted"], 0);
    }
}

#[tokio::test]
async fn a_session_erases_its_key_and_merchant_and_nothing_of_another_identity() {
    for (store, _keep) in stores("erase_session").await {
        let s = start(store.clone()).await;
        let (a, key_a, _) = s.merchant("a").await;
        let (b, key_b, _) = s.merchant("b").await;
        paid(&store, a, 1).await;
        paid(&store, b, 1).await;
        let (token_a, pub_a) = login(&s, 0x21).await;
        let (token_a2, _) = login(&s, 0x21).await;
        let (token_b, pub_b) = login(&s, 0x22).await;
        link(&s, a, &pub_a).await;
        link(&s, b, &pub_b).await;
        assert_eq!(get(&s, "/api/stats", None, Some(&token_a)).await.0, 200);

        let (status, body) = delete_data(&s, None, Some(&token_a), json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["paymentsDeleted"], 1);
        assert_eq!(body["sessionsDeleted"], 2);
        assert_eq!(body["linkingKeysDeleted"], 1);
        // Both of the key's sessions are gone, and its link.
        for token in [&token_a, &token_a2] {
            let (status, body) = get(&s, "/api/stats", None, Some(token)).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (401, Some("invalid_session"))
            );
        }
        let (_, keys) = s
            .admin(
                reqwest::Method::GET,
                &format!("/api/admin/merchants/{a}/linking-keys"),
                None,
            )
            .await;
        assert_eq!(keys["keys"], json!([]));
        // Merchant a keeps its account and key (with no payments left).
        assert_eq!(total(&s, &key_a).await, 0);
        // The other identity is untouched: session, link and payments.
        assert_eq!(get(&s, "/api/stats", None, Some(&token_b)).await.0, 200);
        assert_eq!(total(&s, &key_b).await, 1);

        // A session whose key is linked to no merchant erases its sessions only.
        let (token_c, _) = login(&s, 0x23).await;
        let (status, body) = delete_data(&s, None, Some(&token_c), json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["paymentsDeleted"].as_u64(),
                body["sessionsDeleted"].as_u64()
            ),
            (Some(0), Some(1))
        );
        assert_eq!(total(&s, &key_b).await, 1);
        // A revoked or unknown session cannot erase anything.
        let (status, body) = delete_data(&s, None, Some(&token_a), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_session"))
        );
    }
}

#[tokio::test]
async fn l402kits_body_token_erases_its_sessions_identity_and_the_address_names_nothing() {
    for (store, _keep) in stores("erase_body").await {
        let s = start(store.clone()).await;
        let (a, key_a, _) = s.merchant("a").await;
        let (b, key_b, _) = s.merchant("b").await;
        paid(&store, a, 1).await;
        paid(&store, b, 1).await;
        let (token_a, pub_a) = login(&s, 0x31).await;
        let (token_b, pub_b) = login(&s, 0x32).await;
        link(&s, a, &pub_a).await;
        link(&s, b, &pub_b).await;

        // l402kit's shape: {lightningAddress, token}, no header. The address
        // (b's, say) is ignored: the session says whose data goes.
        let body = json!({"lightningAddress": "b@example.com", "token": token_a});
        let (status, erased) = delete_data(&s, None, None, body).await;
        assert_eq!(status, 200, "{erased}");
        assert_eq!(erased["paymentsDeleted"], 1);
        assert_eq!(erased["sessionsDeleted"], 1);
        assert_eq!(total(&s, &key_a).await, 0);
        assert_eq!(total(&s, &key_b).await, 1);
        assert_eq!(get(&s, "/api/stats", None, Some(&token_b)).await.0, 200);
        // Used up: the same token erases nothing more.
        let body = json!({"token": token_a});
        let (status, refused) = delete_data(&s, None, None, body).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (401, Some("invalid_session"))
        );
        // A header that does not authenticate is refused as it is, whatever
        // the body says; a body without a token, or a bad one, is named.
        let body = json!({"token": token_b});
        let (status, refused) = delete_data(&s, Some("l402_sk_wrong"), None, body).await;
        assert_eq!(status, 401, "{refused}");
        assert_eq!(total(&s, &key_b).await, 1);
        let (status, refused) =
            delete_data(&s, None, None, json!({"lightningAddress": "b@example.com"})).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (401, Some("unauthorized"))
        );
        let (status, refused) = delete_data(&s, None, None, json!({"token": 7})).await;
        assert_eq!(
            (status, refused["field"].as_str()),
            (400, Some("token")),
            "{refused}"
        );
        let (status, refused) = delete_data(&s, None, None, json!({"name": "x"})).await;
        assert_eq!(status, 400, "{refused}");
    }
}

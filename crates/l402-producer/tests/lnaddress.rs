//! Receiving by Lightning Address over real HTTP, on SQLite and PostgreSQL:
//! LUD-16's `/.well-known/lnurlp/{username}`, LUD-06's callback minting
//! through the dev node, the invoice decoded with the core's decoder
//! (amount, description hash = sha256(metadata)) and paid; LUD-06 errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::str::FromStr;

use l402::invoice::Invoice;
use l402_lightning::{PayRequest, Wallet};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Server, start, stores};

async fn get(server: &Server, url: &str) -> (u16, Value) {
    let resp = server.http.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn bind(server: &Server, merchant: i64, username: &str) -> (u16, Value) {
    server
        .admin(
            Method::POST,
            &format!("/api/admin/merchants/{merchant}/lightning-address"),
            Some(json!({"username": username})),
        )
        .await
}

#[tokio::test]
async fn a_lightning_address_mints_invoices_committing_to_its_metadata() {
    for (store, _keep) in stores("lnaddress").await {
        let server = start(store).await;
        let (merchant, _, _) = server.merchant("alice's shop").await;
        let (s, bound) = bind(&server, merchant, "alice").await;
        assert_eq!(s, 201, "{bound}");
        let host = server.base.trim_start_matches("http://");
        assert_eq!(bound["address"], format!("alice@{host}"));

        let (s, pay) = get(
            &server,
            &format!("{}/.well-known/lnurlp/alice", server.base),
        )
        .await;
        assert_eq!(s, 200, "{pay}");
        assert_eq!(pay["tag"], "payRequest");
        assert_eq!(pay["minSendable"], 1000);
        assert_eq!(pay["maxSendable"], 100_000_000_000u64);
        let metadata = pay["metadata"].as_str().unwrap();
        let entries: Value = serde_json::from_str(metadata).unwrap();
        assert!(
            entries
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e[0] == "text/identifier" && e[1] == format!("alice@{host}")),
            "{metadata}"
        );
        let callback = pay["callback"].as_str().unwrap();
        assert!(callback.starts_with(&server.base), "{callback}");

        let (s, answer) = get(&server, &format!("{callback}?amount=21000")).await;
        assert_eq!(s, 200, "{answer}");
        assert_eq!(answer["routes"], json!([]));
        let pr = answer["pr"].as_str().unwrap();
        let invoice = Invoice::from_str(pr).unwrap();
        assert_eq!(invoice.amount_msat(), Some(21_000));
        let expected: [u8; 32] = Sha256::digest(metadata.as_bytes()).into();
        assert_eq!(invoice.description_hash(), Some(expected));
        assert_eq!(invoice.description(), None);

        // The invoice is the merchant's, on the configured backend: it pays.
        let buyer = server.node.wallet("buyer").await.unwrap();
        buyer.credit_sats(1_000).await.unwrap();
        let paid = buyer.pay(&PayRequest::new(pr)).await.unwrap();
        assert_eq!(paid.payment_hash, invoice.payment_hash());

        // Recorded as the merchant's challenge before it was answered.
        server.producer.flush().await.unwrap();
        let (s, stats) = server.admin(Method::GET, "/api/admin/stats", None).await;
        assert_eq!(s, 200);
        let mine = stats["byMerchant"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["merchantId"] == merchant)
            .cloned()
            .unwrap_or_default();
        assert_eq!(mine["challengedSats"], 21, "{stats}");
    }
}

#[tokio::test]
async fn lud06_errors_name_what_was_wrong() {
    let (store, _dir) = support::sqlite_store().await;
    let server = start(store).await;
    let (merchant, _, _) = server.merchant("shop").await;
    assert_eq!(bind(&server, merchant, "bob").await.0, 201);
    for bad in ["Bob", "b/b", "", "a b"] {
        let (s, body) = bind(&server, merchant, bad).await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert_eq!(body["field"], "username");
    }
    assert_eq!(bind(&server, 999, "carol").await.0, 404);

    let (s, body) = get(
        &server,
        &format!("{}/.well-known/lnurlp/nobody", server.base),
    )
    .await;
    assert_eq!((s, body["status"].as_str()), (404, Some("ERROR")), "{body}");
    assert_eq!(body["code"], "unknown_username");
    assert!(body["reason"].as_str().unwrap().contains("username"));

    let callback = format!("{}/api/lnurlp/bob/callback", server.base);
    for (query, code) in [
        ("", "missing_field"),
        ("?amount=abc", "invalid_amount"),
        ("?amount=999", "invalid_amount"),
        ("?amount=1500", "invalid_amount"),
        ("?amount=-1000", "invalid_amount"),
        ("?amount=100000000001000", "invalid_amount"),
        ("?amount=99999999999999999999999", "invalid_amount"),
        ("?amount=1000&amount=2000", "duplicate_parameter"),
    ] {
        let (s, body) = get(&server, &format!("{callback}{query}")).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert_eq!(body["status"], "ERROR", "{query}");
        assert_eq!(body["code"], code, "{query}: {body}");
        assert!(!body["reason"].as_str().unwrap().is_empty());
    }
    let (s, body) = get(
        &server,
        &format!("{}/api/lnurlp/nobody/callback?amount=1000", server.base),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (404, Some("unknown_username")));

    // A suspended merchant's address stops receiving.
    let (s, _) = server
        .admin(
            Method::POST,
            &format!("/api/admin/merchants/{merchant}/status"),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = get(&server, &format!("{callback}?amount=1000")).await;
    assert_eq!((s, body["status"].as_str()), (403, Some("ERROR")), "{body}");
}

#[tokio::test]
async fn a_lightning_address_commits_to_its_metadata_on_lnd_cln_and_phoenixd() {
    use std::sync::Arc;

    use l402_lightning::Receiver;
    use l402_lightning::dev::DevNode;
    use l402_testkit::{FakeCln, FakeLnd, FakePhoenixd};

    // Each backend as its node takes a description hash: LND and phoenixd
    // the hash, Core Lightning the metadata itself (`deschashonly`).
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let wallet = || async { node.wallet("merchant").await.unwrap() };
    let backends: Vec<(&str, Arc<dyn Receiver>)> = vec![
        (
            "lnd",
            Arc::new(FakeLnd::start(wallet().await).await.authorized()),
        ),
        (
            "cln",
            Arc::new(FakeCln::start(wallet().await).await.authorized()),
        ),
        (
            "phoenixd",
            Arc::new(FakePhoenixd::start(wallet().await).await.authorized()),
        ),
    ];
    for (name, receiver) in backends {
        let (store, _dir) = support::sqlite_store().await;
        let server = support::start_custom(store, Some(receiver), |b| b).await;
        let (merchant, _, _) = server.merchant("shop").await;
        assert_eq!(bind(&server, merchant, "alice").await.0, 201);
        let (s, pay) = get(
            &server,
            &format!("{}/.well-known/lnurlp/alice", server.base),
        )
        .await;
        assert_eq!(s, 200, "{name}: {pay}");
        let metadata = pay["metadata"].as_str().unwrap();
        let callback = pay["callback"].as_str().unwrap();
        let (s, answer) = get(&server, &format!("{callback}?amount=21000")).await;
        assert_eq!(s, 200, "{name}: {answer}");
        let invoice = Invoice::from_str(answer["pr"].as_str().unwrap()).unwrap();
        let expected: [u8; 32] = Sha256::digest(metadata.as_bytes()).into();
        assert_eq!(invoice.description_hash(), Some(expected), "{name}");
        assert_eq!(invoice.amount_msat(), Some(21_000), "{name}");
    }
}

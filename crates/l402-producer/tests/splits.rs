//! Splits over real HTTP: a producer pays owners' Lightning Addresses
//! served by a second producer (both on one dev node, so payments route),
//! through its durable payout queue; invoices from a hand-made LNURL server
//! that get the amount or the description hash wrong are refused and
//! nothing is paid; a payout recorded before a crash is looked up after the
//! restart, never paid twice. On SQLite, and PostgreSQL when configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::get;
use l402_lightning::dev::{DevNode, DevWallet};
use l402_lightning::{InvoiceRequest, PayRequest, Receiver, Wallet};
use l402_producer::SplitsConfig;
use l402_store::{PayoutState, PayoutStore, Store};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Server, start_custom, stores};

const SECRET: &str = "split-secret-for-tests-0123456789";

fn splits(wallet: &DevWallet) -> SplitsConfig {
    SplitsConfig::new(Arc::new(wallet.clone()))
        .operator_fee_bps(30)
        .min_payout_sats(10)
        .secret(SECRET)
        .allow_http(true)
        .retry_after(Duration::from_millis(100))
        .max_attempts(3)
        .poll_interval(Duration::from_millis(50))
}

/// The producer receiving at `bob@<host>`, minting on `node`.
async fn owner_server(node: &DevNode, store: Arc<Store>) -> (Server, String) {
    let receiver: Arc<dyn Receiver> = Arc::new(node.wallet("bob").await.unwrap());
    let server = start_custom(store, Some(receiver), |b| b).await;
    let (merchant, _, _) = server.merchant("bob's").await;
    let (s, body) = server
        .admin(
            Method::POST,
            &format!("/api/admin/merchants/{merchant}/lightning-address"),
            Some(json!({"username": "bob"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let address = body["address"].as_str().unwrap().to_owned();
    (server, address)
}

async fn split(server: &Server, secret: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = server
        .http
        .post(format!("{}/api/split", server.base))
        .json(&body);
    if let Some(secret) = secret {
        req = req.header("x-split-secret", secret);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn payout(server: &Server, id: &str) -> Value {
    let (s, list) = server.admin(Method::GET, "/api/admin/payouts", None).await;
    assert_eq!(s, 200, "{list}");
    list["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn wait_state(server: &Server, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = payout(server, id).await;
        if p["state"] == state {
            return p;
        }
        assert!(Instant::now() < deadline, "payout never {state}: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn balance(wallet: &DevWallet) -> u64 {
    wallet.balance_msat().await.unwrap()
}

#[tokio::test]
async fn a_split_is_paid_to_a_lightning_address_of_another_server() {
    for (store, _keep) in stores("splits_paid").await {
        let node = DevNode::builder().in_memory().open().await.unwrap();
        let (owner_store, _dir) = support::sqlite_store().await;
        let (_owner, address) = owner_server(&node, owner_store).await;
        let operator = node.wallet("operator").await.unwrap();
        operator.credit_sats(10_000).await.unwrap();
        let bob = node.wallet("bob").await.unwrap();
        let payer = start_custom(store, None, |b| b.splits(splits(&operator))).await;

        // Refused without, or with a wrong, secret; bad input named.
        let body = json!({"amountSats": 1000, "ownerAddress": address});
        assert_eq!(split(&payer, None, body.clone()).await.0, 401);
        let (s, e) = split(&payer, Some("wrong"), body.clone()).await;
        assert_eq!((s, e["code"].as_str()), (401, Some("unauthorized")));
        let (s, e) = split(
            &payer,
            Some(SECRET),
            json!({"amountSats": 1000, "ownerAddress": "nope"}),
        )
        .await;
        assert_eq!((s, e["field"].as_str()), (400, Some("ownerAddress")), "{e}");
        assert_eq!(balance(&operator).await, 10_000_000, "nothing moved");

        // 1000 sats, 0.3% fee: 997 to the owner, once.
        let (before_op, before_bob) = (balance(&operator).await, balance(&bob).await);
        let (s, answer) = split(&payer, Some(SECRET), body).await;
        assert_eq!(s, 200, "{answer}");
        assert_eq!(answer["ok"], true);
        assert_eq!(answer["ownerSats"], 997);
        let id = answer["payoutId"].as_str().unwrap();
        let paid = wait_state(&payer, id, "paid").await;
        assert_eq!(paid["amountSats"], 997);
        assert_eq!(balance(&bob).await - before_bob, 997_000);
        assert_eq!(before_op - balance(&operator).await, 997_000);
        // Working the queue again pays nothing more.
        payer.producer.run_payouts().await;
        assert_eq!(balance(&bob).await - before_bob, 997_000);

        // Below the minimum it accrues; the accrual is paid once it is reached.
        let small = json!({"amountSats": 5, "ownerAddress": address});
        let (s, a) = split(&payer, Some(SECRET), small.clone()).await;
        assert_eq!(
            (s, &a["skipped"], &a["accruedSats"]),
            (200, &json!(true), &json!(5)),
            "{a}"
        );
        let (s, b) = split(&payer, Some(SECRET), small).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["payoutSats"], 10, "{b}");
        wait_state(&payer, b["payoutId"].as_str().unwrap(), "paid").await;
        assert_eq!(balance(&bob).await - before_bob, 1_007_000);
    }
}

#[derive(Clone)]
struct Bad {
    mode: &'static str,
    wallet: Arc<DevWallet>,
    base: Arc<std::sync::Mutex<String>>,
}

const METADATA: &str = r#"[["text/plain","mallory"],["text/identifier","mallory@evil"]]"#;

/// A hand-made LNURL server whose callback gets one thing wrong.
async fn bad_server(node: &DevNode, mode: &'static str) -> String {
    let wallet = Arc::new(node.wallet(&format!("mallory-{mode}")).await.unwrap());
    let state = Bad {
        mode,
        wallet,
        base: Arc::default(),
    };
    let app = axum::Router::new()
        .route(
            "/.well-known/lnurlp/mallory",
            get(|State(s): State<Bad>| async move {
                let base = s.base.lock().unwrap().clone();
                axum::Json(json!({
                    "tag": "payRequest",
                    "callback": format!("{base}/cb"),
                    "minSendable": 1000,
                    "maxSendable": if s.mode == "max" { 5000 } else { 100_000_000 },
                    "metadata": METADATA,
                }))
            }),
        )
        .route(
            "/cb",
            get(
                |State(s): State<Bad>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let msat: u64 = q["amount"].parse().unwrap();
                    let hash: [u8; 32] = Sha256::digest(METADATA.as_bytes()).into();
                    let request = match s.mode {
                        "amount" => InvoiceRequest::msat(msat + 1000).description_hash(hash),
                        "hash" => InvoiceRequest::msat(msat).description_hash([7; 32]),
                        "memo" => InvoiceRequest::msat(msat).memo(METADATA),
                        _ => InvoiceRequest::msat(msat).description_hash(hash),
                    };
                    let invoice = s.wallet.create_invoice(&request).await.unwrap();
                    axum::Json(json!({"pr": invoice.bolt11, "routes": []}))
                },
            ),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    *state.base.lock().unwrap() = format!("http://{addr}");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("mallory@{addr}")
}

#[tokio::test]
async fn a_wrong_invoice_is_refused_and_nothing_is_paid() {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let operator = node.wallet("operator").await.unwrap();
    operator.credit_sats(10_000).await.unwrap();
    let (store, _dir) = support::sqlite_store().await;
    let payer = start_custom(store, None, |b| b.splits(splits(&operator))).await;
    for (mode, why) in [
        ("amount", "not the 997000 msat"),
        ("hash", "description hash"),
        ("memo", "description hash"),
        ("max", "outside"),
    ] {
        let address = bad_server(&node, mode).await;
        let (s, answer) = split(
            &payer,
            Some(SECRET),
            json!({"amountSats": 1000, "ownerAddress": address}),
        )
        .await;
        assert_eq!(s, 200, "{answer}");
        let id = answer["payoutId"].as_str().unwrap();
        let failed = wait_state(&payer, id, "failed").await;
        assert_eq!(failed["attempts"], 3, "{failed}");
        assert!(
            failed["lastError"].as_str().unwrap().contains(why),
            "{mode}: {failed}"
        );
        assert_eq!(
            failed["paymentHash"],
            Value::Null,
            "no invoice was recorded"
        );
        let mallory = node.wallet(&format!("mallory-{mode}")).await.unwrap();
        assert_eq!(balance(&mallory).await, 0, "{mode}: nothing was paid");
    }
    assert_eq!(
        balance(&operator).await,
        10_000_000,
        "nothing left the operator"
    );
}

#[tokio::test]
async fn the_queue_survives_a_restart_without_paying_twice() {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let (owner_store, _odir) = support::sqlite_store().await;
    let (_owner, address) = owner_server(&node, owner_store).await;
    let operator = node.wallet("operator").await.unwrap();
    operator.credit_sats(10_000).await.unwrap();
    let bob = node.wallet("bob").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payer.sqlite");

    // Before the "crash": two payouts are queued; for the first the
    // invoice was recorded and the wallet paid, but the process died before
    // recording it paid; for the second the invoice was recorded and the
    // process died before the wallet was called.
    let store = Store::sqlite(&path).await.unwrap();
    let paid_one = credit_and_record(&store, &address, "crash-a", 1000).await;
    operator
        .pay(&PayRequest::new(paid_one.1.clone()))
        .await
        .unwrap();
    let unpaid = credit_and_record(&store, &address, "crash-b", 2000).await;
    store.close().await;
    let before_bob = balance(&bob).await;
    assert_eq!(
        before_bob, 997_000,
        "the first was paid once before the crash"
    );

    // After the restart: looked up, never sent again; the unpaid one is paid.
    let store = Arc::new(Store::sqlite(&path).await.unwrap());
    let payer = start_custom(store.clone(), None, |b| {
        b.splits(splits(&operator).paying_grace(Duration::ZERO))
    })
    .await;
    wait_state(&payer, &paid_one.0, "paid").await;
    wait_state(&payer, &unpaid.0, "paid").await;
    assert_eq!(
        balance(&bob).await,
        997_000 + 1_994_000,
        "each paid exactly once"
    );
    for _ in 0..3 {
        payer.producer.run_payouts().await;
    }
    assert_eq!(balance(&bob).await, 997_000 + 1_994_000);
    let first = store.payout(&paid_one.0).await.unwrap().unwrap();
    assert_eq!(first.state, PayoutState::Paid);
    assert_eq!(
        first.payment_hash.as_deref(),
        Some(paid_one.2.as_str()),
        "the recorded invoice"
    );
}

/// Credits a split straight in the store and records an invoice fetched
/// from `address` as a worker would before paying: (payout id, bolt11, hash).
async fn credit_and_record(
    store: &Store,
    address: &str,
    source: &str,
    sats: u64,
) -> (String, String, String) {
    let fee = sats * 30 / 10_000;
    let credited = store
        .credit_split(l402_store::SplitCredit {
            source,
            owner_address: address,
            owner_sats: sats - fee,
            fee_sats: fee,
            min_payout_sats: 10,
            max_open_payouts: 100,
            max_accrual_addresses: 100,
        })
        .await
        .unwrap();
    let l402_store::Credited::Queued {
        payout_id,
        amount_sats,
    } = credited
    else {
        panic!("{credited:?}")
    };
    let (payout, claim) = store
        .claim_payout(l402_server::unix_now(), 60)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payout.id, payout_id);
    let lnurl: l402_producer::LightningAddress = address.parse().unwrap();
    let pay: Value = reqwest::get(lnurl.url(true))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cb = format!(
        "{}?amount={}",
        pay["callback"].as_str().unwrap(),
        amount_sats * 1000
    );
    let answer: Value = reqwest::get(cb).await.unwrap().json().await.unwrap();
    let pr = answer["pr"].as_str().unwrap().to_owned();
    let invoice = l402_producer::check_invoice(
        &pr,
        amount_sats * 1000,
        pay["metadata"].as_str().unwrap(),
        None,
    )
    .unwrap();
    let hash = invoice.payment_hash().to_string();
    assert!(
        store
            .record_payout_invoice(&payout_id, &claim, &hash, &pr, 0)
            .await
            .unwrap()
    );
    (payout_id, pr, hash)
}

#[tokio::test]
async fn credits_are_once_per_payment_and_the_queue_and_accruals_are_bounded() {
    for (store, _keep) in stores("splits_bounds").await {
        let credit = |source: &'static str, owner: &'static str, max_open: u32, max_addr: u32| {
            let store = store.clone();
            async move {
                store
                    .credit_split(l402_store::SplitCredit {
                        source,
                        owner_address: owner,
                        owner_sats: 50,
                        fee_sats: 0,
                        min_payout_sats: 10,
                        max_open_payouts: max_open,
                        max_accrual_addresses: max_addr,
                    })
                    .await
                    .unwrap()
            }
        };
        use l402_store::Credited;
        assert!(matches!(
            credit("p1", "a@x.com", 2, 3).await,
            Credited::Queued { .. }
        ));
        assert_eq!(credit("p1", "a@x.com", 2, 3).await, Credited::Duplicate);
        assert!(matches!(
            credit("p2", "b@x.com", 2, 3).await,
            Credited::Queued { .. }
        ));
        // Two payouts open: the third share accrues instead.
        assert_eq!(
            credit("p3", "c@x.com", 2, 3).await,
            Credited::Accrued { accrued_sats: 50 }
        );
        assert_eq!(store.accrued("c@x.com").await.unwrap(), 50);
        // Three addresses accrue: a fourth is refused and nothing is kept...
        assert_eq!(credit("p4", "d@x.com", 2, 3).await, Credited::Full);
        assert_eq!(store.accrued("d@x.com").await.unwrap(), 0);
        // ...so the same payment is credited once the bound allows it.
        assert_eq!(
            credit("p4", "d@x.com", 2, 4).await,
            Credited::Accrued { accrued_sats: 50 }
        );
        assert_eq!(store.payouts(10).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn split_paid_goes_to_the_merchant_whose_payment_was_split() {
    for (store, _keep) in stores("splits_event").await {
        let node = DevNode::builder().in_memory().open().await.unwrap();
        let (owner_store, _dir) = support::sqlite_store().await;
        let (_owner, address) = owner_server(&node, owner_store).await;
        let operator = node.wallet("operator").await.unwrap();
        operator.credit_sats(10_000).await.unwrap();
        let server = start_custom(store, None, |b| {
            b.splits(splits(&operator)).webhooks(
                l402_producer::WebhookConfig::default()
                    .allow_private_targets(true)
                    .poll_interval(Duration::from_millis(50)),
            )
        })
        .await;
        let (merchant, key, _) = server.merchant("shop").await;
        let (s, body) = server
            .admin(
                Method::POST,
                &format!("/api/admin/merchants/{merchant}/owner-address"),
                Some(json!({"ownerAddress": address})),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        // The merchant's endpoint, for split.paid only.
        let (s, hook) = server
            .post(
                "/api/webhooks",
                Some(&key),
                json!({"url": format!("{}/nowhere", server.base), "events": ["split.paid"]}),
            )
            .await;
        assert_eq!(s, 201, "{hook}");

        // A sale of the merchant, paid and verified: its split is paid.
        let (s, c) = server
            .post(
                "/api/l402/challenges",
                Some(&key),
                json!({"resource": "/api/weather", "priceSats": 1000}),
            )
            .await;
        assert_eq!(s, 200, "{c}");
        let preimage = server.pay(c["invoice"].as_str().unwrap()).await;
        let (s, v) = server
            .post(
                "/api/l402/challenges/verify",
                Some(&key),
                json!({"macaroon": c["macaroon"], "preimage": preimage,
                       "resource": "/api/weather", "amountSats": 1000}),
            )
            .await;
        assert_eq!((s, &v["valid"]), (200, &json!(true)), "{v}");
        let (s, list) = server.admin(Method::GET, "/api/admin/payouts", None).await;
        assert_eq!(s, 200, "{list}");
        let id = list["payouts"][0]["id"].as_str().unwrap().to_owned();
        wait_state(&server, &id, "paid").await;

        // split.paid was queued for the merchant (once per payout: emitting
        // it again is a no-op), not for the operator (merchant 0).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log: Value = server
                .http
                .get(format!("{}/api/webhooks/deliveries", server.base))
                .header("X-Api-Key", &key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if log.to_string().contains("split.paid") {
                break;
            }
            assert!(Instant::now() < deadline, "no split.paid delivery: {log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let data = json!({});
        let again = server
            .producer
            .emit(
                merchant,
                l402_producer::EventKind::SplitPaid,
                &id,
                data.clone(),
            )
            .await
            .unwrap();
        assert_eq!(again, None, "split.paid was sent to merchant {merchant}");
        let operator_event = server
            .producer
            .emit(0, l402_producer::EventKind::SplitPaid, &id, data)
            .await
            .unwrap();
        assert!(
            operator_event.is_some(),
            "split.paid was not the operator's"
        );
    }
}

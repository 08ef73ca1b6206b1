//! The LNbits backend driving the dev node's LNbits-compatible HTTP API: shows
//! the subset is compatible (no external services needed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use l402_lightning::dev::{DevNode, DevServer, DevWallet};
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{
    Backend, BackendError, InvoiceRequest, InvoiceStatus, PayError, PayRequest, PaymentHash,
    ReceiveError, Receiver, Wallet,
};
use serde_json::{Value, json};

struct Fixture {
    node: DevNode,
    server: DevServer,
    merchant: DevWallet,
    payer: DevWallet,
}

async fn fixture() -> Fixture {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let server = node.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let merchant = node.wallet("merchant").await.unwrap();
    let payer = node.wallet("payer").await.unwrap();
    payer.credit_sats(1_000).await.unwrap();
    Fixture {
        node,
        server,
        merchant,
        payer,
    }
}

fn client(url: &str, invoice_key: Option<&str>, admin_key: Option<&str>) -> LnbitsClient {
    let mut b = LnbitsClient::builder(url).timeout(Duration::from_secs(5));
    if let Some(k) = invoice_key {
        b = b.invoice_key(k);
    }
    if let Some(k) = admin_key {
        b = b.admin_key(k);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn lnbits_client_pays_dev_node_invoices() {
    let f = fixture().await;
    let url = f.server.url();
    let merchant = client(&url, Some(f.merchant.invoice_key()), None);
    let payer = client(&url, None, Some(f.payer.admin_key()));

    let invoice = merchant
        .create_invoice(&InvoiceRequest::sats(21).memo("compat"))
        .await
        .unwrap();
    assert!(invoice.bolt11.starts_with("lnbcrt"));
    assert_eq!(
        merchant
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Pending
    );
    let payment = payer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    assert!(payment.preimage.matches(&invoice.payment_hash));
    assert_eq!(payment.amount_msat, 21_000);
    match merchant
        .lookup_invoice(&invoice.payment_hash)
        .await
        .unwrap()
    {
        InvoiceStatus::Paid { preimage } => assert_eq!(preimage, payment.preimage),
        other => panic!("expected paid, got {other:?}"),
    }
    assert_eq!(payer.balance_msat().await.unwrap(), 979_000);
    assert_eq!(merchant.balance_msat().await.unwrap(), 21_000);
    // In process and over HTTP see the same ledger.
    assert_eq!(f.merchant.balance_msat().await.unwrap(), 21_000);

    // Paying twice.
    let err = payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PayError::AlreadyPaid {
                backend: Backend::Lnbits,
                ..
            }
        ),
        "{err}"
    );
    f.server.shutdown().await;
}

#[tokio::test]
async fn lnbits_client_maps_dev_node_errors() {
    let f = fixture().await;
    let url = f.server.url();
    let merchant = client(&url, Some(f.merchant.invoice_key()), None);
    let payer = client(&url, None, Some(f.payer.admin_key()));

    // Unknown key.
    let stranger = client(&url, Some("0000"), Some("1111"));
    let err = stranger
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ReceiveError::Backend(BackendError::Unauthorized { .. })
        ),
        "{err}"
    );
    let err = stranger.balance_msat().await.unwrap_err();
    assert!(matches!(err, BackendError::Unauthorized { .. }), "{err}");

    // The invoice key cannot pay (LNbits answers 403).
    let invoice = merchant
        .create_invoice(&InvoiceRequest::sats(5))
        .await
        .unwrap();
    let wrong_key = LnbitsClient::builder(&url)
        .admin_key(f.payer.invoice_key())
        .build()
        .unwrap();
    let err = wrong_key
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unauthorized { .. })),
        "{err}"
    );
    // No admin key at all: refused before any request.
    let err = merchant
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unauthorized { .. })),
        "{err}"
    );

    // Insufficient balance.
    let big = merchant
        .create_invoice(&InvoiceRequest::sats(5_000))
        .await
        .unwrap();
    let err = payer.pay(&PayRequest::new(&big.bolt11)).await.unwrap_err();
    assert!(matches!(err, PayError::InsufficientBalance { .. }), "{err}");

    // An invoice this node did not issue.
    let other = DevNode::builder().in_memory().open().await.unwrap();
    let foreign = other
        .wallet("x")
        .await
        .unwrap()
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap();
    let err = payer
        .pay(&PayRequest::new(&foreign.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::UnknownInvoice { .. }), "{err}");

    // Unknown payment hash on lookup.
    let err = merchant
        .lookup_invoice(&PaymentHash([7; 32]))
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiveError::UnknownInvoice { .. }), "{err}");

    // Sub-satoshi amounts are not expressible in LNbits' API.
    let err = merchant
        .create_invoice(&InvoiceRequest::msat(1_500))
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiveError::InvalidRequest { .. }), "{err}");

    // Expired: refused locally before LNbits is asked (LNbits ignores expiry).
    let short = merchant
        .create_invoice(&InvoiceRequest::sats(1).expiry(Duration::from_secs(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = payer
        .pay(&PayRequest::new(&short.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Expired { .. }), "{err}");
    assert_eq!(
        merchant.lookup_invoice(&short.payment_hash).await.unwrap(),
        InvoiceStatus::Expired
    );
    drop(f.node);
    f.server.shutdown().await;
}

/// The raw HTTP contract: status codes and JSON shapes as LNbits 1.6.
#[tokio::test]
async fn http_status_codes_and_shapes_match_lnbits() {
    let f = fixture().await;
    let url = f.server.url();
    let http = reqwest::Client::new();
    let post = |key: Option<&str>, body: Value| {
        let mut r = http.post(format!("{url}/api/v1/payments")).json(&body);
        if let Some(k) = key {
            r = r.header("X-Api-Key", k);
        }
        r.send()
    };

    let r = post(None, json!({"out": false, "amount": 1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-l402-dev-node"], "NOT A REAL LIGHTNING NODE");
    assert_eq!(
        r.json::<Value>().await.unwrap()["detail"],
        "Invoice (or Admin) key required."
    );

    let r = post(Some("nope"), json!({"out": false, "amount": 1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["detail"],
        "Wallet not found."
    );

    let r = post(
        Some(f.merchant.invoice_key()),
        json!({"out": false, "amount": 21, "memo": "m", "expiry": 600}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["amount"], 21_000);
    assert_eq!(created["status"], "pending");
    assert_eq!(created["bolt11"], created["payment_request"]);
    assert_eq!(created["dev_node"], "NOT A REAL LIGHTNING NODE");
    let hash = created["payment_hash"].as_str().unwrap().to_string();
    let bolt11 = created["bolt11"].as_str().unwrap().to_string();

    let r = post(
        Some(f.merchant.invoice_key()),
        json!({"out": false, "amount": 0}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 520);

    // Invoice key paying: 403.
    let r = post(
        Some(f.payer.invoice_key()),
        json!({"out": true, "bolt11": bolt11}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);

    // Public status before payment: no preimage.
    let r = http
        .get(format!("{url}/api/v1/payments/{hash}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["paid"], false);
    assert!(status["preimage"].is_null());

    let r = post(
        Some(f.payer.admin_key()),
        json!({"out": true, "bolt11": bolt11}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["status"], "success");
    assert_eq!(paid["amount"], -21_000);
    assert_eq!(paid["fee"], 0);
    assert_eq!(paid["checking_id"], format!("internal_{hash}"));
    assert_eq!(paid["preimage"], created["preimage"]);

    let r = post(
        Some(f.payer.admin_key()),
        json!({"out": true, "bolt11": bolt11}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 520);
    let failed: Value = r.json().await.unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["detail"], "Internal invoice already paid.");

    // Status with the owner's key has details; without a key only paid + preimage.
    let r = http
        .get(format!("{url}/api/v1/payments/{hash}"))
        .header("X-Api-Key", f.merchant.invoice_key())
        .send()
        .await
        .unwrap();
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["paid"], true);
    assert_eq!(status["status"], "success");
    assert_eq!(status["details"]["payment_hash"], hash.as_str());
    let r = http
        .get(format!("{url}/api/v1/payments/{hash}"))
        .send()
        .await
        .unwrap();
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["paid"], true);
    assert_eq!(status["preimage"], created["preimage"]);
    assert!(status.get("details").is_none());

    // Wallet balance; the id only with the admin key.
    let r = http
        .get(format!("{url}/api/v1/wallet"))
        .header("X-Api-Key", f.merchant.invoice_key())
        .send()
        .await
        .unwrap();
    let wallet: Value = r.json().await.unwrap();
    assert_eq!(wallet["balance"], 21_000);
    assert!(wallet.get("id").is_none());

    // Dev-only: account creation and faucet.
    let r = http
        .post(format!("{url}/api/v1/account"))
        .json(&json!({"name": "new"}))
        .send()
        .await
        .unwrap();
    let account: Value = r.json().await.unwrap();
    let admin = account["adminkey"].as_str().unwrap().to_string();
    let r = http
        .post(format!("{url}/dev/v1/faucet"))
        .header("X-Api-Key", &admin)
        .json(&json!({"amount": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["balance"], 42_000);

    let r = http.get(format!("{url}/dev/v1/info")).send().await.unwrap();
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["real_lightning"], false);
    assert!(
        info["alias"]
            .as_str()
            .unwrap()
            .contains("NOT A REAL LIGHTNING NODE")
    );

    let r = http
        .post(format!("{url}/api/v1/payments"))
        .header("X-Api-Key", f.payer.admin_key())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    f.server.shutdown().await;
}

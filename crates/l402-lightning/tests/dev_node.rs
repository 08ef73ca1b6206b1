//! The embedded dev node, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use l402_lightning::dev::{DEV_NODE_ALIAS, DevNode, DevNodeError};
use l402_lightning::{
    Backend, InvoiceRequest, InvoiceStatus, PayError, PayRequest, PaymentHash, ReceiveError,
    Receiver, Wallet, decode_invoice,
};

async fn node() -> DevNode {
    DevNode::builder().in_memory().open().await.unwrap()
}

#[tokio::test]
async fn issues_real_signed_regtest_invoices() {
    let node = node().await;
    let seller = node.wallet("seller").await.unwrap();
    let invoice = seller
        .create_invoice(
            &InvoiceRequest::sats(21)
                .memo("weather")
                .expiry(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    assert!(
        invoice.bolt11.starts_with("lnbcrt210n1"),
        "{}",
        invoice.bolt11
    );
    let decoded = decode_invoice(&invoice.bolt11).unwrap();
    assert_eq!(decoded.payment_hash, invoice.payment_hash);
    assert_eq!(decoded.amount_msat, Some(21_000));
    assert_eq!(decoded.payee, node.pubkey().to_string());
    assert_eq!(decoded.expires_at, invoice.expires_at);
    assert_eq!(decoded.currency, lightning_invoice::Currency::Regtest);
    // lightning-invoice checks the signature and the payee recovers to the node key.
    let parsed: lightning_invoice::Bolt11Invoice = invoice.bolt11.parse().unwrap();
    assert!(parsed.check_signature().is_ok());
    assert_eq!(
        seller.lookup_invoice(&invoice.payment_hash).await.unwrap(),
        InvoiceStatus::Pending
    );
}

#[tokio::test]
async fn pays_and_settles_with_the_real_preimage() {
    let node = node().await;
    let seller: Arc<dyn Receiver> = Arc::new(node.wallet("seller").await.unwrap());
    let buyer = node.wallet("buyer").await.unwrap();
    assert_eq!(buyer.credit_sats(100).await.unwrap(), 100_000);
    let buyer: Arc<dyn Wallet> = Arc::new(buyer);

    let invoice = seller
        .create_invoice(&InvoiceRequest::msat(21_500))
        .await
        .unwrap();
    let payment = buyer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    assert_eq!(payment.payment_hash, invoice.payment_hash);
    assert!(payment.preimage.matches(&invoice.payment_hash));
    assert_eq!(payment.amount_msat, 21_500);
    assert_eq!(payment.fee_msat, 0);
    assert_eq!(buyer.balance_msat().await.unwrap(), 100_000 - 21_500);

    match seller.lookup_invoice(&invoice.payment_hash).await.unwrap() {
        InvoiceStatus::Paid { preimage } => assert_eq!(preimage, payment.preimage),
        other => panic!("expected paid, got {other:?}"),
    }
    let info = buyer.node_info().await.unwrap();
    assert_eq!(info.alias, DEV_NODE_ALIAS);
    assert!(!info.real_lightning);
    assert_eq!(info.backend, Backend::Dev);
}

#[tokio::test]
async fn refuses_paying_twice_unknown_expired_and_unfunded() {
    let node = node().await;
    let seller = node.wallet("seller").await.unwrap();
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(50).await.unwrap();

    let invoice = seller
        .create_invoice(&InvoiceRequest::sats(10))
        .await
        .unwrap();
    buyer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    let err = buyer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PayError::AlreadyPaid {
                backend: Backend::Dev,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(buyer.balance_msat().await.unwrap(), 40_000);

    // An invoice from another node: unknown here.
    let other = DevNode::builder().in_memory().open().await.unwrap();
    let foreign = other
        .wallet("x")
        .await
        .unwrap()
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap();
    let err = buyer
        .pay(&PayRequest::new(&foreign.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::UnknownInvoice { .. }), "{err}");

    // Not enough money: nothing moves, and the invoice stays payable.
    let big = seller
        .create_invoice(&InvoiceRequest::sats(1_000))
        .await
        .unwrap();
    let err = buyer.pay(&PayRequest::new(&big.bolt11)).await.unwrap_err();
    assert!(
        matches!(
            err,
            PayError::InsufficientBalance {
                amount_msat: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(buyer.balance_msat().await.unwrap(), 40_000);
    assert_eq!(
        seller.lookup_invoice(&big.payment_hash).await.unwrap(),
        InvoiceStatus::Pending
    );
    buyer.credit_sats(1_000).await.unwrap();
    buyer.pay(&PayRequest::new(&big.bolt11)).await.unwrap();

    // Garbage.
    let err = buyer
        .pay(&PayRequest::new("lnbcrt1garbage"))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::InvalidInvoice { .. }), "{err}");

    // Expired.
    let short = seller
        .create_invoice(&InvoiceRequest::sats(1).expiry(Duration::from_secs(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = buyer
        .pay(&PayRequest::new(&short.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Expired { .. }), "{err}");
    assert_eq!(
        seller.lookup_invoice(&short.payment_hash).await.unwrap(),
        InvoiceStatus::Expired
    );
}

#[tokio::test]
async fn lookups_are_per_wallet_and_requests_are_validated() {
    let node = node().await;
    let seller = node.wallet("seller").await.unwrap();
    let other = node.create_wallet("seller").await.unwrap();
    assert_ne!(seller.id(), other.id());
    assert_eq!(node.wallet("seller").await.unwrap().id(), seller.id());

    let invoice = seller
        .create_invoice(&InvoiceRequest::sats(3))
        .await
        .unwrap();
    let err = other
        .lookup_invoice(&invoice.payment_hash)
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiveError::UnknownInvoice { .. }), "{err}");
    let err = seller
        .lookup_invoice(&PaymentHash([9; 32]))
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiveError::UnknownInvoice { .. }), "{err}");

    for bad in [
        InvoiceRequest::msat(0),
        InvoiceRequest::sats(1).memo("x".repeat(640)),
        InvoiceRequest::sats(1).expiry(Duration::ZERO),
    ] {
        let err = seller.create_invoice(&bad).await.unwrap_err();
        assert!(matches!(err, ReceiveError::InvalidRequest { .. }), "{err}");
    }
}

#[tokio::test]
async fn keys_never_show_in_debug() {
    let node = node().await;
    let wallet = node.wallet("w").await.unwrap();
    let shown = format!("{wallet:?} {node:?}");
    assert!(!shown.contains(wallet.admin_key()));
    assert!(!shown.contains(wallet.invoice_key()));
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (pubkey, unpaid, paid, seller_id, buyer_id, paid_preimage) = {
        let node = DevNode::builder()
            .data_dir(dir.path())
            .open()
            .await
            .unwrap();
        let seller = node.wallet("seller").await.unwrap();
        let buyer = node.wallet("buyer").await.unwrap();
        buyer.credit_sats(100).await.unwrap();
        let unpaid = seller
            .create_invoice(&InvoiceRequest::sats(7))
            .await
            .unwrap();
        let paid = seller
            .create_invoice(&InvoiceRequest::sats(5))
            .await
            .unwrap();
        let payment = buyer.pay(&PayRequest::new(&paid.bolt11)).await.unwrap();
        let out = (
            node.pubkey(),
            unpaid,
            paid,
            seller.id().to_string(),
            buyer.id().to_string(),
            payment.preimage,
        );
        node.close().await;
        out
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("node_key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "node key must not be group/world readable");
    }

    // Restart: same key, same wallets and balances; the old invoice is payable,
    // the paid one stays paid.
    let node = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap();
    assert_eq!(node.pubkey(), pubkey);
    let seller = node.wallet("seller").await.unwrap();
    let buyer = node.wallet("buyer").await.unwrap();
    assert_eq!(seller.id(), seller_id);
    assert_eq!(buyer.id(), buyer_id);
    assert_eq!(buyer.balance_msat().await.unwrap(), 95_000);
    assert_eq!(seller.balance_msat().await.unwrap(), 5_000);
    match seller.lookup_invoice(&paid.payment_hash).await.unwrap() {
        InvoiceStatus::Paid { preimage } => assert_eq!(preimage, paid_preimage),
        other => panic!("expected paid, got {other:?}"),
    }
    let err = buyer.pay(&PayRequest::new(&paid.bolt11)).await.unwrap_err();
    assert!(matches!(err, PayError::AlreadyPaid { .. }), "{err}");
    let payment = buyer.pay(&PayRequest::new(&unpaid.bolt11)).await.unwrap();
    assert!(payment.preimage.matches(&unpaid.payment_hash));
    node.close().await;

    let node = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap();
    let seller = node.wallet("seller").await.unwrap();
    assert!(
        seller
            .lookup_invoice(&unpaid.payment_hash)
            .await
            .unwrap()
            .is_paid()
    );
    assert_eq!(seller.balance_msat().await.unwrap(), 12_000);
    node.close().await;
}

#[tokio::test]
async fn corrupt_node_key_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("node_key"), "not hex").unwrap();
    let err = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap_err();
    assert!(matches!(err, DevNodeError::BadNodeKey { .. }), "{err}");
}

#[tokio::test]
async fn concurrent_payments_of_one_invoice_settle_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap();
    let seller = node.wallet("seller").await.unwrap();
    let invoice = seller
        .create_invoice(&InvoiceRequest::sats(10))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let buyer = node.wallet(&format!("buyer{i}")).await.unwrap();
        buyer.credit_sats(10).await.unwrap();
        let bolt11 = invoice.bolt11.clone();
        tasks.push(tokio::spawn(async move {
            buyer.pay(&PayRequest::new(bolt11)).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(PayError::AlreadyPaid { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(seller.balance_msat().await.unwrap(), 10_000);
    node.close().await;
}

#[tokio::test]
async fn serve_refuses_non_loopback_unless_allowed() {
    let node = node().await;
    let err = node.serve("0.0.0.0:0".parse().unwrap()).await.unwrap_err();
    assert!(matches!(err, DevNodeError::NonLoopback(_)), "{err}");
    assert!(err.to_string().contains("not a real"));

    let node = DevNode::builder()
        .in_memory()
        .allow_non_loopback(true)
        .open()
        .await
        .unwrap();
    let server = node.serve("0.0.0.0:0".parse().unwrap()).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creation_is_batched_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap();
    let seller = node.wallet("seller").await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let seller = seller.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..25 {
                let req = InvoiceRequest::sats(1 + t * 100 + i).memo(format!("{t}/{i}"));
                out.push(seller.create_invoice(&req).await.unwrap());
            }
            out
        }));
    }
    // Abort a few creators mid-flight: nobody else may hang or fail because of it.
    let mut aborted = Vec::new();
    for _ in 0..4 {
        let seller = seller.clone();
        let task =
            tokio::spawn(async move { seller.create_invoice(&InvoiceRequest::sats(9)).await });
        tokio::task::yield_now().await;
        task.abort();
        aborted.push(task);
    }
    let mut invoices = Vec::new();
    for task in tasks {
        invoices.extend(task.await.unwrap());
    }
    assert_eq!(invoices.len(), 400);
    node.close().await;

    let node = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap();
    let seller = node.wallet("seller").await.unwrap();
    for invoice in &invoices {
        assert_eq!(
            seller.lookup_invoice(&invoice.payment_hash).await.unwrap(),
            InvoiceStatus::Pending
        );
    }
    // Still usable after the aborts.
    tokio::time::timeout(
        Duration::from_secs(5),
        seller.create_invoice(&InvoiceRequest::sats(1)),
    )
    .await
    .unwrap()
    .unwrap();
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_wallet_lookups_agree() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            node.wallet("shared").await.unwrap().id().to_string()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    node.close().await;
}

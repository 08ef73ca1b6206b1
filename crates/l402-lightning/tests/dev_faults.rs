//! Failure injection in the dev node (`DevFault`, carried in the invoice
//! description): each fault, in process and through the LNbits client over
//! the dev node's HTTP API, with the `PayOutcome` the payer is told and what
//! `lookup_payment` says afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backend_suite;

use std::time::{Duration, Instant};

use l402_lightning::dev::{DevFault, DevNode, DevWallet};
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{
    BackendError, Invoice, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError, PayOutcome,
    PayRequest, Receiver, Wallet,
};

struct Setup {
    node: DevNode,
    seller: DevWallet,
    buyer: DevWallet,
}

async fn setup() -> Setup {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let seller = node.wallet("seller").await.unwrap();
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(1_000).await.unwrap();
    Setup {
        node,
        seller,
        buyer,
    }
}

async fn invoice(seller: &DevWallet, fault: DevFault) -> Invoice {
    seller
        .create_invoice(&InvoiceRequest::sats(10).memo(fault.memo()))
        .await
        .unwrap()
}

const PENDING: DevFault = DevFault::Pending {
    for_: Duration::from_millis(400),
};

/// Polls `lookup_payment` until it stops being pending (at most 3 s).
async fn settle(wallet: &dyn Wallet, invoice: &Invoice) -> OutgoingStatus {
    let started = Instant::now();
    loop {
        let status = wallet.lookup_payment(&invoice.payment_hash).await.unwrap();
        if status != OutgoingStatus::Pending || started.elapsed() > Duration::from_secs(3) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn pending_then_paid_in_process() {
    let s = setup().await;
    let invoice = invoice(&s.seller, PENDING).await;
    let err = s
        .buyer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Pending { .. }), "{err:?}");
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert_eq!(
        s.buyer.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Pending
    );
    assert_eq!(
        s.seller
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Pending
    );
    // Paying again while pending moves nothing more.
    let again = s
        .buyer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(again, PayError::AlreadyPaid { .. }), "{again:?}");
    match settle(&s.buyer, &invoice).await {
        OutgoingStatus::Succeeded(p) => assert!(p.preimage.matches(&invoice.payment_hash)),
        other => panic!("expected Succeeded, got {other:?}"),
    }
    assert!(
        s.seller
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap()
            .is_paid()
    );
    assert_eq!(s.buyer.balance_msat().await.unwrap(), 990_000);
}

#[tokio::test]
async fn failed_in_process_moves_nothing() {
    let s = setup().await;
    let (invoice, _) = backend_suite::failed(&s.seller, &s.buyer, 10).await;
    assert_eq!(s.buyer.balance_msat().await.unwrap(), 1_000_000);
    assert_eq!(s.seller.balance_msat().await.unwrap(), 0);
    assert_eq!(
        s.seller
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Pending
    );
    // Another wallet never tried: unknown to it.
    let other = s.node.wallet("other").await.unwrap();
    assert_eq!(
        other.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Unknown
    );
}

#[tokio::test]
async fn no_preimage_in_process_is_unknown_and_lookup_recovers_it() {
    let s = setup().await;
    let invoice = backend_suite::no_preimage(&s.seller, &s.buyer, 10).await;
    match s.buyer.lookup_payment(&invoice.payment_hash).await.unwrap() {
        OutgoingStatus::Succeeded(p) => assert!(p.preimage.matches(&invoice.payment_hash)),
        other => panic!("expected Succeeded, got {other:?}"),
    }
    assert_eq!(s.buyer.balance_msat().await.unwrap(), 990_000);
}

#[tokio::test]
async fn wrong_preimage_in_process_is_never_a_success() {
    let s = setup().await;
    let invoice = backend_suite::wrong_preimage(&s.seller, &s.buyer, 10).await;
    // The payee was paid with the real preimage.
    assert!(
        s.seller
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap()
            .is_paid()
    );
}

#[tokio::test]
async fn slow_in_process_pays_after_the_delay() {
    let s = setup().await;
    let fault = DevFault::Slow {
        by: Duration::from_millis(300),
    };
    let invoice = invoice(&s.seller, fault).await;
    let started = Instant::now();
    let paid = s
        .buyer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(paid.preimage.matches(&invoice.payment_hash));
}

/// The buyer's wallet over the dev node's LNbits-compatible HTTP API.
async fn over_http(s: &Setup, timeout: Duration) -> (LnbitsClient, l402_lightning::dev::DevServer) {
    let server = s.node.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = LnbitsClient::builder(server.url())
        .admin_key(s.buyer.admin_key())
        .timeout(timeout)
        .build()
        .unwrap();
    (client, server)
}

#[tokio::test]
async fn over_http_pending_is_polled_until_paid() {
    let s = setup().await;
    let (client, server) = over_http(&s, Duration::from_secs(5)).await;
    let invoice = backend_suite::pending_is_awaited(&s.seller, &client).await;
    assert!(
        client
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn over_http_pending_longer_than_the_timeout_is_unknown_then_resolves() {
    let s = setup().await;
    let (client, server) = over_http(&s, Duration::from_millis(300)).await;
    let fault = DevFault::Pending {
        for_: Duration::from_millis(900),
    };
    let invoice = invoice(&s.seller, fault).await;
    let err = client
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Pending { .. }), "{err:?}");
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert_eq!(
        client.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Pending
    );
    assert!(settle(&client, &invoice).await.is_settled());
    server.shutdown().await;
}

#[tokio::test]
async fn over_http_failed_no_preimage_wrong_preimage_and_slow() {
    let s = setup().await;
    let (client, server) = over_http(&s, Duration::from_millis(500)).await;

    backend_suite::failed(&s.seller, &client, 10).await;
    backend_suite::no_preimage(&s.seller, &client, 10).await;
    backend_suite::wrong_preimage(&s.seller, &client, 10).await;

    // Slower than the client's timeout: unknown, and the lookup finds it paid.
    let slow = invoice(
        &s.seller,
        DevFault::Slow {
            by: Duration::from_millis(1_000),
        },
    )
    .await;
    let err = client
        .pay(&PayRequest::new(&slow.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Timeout { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert!(settle(&client, &slow).await.is_settled());
    // Paid exactly three invoices of 10 sats: the failed one moved nothing.
    assert_eq!(s.buyer.balance_msat().await.unwrap(), 970_000);
    server.shutdown().await;
}

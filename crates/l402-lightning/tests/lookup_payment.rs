//! `Wallet::lookup_payment`: the dev node in process, the LNbits client over
//! the dev node's LNbits-compatible HTTP API, and (when configured) a real
//! LNbits 1.6.2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use l402_lightning::dev::DevNode;
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{
    BackendError, InvoiceRequest, OutgoingStatus, PayError, PayRequest, Receiver, Wallet,
};

async fn check_lookup(payer: &dyn Wallet, other_payer: &dyn Wallet, merchant: &dyn Receiver) {
    let invoice = merchant
        .create_invoice(&InvoiceRequest::sats(7).memo("lookup"))
        .await
        .unwrap();
    // Not paid yet: the payer has no such outgoing payment.
    assert_eq!(
        payer.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Unknown
    );
    let paid = payer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    match payer.lookup_payment(&invoice.payment_hash).await.unwrap() {
        OutgoingStatus::Succeeded(found) => {
            assert_eq!(found.payment_hash, invoice.payment_hash);
            assert_eq!(found.preimage, paid.preimage);
            assert!(found.preimage.matches(&invoice.payment_hash));
            assert_eq!(found.amount_msat, 7_000);
        }
        other => panic!("expected Succeeded, got {other:?}"),
    }
    // Another wallet did not pay it.
    assert_eq!(
        other_payer
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap(),
        OutgoingStatus::Unknown
    );
}

#[tokio::test]
async fn dev_node_in_process() {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant = node.wallet("merchant").await.unwrap();
    let payer = node.wallet("payer").await.unwrap();
    let other = node.wallet("other").await.unwrap();
    payer.credit_sats(100).await.unwrap();
    check_lookup(&payer, &other, &merchant).await;
    // The merchant's own incoming invoice is not an outgoing payment.
    let invoice = merchant
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap();
    assert_eq!(
        merchant
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap(),
        OutgoingStatus::Unknown
    );
}

#[tokio::test]
async fn lnbits_client_over_the_dev_node_http_api() {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let server = node.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let merchant = node.wallet("merchant").await.unwrap();
    let payer = node.wallet("payer").await.unwrap();
    let other = node.wallet("other").await.unwrap();
    payer.credit_sats(100).await.unwrap();
    let http = |admin: &str| {
        LnbitsClient::builder(server.url())
            .admin_key(admin)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    };
    let merchant_http = LnbitsClient::builder(server.url())
        .invoice_key(merchant.invoice_key())
        .build()
        .unwrap();
    check_lookup(
        &http(payer.admin_key()),
        &http(other.admin_key()),
        &merchant_http,
    )
    .await;
    // Looking up needs the admin key.
    let invoice_only = LnbitsClient::builder(server.url())
        .invoice_key(payer.invoice_key())
        .build()
        .unwrap();
    let hash = merchant
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap()
        .payment_hash;
    assert!(matches!(
        invoice_only.lookup_payment(&hash).await,
        Err(PayError::Backend(BackendError::Unauthorized { .. }))
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn real_lnbits() {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(url), Some(merchant_inkey), Some(payer_admin)) = (
        get("L402_LNBITS_URL"),
        get("L402_LNBITS_MERCHANT_INVOICE_KEY"),
        get("L402_LNBITS_PAYER_ADMIN_KEY"),
    ) else {
        let how = "real LNbits lookup test needs L402_LNBITS_URL and the L402_LNBITS_*_KEY \
                   variables: run `bash scripts/lnbits.sh start && source target/lnbits/lnbits.env`";
        if std::env::var("L402_REQUIRE_LNBITS").as_deref() == Ok("1") {
            panic!("L402_REQUIRE_LNBITS=1 but {how}");
        }
        eprintln!("SKIPPED real_lnbits: {how} (set L402_REQUIRE_LNBITS=1 to make this a failure)");
        return;
    };
    let client = |b: l402_lightning::lnbits::LnbitsClientBuilder| {
        b.timeout(Duration::from_secs(15)).build().unwrap()
    };
    let merchant = client(LnbitsClient::builder(&url).invoice_key(&merchant_inkey));
    let payer = client(LnbitsClient::builder(&url).admin_key(&payer_admin));
    // The merchant's admin key stands in for "another wallet".
    let other = match get("L402_LNBITS_MERCHANT_ADMIN_KEY") {
        Some(k) => client(LnbitsClient::builder(&url).admin_key(k)),
        None => panic!("L402_LNBITS_MERCHANT_ADMIN_KEY is needed too"),
    };
    // The merchant's own invoice shows up for its key as incoming: Unknown
    // as an outgoing payment, as for any other wallet.
    check_lookup(&payer, &other, &merchant).await;
}

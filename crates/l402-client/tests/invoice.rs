//! `Client::pay_invoice`: a bare BOLT11 invoice through the engine, with the
//! dev node's real invoices and wallets: paid once (also across a restart
//! on the same SQLite store, and after `pay_offer` paid it), counted against
//! the budgets, refused over the limit or expired with nothing paid, and no
//! token left in the token store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Dev;
use l402_client::{Budget, Client, FetchError, PaymentState, Refusal, SqliteStore};
use l402_lightning::{InvoiceRequest, Receiver};

async fn invoice(dev: &Dev, sats: u64) -> String {
    dev.seller
        .create_invoice(&InvoiceRequest::sats(sats).memo("a bill"))
        .await
        .unwrap()
        .bolt11
}

async fn client(dev: &Dev, store: SqliteStore, budget: Budget) -> Client {
    Client::builder()
        .wallet(Arc::new(dev.buyer.clone()))
        .max_payment_sats(100)
        .budget(budget)
        .sqlite(store)
        .build()
        .unwrap()
}

#[tokio::test]
async fn paid_once_across_restarts_and_no_token_kept() {
    let dev = Dev::new(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("client.db");
    let bolt11 = invoice(&dev, 30).await;

    let first = client(&dev, SqliteStore::open(&db).await.unwrap(), Budget::new()).await;
    let paid = first
        .pay_invoice(&format!(" lightning:{bolt11} "))
        .await
        .unwrap();
    assert!(paid.paid_now);
    assert_eq!(paid.amount_msat, 30_000);
    assert!(paid.preimage.matches(&paid.payment_hash));
    let again = first.pay_invoice(&bolt11).await.unwrap();
    assert!(!again.paid_now);
    assert_eq!(again.preimage, paid.preimage);
    assert_eq!(dev.spent_sats(1_000).await, 30);
    // The journal has it paid; the token store has nothing for it.
    let entry = first.ledger().entry(&paid.payment_hash).await.unwrap();
    assert_eq!(entry.unwrap().state, PaymentState::Paid);
    assert!(first.token_store().list().await.unwrap().is_empty());
    // A receipt in the journal's paid list.
    let receipts = first.ledger().paid(10).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].payment_hash, paid.payment_hash);
    drop(first);

    // A new process on the same store: not paid again.
    let second = client(&dev, SqliteStore::open(&db).await.unwrap(), Budget::new()).await;
    let after = second.pay_invoice(&bolt11).await.unwrap();
    assert!(!after.paid_now);
    assert_eq!(after.preimage, paid.preimage);
    assert_eq!(dev.spent_sats(1_000).await, 30);
}

#[tokio::test]
async fn budgets_and_checks_refuse_before_paying() {
    let dev = Dev::new(1_000).await;
    let store = SqliteStore::in_memory().await.unwrap();
    let c = client(&dev, store, Budget::new().per_day_sats(60)).await;

    // Over the client's maximum per payment.
    let err = c.pay_invoice(&invoice(&dev, 101).await).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Refused(ref r) if r.is_over_limit()),
        "{err:?}"
    );
    // Within the day: paid; the next one would pass the day's budget.
    c.pay_invoice(&invoice(&dev, 40).await).await.unwrap();
    let err = c.pay_invoice(&invoice(&dev, 20).await).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Refused(Refusal::Budget(_))),
        "{err:?}"
    );
    // Expired.
    let expired = dev
        .seller
        .create_invoice(&InvoiceRequest::sats(5).expiry(Duration::from_secs(1)))
        .await
        .unwrap()
        .bolt11;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let err = c.pay_invoice(&expired).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Refused(Refusal::Invoice(_))),
        "{err:?}"
    );
    // Tampered with: the signature no longer holds.
    let good = invoice(&dev, 5).await;
    let mut chars: Vec<char> = good.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
    let tampered: String = chars.into_iter().collect();
    assert!(c.pay_invoice(&tampered).await.is_err());
    assert_eq!(dev.spent_sats(1_000).await, 40);
    // The paid list is bounded by its limit.
    c.pay_invoice(&invoice(&dev, 1).await).await.unwrap();
    assert_eq!(c.ledger().paid(5).await.unwrap().len(), 2);
    assert_eq!(c.ledger().paid(1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_invoice_paid_as_a_challenge_is_not_paid_again() {
    let dev = Dev::new(1_000).await;
    let server =
        common::TestServer::start(Arc::new(dev.seller.clone()), common::Mode::Normal, 12).await;
    let c = client(&dev, SqliteStore::in_memory().await.unwrap(), Budget::new()).await;
    let answer = reqwest::get(server.url("/paid/x")).await.unwrap();
    let offer =
        l402_client::parse_challenge(answer.status(), &answer.headers().clone(), b"").unwrap();
    let url = server.url("/paid/x").parse().unwrap();
    let paid = c.pay_offer(&url, &offer).await.unwrap();
    assert!(paid.paid_now);
    let again = c.pay_invoice(&offer.quote.invoice).await.unwrap();
    assert!(!again.paid_now);
    assert_eq!(again.preimage, paid.preimage);
    assert_eq!(dev.spent_sats(1_000).await, 12);
}

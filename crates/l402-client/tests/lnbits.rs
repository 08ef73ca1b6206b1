//! The paying client against a real LNbits 1.6.2 (FakeWallet): the test
//! server mints invoices with the merchant's invoice key, the client pays with
//! the payer's admin key, and recovers after a crash by looking the payment up.
//!
//! Enable with:
//!
//! ```sh
//! bash scripts/lnbits.sh start && source target/lnbits/lnbits.env
//! cargo test -p l402-client --test lnbits
//! ```
//!
//! Without the `L402_LNBITS_*` variables these tests print how to enable them
//! and pass, unless `L402_REQUIRE_LNBITS=1` is set (CI), in which case they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Mode, TestServer};
use l402_client::{Client, Event, FetchError, SqliteStore, TokenUse};
use l402_lightning::Wallet;
use l402_lightning::lnbits::LnbitsClient;

struct Env {
    url: String,
    merchant_invoice: String,
    payer_admin: String,
}

fn env(test: &str) -> Option<Env> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let found = (|| {
        Some(Env {
            url: get("L402_LNBITS_URL")?,
            merchant_invoice: get("L402_LNBITS_MERCHANT_INVOICE_KEY")?,
            payer_admin: get("L402_LNBITS_PAYER_ADMIN_KEY")?,
        })
    })();
    if found.is_none() {
        let how = "real LNbits tests need L402_LNBITS_URL, L402_LNBITS_MERCHANT_INVOICE_KEY and \
                   L402_LNBITS_PAYER_ADMIN_KEY: run `bash scripts/lnbits.sh start && source \
                   target/lnbits/lnbits.env`";
        if std::env::var("L402_REQUIRE_LNBITS").as_deref() == Ok("1") {
            panic!("L402_REQUIRE_LNBITS=1 but {how}");
        }
        println!("SKIPPED {test}: {how} (set L402_REQUIRE_LNBITS=1 to make this a failure)");
        eprintln!("SKIPPED {test}: {how} (set L402_REQUIRE_LNBITS=1 to make this a failure)");
    }
    found
}

fn lnbits(url: &str, invoice: Option<&str>, admin: Option<&str>) -> LnbitsClient {
    let mut b = LnbitsClient::builder(url).timeout(Duration::from_secs(20));
    if let Some(k) = invoice {
        b = b.invoice_key(k);
    }
    if let Some(k) = admin {
        b = b.admin_key(k);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn pays_reuses_and_recovers_with_real_lnbits() {
    let Some(e) = env("pays_reuses_and_recovers_with_real_lnbits") else {
        return;
    };
    let merchant = lnbits(&e.url, Some(&e.merchant_invoice), None);
    let payer = Arc::new(lnbits(&e.url, None, Some(&e.payer_admin)));
    let server = TestServer::start(Arc::new(merchant), Mode::Normal, 3).await;
    let before = payer.balance_msat().await.unwrap();

    let client = Client::builder().wallet(payer.clone()).build().unwrap();
    let paid = client.get(&server.url("/paid/a")).send().await.unwrap();
    assert_eq!(paid.status, 200);
    assert_eq!(paid.token, TokenUse::Paid);
    let receipt = paid.receipt.unwrap();
    assert!(receipt.preimage.matches(&receipt.payment_hash));
    let cached = client.get(&server.url("/paid/a")).send().await.unwrap();
    assert_eq!(cached.token, TokenUse::Cached);
    let spent = before - payer.balance_msat().await.unwrap();
    assert!(
        (3_000..=3_000 + 10_000).contains(&spent),
        "spent {spent} msat"
    );

    // Crash right after the wallet returns; the next client recovers the
    // token through GET /api/v1/payments/{hash} instead of paying again.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let crashing = Client::builder()
        .wallet(payer.clone())
        .sqlite(SqliteStore::open(&db).await.unwrap())
        .on_event(|event| {
            if matches!(event, Event::Paid(_)) {
                panic!("simulated crash");
            }
        })
        .build()
        .unwrap();
    let url = server.url("/paid/b");
    let u = url.clone();
    assert!(
        tokio::spawn(async move { crashing.get(&u).send().await })
            .await
            .is_err()
    );
    let after_crash = payer.balance_msat().await.unwrap();
    let client = Client::builder()
        .wallet(payer.clone())
        .sqlite(SqliteStore::open(&db).await.unwrap())
        .build()
        .unwrap();
    let recovered = client.get(&url).send().await.unwrap();
    assert_eq!(recovered.status, 200);
    assert_eq!(recovered.token, TokenUse::Recovered);
    assert_eq!(payer.balance_msat().await.unwrap(), after_crash);

    // A server that refuses after payment: one payment, a typed error.
    server.set_mode(Mode::Always402);
    let client = Client::builder()
        .wallet(payer.clone())
        .retry_backoff([])
        .build()
        .unwrap();
    let before = payer.balance_msat().await.unwrap();
    let err = client.get(&server.url("/paid/c")).send().await.unwrap_err();
    assert!(matches!(err, FetchError::ServerRefused { .. }), "{err:?}");
    let spent = before - payer.balance_msat().await.unwrap();
    assert!((3_000..=13_000).contains(&spent), "spent {spent} msat");
}

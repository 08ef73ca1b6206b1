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

use common::proxy::{Fault, FaultProxy};
use common::seller::Seller;
use common::{Mode, TestServer};
use l402_client::{
    Client, Event, FetchError, Ledger, MoneyMoved, PaymentState, SqliteStore, TokenUse,
};
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{OutgoingStatus, Wallet};

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
    let paid = client.get(server.url("/paid/a")).send().await.unwrap();
    assert_eq!(paid.status(), 200);
    assert_eq!(paid.token(), TokenUse::Paid);
    let receipt = paid.receipt().unwrap();
    assert!(receipt.preimage.matches(&receipt.payment_hash));
    let cached = client.get(server.url("/paid/a")).send().await.unwrap();
    assert_eq!(cached.token(), TokenUse::Cached);
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
    assert_eq!(recovered.status(), 200);
    assert_eq!(recovered.token(), TokenUse::Recovered);
    assert_eq!(payer.balance_msat().await.unwrap(), after_crash);

    // A server that refuses after payment: one payment, a typed error.
    server.set_mode(Mode::Always402);
    let client = Client::builder()
        .wallet(payer.clone())
        .retry_backoff([])
        .build()
        .unwrap();
    let before = payer.balance_msat().await.unwrap();
    let err = client.get(server.url("/paid/c")).send().await.unwrap_err();
    assert!(matches!(err, FetchError::ServerRefused { .. }), "{err:?}");
    let spent = before - payer.balance_msat().await.unwrap();
    assert!((3_000..=13_000).contains(&spent), "spent {spent} msat");
}

/// The client, its store and the wallets for a fault test: a real seller
/// (`l402_server::L402Layer`, invoices from the LNbits merchant wallet); the
/// client pays through a [`FaultProxy`] in front of LNbits; payments are
/// looked up directly.
struct Faulty {
    server: Seller,
    proxy: FaultProxy,
    store: SqliteStore,
    client: Client,
    direct: LnbitsClient,
    _dir: tempfile::TempDir,
}

async fn faulty(e: &Env, price: u64) -> Faulty {
    let merchant = lnbits(&e.url, Some(&e.merchant_invoice), None);
    let server = Seller::start(Arc::new(merchant), price).await;
    let upstream = e.url.trim_start_matches("http://").trim_end_matches('/');
    let proxy = FaultProxy::start(upstream).await;
    let payer = lnbits(&proxy.url(), None, Some(&e.payer_admin));
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("c.sqlite"))
        .await
        .unwrap();
    let client = Client::builder()
        .wallet(Arc::new(payer))
        .sqlite(store.clone())
        .retry_backoff([])
        .build()
        .unwrap();
    Faulty {
        server,
        proxy,
        store,
        client,
        direct: lnbits(&e.url, None, Some(&e.payer_admin)),
        _dir: dir,
    }
}

/// What the payer's wallet was debited for these payments (amount + fee),
/// asked of LNbits per payment hash: other tests share the wallet, so its
/// balance cannot be used.
async fn debited(wallet: &LnbitsClient, hashes: &[l402::PaymentHash]) -> u64 {
    let mut total = 0;
    for hash in hashes {
        match wallet.lookup_payment(hash).await.unwrap() {
            OutgoingStatus::Succeeded(p) => total += p.amount_msat + p.fee_msat,
            other => panic!("{hash}: {other:?}"),
        }
    }
    total
}

/// A payment request that reached LNbits but whose answer was lost: money
/// moved, and the client must count it, say "unknown", keep the journal
/// entry pending, never pay the resource again while it is unresolved, and
/// resolve it once the wallet can be asked.
async fn unknown_payment_is_counted_and_resolved(test: &str, fault: Fault, by_recover: bool) {
    let Some(e) = env(test) else { return };
    let f = faulty(&e, 4).await;
    let url = f.server.url(&format!("/paid/{test}"));
    f.proxy.set_fault(fault);
    f.proxy.fail_lookups(true);

    let err = f.client.get(&url).send().await.unwrap_err();
    assert!(matches!(err, FetchError::PaymentUnknown { .. }), "{err:?}");
    assert_eq!(err.money_moved(), MoneyMoved::Unknown);
    assert_eq!(err.code(), "payment_unknown");
    assert_eq!(f.proxy.pays_forwarded(), 1);
    let paid = f.server.paid_invoices().await;
    assert_eq!(paid.len(), 1, "LNbits paid the invoice");
    let debited = debited(&f.direct, &paid).await;
    assert!(debited >= 4_000, "debited {debited} msat");
    // Kept pending and counted against every budget.
    let pending = f.store.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, PaymentState::Pending);
    assert_eq!(pending[0].payment_hash, paid[0]);
    let spent = f.store.spent("127.0.0.1").await.unwrap();
    assert!(spent.total_msat >= debited, "{spent:?} < {debited}");
    assert!(spent.domain_msat >= debited, "{spent:?} < {debited}");

    // While it cannot be looked up, the resource is not paid again.
    let err = f.client.get(&url).send().await.unwrap_err();
    assert_eq!(err.money_moved(), MoneyMoved::Unknown, "{err:?}");
    assert_eq!(f.proxy.pays_forwarded(), 1);
    assert_eq!(f.server.paid_invoices().await, paid);

    // The wallet answers again: the entry resolves as paid, with its token.
    f.proxy.set_fault(Fault::None);
    f.proxy.fail_lookups(false);
    if by_recover {
        let recovered = f.client.recover().await.unwrap();
        assert_eq!(recovered, paid);
        let ok = f.client.get(&url).send().await.unwrap();
        assert_eq!((ok.status().as_u16(), ok.token()), (200, TokenUse::Cached));
    } else {
        let ok = f.client.get(&url).send().await.unwrap();
        assert_eq!(
            (ok.status().as_u16(), ok.token()),
            (200, TokenUse::Recovered)
        );
        assert_eq!(ok.receipt().unwrap().payment_hash, paid[0]);
    }
    assert_eq!(f.proxy.pays_forwarded(), 1, "paid twice");
    assert_eq!(f.server.paid_invoices().await, paid, "paid twice");
    assert!(f.store.pending().await.unwrap().is_empty());
    let entry = f.store.entry(&paid[0]).await.unwrap().unwrap();
    assert_eq!(entry.state, PaymentState::Paid);
    // Every sat accounted for: the ledger counts exactly what LNbits debited.
    assert_eq!(
        f.store.spent("127.0.0.1").await.unwrap().total_msat,
        debited
    );
}

#[tokio::test]
async fn a_connection_dropped_after_the_pay_request_is_unknown_and_recovered() {
    unknown_payment_is_counted_and_resolved(
        "a_connection_dropped_after_the_pay_request_is_unknown_and_recovered",
        Fault::DropAfterPay,
        true,
    )
    .await;
}

#[tokio::test]
async fn a_502_after_the_pay_request_is_unknown_and_the_next_request_recovers_it() {
    unknown_payment_is_counted_and_resolved(
        "a_502_after_the_pay_request_is_unknown_and_the_next_request_recovers_it",
        Fault::BadGatewayAfterPay,
        false,
    )
    .await;
}

#[tokio::test]
async fn a_lost_pay_answer_is_looked_up_and_the_purchase_completes() {
    let test = "a_lost_pay_answer_is_looked_up_and_the_purchase_completes";
    let Some(e) = env(test) else { return };
    let f = faulty(&e, 3).await;
    let url = f.server.url(&format!("/paid/{test}"));
    f.proxy.set_fault(Fault::DropAfterPay);
    let ok = f.client.get(&url).send().await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.token()), (200, TokenUse::Paid));
    assert_eq!(f.proxy.pays_forwarded(), 1);
    let paid = f.server.paid_invoices().await;
    assert_eq!(paid.len(), 1);
    let debited = debited(&f.direct, &paid).await;
    assert_eq!(
        f.store.spent("127.0.0.1").await.unwrap().total_msat,
        debited
    );
    let again = f.client.get(&url).send().await.unwrap();
    assert_eq!(again.token(), TokenUse::Cached);
    assert_eq!(f.proxy.pays_forwarded(), 1);
}

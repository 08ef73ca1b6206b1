//! The paying client over real HTTP on 127.0.0.1 against a hand-made server
//! that mints real challenges (l402's Minter + dev-node invoices) and can
//! misbehave. Payments are counted on the dev node's ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Dev, Mode, TestServer};
use l402::InvoiceError;
use l402::invoice::Currency;
use l402_client::{
    AmountlessPolicy, Budget, Client, ClientBuilder, EnvelopeError, FetchError, FiatEnvelope,
    HttpPriceSource, Ledger, Limit, MoneyMoved, Outcome, PaymentState, Refusal, SqliteStore,
    StaticPrice, TokenUse,
};
use l402_lightning::PayError;

const FUNDS: u64 = 10_000;

async fn setup(mode: Mode, price: u64) -> (Dev, TestServer) {
    let dev = Dev::new(FUNDS).await;
    let server = TestServer::start(Arc::new(dev.seller.clone()), mode, price).await;
    (dev, server)
}

fn builder(dev: &Dev) -> ClientBuilder {
    Client::builder()
        .wallet(Arc::new(dev.buyer.clone()))
        .retry_backoff([Duration::from_millis(20), Duration::from_millis(20)])
}

fn refusal(err: &FetchError) -> &Refusal {
    match err {
        FetchError::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn pays_once_checks_the_preimage_and_reuses_the_token() {
    let (dev, server) = setup(Mode::Normal, 21).await;
    let client = builder(&dev).build().unwrap();

    let first = client.get(server.url("/paid/joke")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text(), "the secret of /paid/joke");
    assert_eq!(first.token(), TokenUse::Paid);
    let receipt = first.receipt().unwrap().clone();
    assert!(receipt.preimage.matches(&receipt.payment_hash));
    assert_eq!(receipt.amount_msat, 21_000);
    assert!(!receipt.recovered);
    assert_eq!(dev.spent_sats(FUNDS).await, 21);

    // Same scope (query string ignored): reused, not paid again.
    let second = client
        .get(server.url("/paid/joke?lang=fr"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.token(), TokenUse::Cached);
    assert!(second.receipt().is_none());
    assert_eq!(dev.spent_sats(FUNDS).await, 21);

    // Another path is another scope: paid separately.
    let other = client.get(server.url("/paid/other")).send().await.unwrap();
    assert_eq!(other.token(), TokenUse::Paid);
    assert_eq!(dev.spent_sats(FUNDS).await, 42);
    assert_eq!(server.challenges(), 2);

    // Free resources cost nothing.
    let free = client.get(server.url("/free")).send().await.unwrap();
    assert_eq!(
        (free.status().as_u16(), free.token()),
        (200, TokenUse::None)
    );

    let traces = client.traces(10).await.unwrap();
    let outcomes: Vec<_> = traces.iter().map(|t| t.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Free, Outcome::Paid, Outcome::Cached, Outcome::Paid]
    );
    assert_eq!(traces[3].amount_msat, Some(21_000));
    assert_eq!(
        traces[3].preimage.as_deref(),
        Some(receipt.preimage.to_hex().as_str())
    );
}

#[tokio::test]
async fn swapped_hash_is_refused_before_paying() {
    let (dev, server) = setup(Mode::SwappedHash, 21).await;
    let client = builder(&dev).build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Invoice(InvoiceError::PaymentHashMismatch { .. })
    ));
    assert_eq!(err.money_moved(), MoneyMoved::No);
    assert_eq!(err.code(), "refused");
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
    assert_eq!(client.traces(1).await.unwrap()[0].outcome, Outcome::Refused);
}

#[tokio::test]
async fn amountless_invoice_is_refused_by_default() {
    let (dev, server) = setup(Mode::Amountless, 21).await;
    let client = builder(&dev).build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Invoice(InvoiceError::Amountless)
    ));
    assert_eq!(dev.spent_sats(FUNDS).await, 0);

    // Allowing a fixed amount still moves no money: the wallet refuses.
    let client = builder(&dev)
        .amountless(AmountlessPolicy::PayAmount { sats: 5 })
        .build()
        .unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(err, FetchError::PaymentFailed { .. }), "{err:?}");
    assert_eq!(err.money_moved(), MoneyMoved::No);
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn over_the_limit_expired_and_wrong_network_are_refused() {
    let (dev, server) = setup(Mode::Normal, 500).await;
    let client = builder(&dev).max_payment_sats(100).build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Invoice(InvoiceError::OverLimit { .. })
    ));
    assert_eq!(err.code(), "over_limit");

    let client = builder(&dev).network(Currency::Bitcoin).build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Invoice(InvoiceError::WrongNetwork { .. })
    ));

    server.set_mode(Mode::ShortExpiry);
    let client = builder(&dev).build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Invoice(InvoiceError::Expired { .. })
    ));
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn a_402_after_payment_is_returned_never_paid_again() {
    let (dev, server) = setup(Mode::Always402, 10).await;
    let client = builder(&dev).build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    let FetchError::ServerRefused {
        status, receipt, ..
    } = &err
    else {
        panic!("expected ServerRefused, got {err:?}");
    };
    assert_eq!(*status, 402);
    assert!(receipt.preimage.matches(&receipt.payment_hash));
    assert_eq!(err.money_moved(), MoneyMoved::Yes);
    assert_eq!(err.code(), "server_refused");
    // One payment; the credential sent once plus once per backoff step.
    assert_eq!(dev.spent_sats(FUNDS).await, 10);
    assert_eq!(server.authorized(), 3);
    // The refused token is dropped; the next request pays the next challenge
    // (and is refused again): one more payment, not a loop.
    let _ = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert_eq!(dev.spent_sats(FUNDS).await, 20);
    assert_eq!(
        client.traces(1).await.unwrap()[0].outcome,
        Outcome::ServerRefused
    );
}

#[tokio::test]
async fn not_yet_settled_is_retried_without_paying_again() {
    let (dev, server) = setup(Mode::NotYet(2), 10).await;
    let client = builder(&dev).build().unwrap();
    let ok = client.get(server.url("/paid/x")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.token(), TokenUse::Paid);
    assert_eq!(server.authorized(), 3);
    assert_eq!(dev.spent_sats(FUNDS).await, 10);

    // With no backoff, the first refusal is final.
    server.set_mode(Mode::NotYet(1));
    let client = builder(&dev).retry_backoff([]).build().unwrap();
    let err = client.get(server.url("/paid/y")).send().await.unwrap_err();
    assert!(matches!(err, FetchError::ServerRefused { .. }));
    assert_eq!(dev.spent_sats(FUNDS).await, 20);
}

#[tokio::test]
async fn payment_challenge_first_and_lowercase_token_dialect() {
    for mode in [
        Mode::PaymentFirst,
        Mode::PaymentFirstJoined,
        Mode::LowerToken,
    ] {
        let (dev, server) = setup(mode, 3).await;
        let client = builder(&dev).build().unwrap();
        let ok = client.get(server.url("/paid/x")).send().await.unwrap();
        assert_eq!(ok.status(), 200, "{mode:?}");
        assert_eq!(ok.token(), TokenUse::Paid, "{mode:?}");
        assert_eq!(dev.spent_sats(FUNDS).await, 3, "{mode:?}");
    }
}

#[tokio::test]
async fn a_402_without_challenge_is_a_typed_error() {
    let (dev, server) = setup(Mode::NoChallenge, 3).await;
    let client = builder(&dev).build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(err, FetchError::BadChallenge(_)), "{err:?}");
    assert_eq!(err.money_moved(), MoneyMoved::No);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_requests_make_one_payment() {
    let (dev, server) = setup(Mode::Normal, 7).await;
    let client = builder(&dev).build().unwrap();
    let url = server.url("/paid/popular");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move { client.get(&url).send().await })
        })
        .collect();
    let mut paid = 0;
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        if response.token() == TokenUse::Paid {
            paid += 1;
        }
    }
    assert_eq!(paid, 1);
    assert_eq!(dev.spent_sats(FUNDS).await, 7);
    assert_eq!(server.served(), 100);
}

#[tokio::test]
async fn budgets_refuse_and_failed_payments_release_their_reservation() {
    let (dev, server) = setup(Mode::Normal, 10).await;
    let client = builder(&dev)
        .budget(Budget::new().per_hour_sats(25))
        .max_fee_sats(0)
        .build()
        .unwrap();
    client.get(server.url("/paid/a")).send().await.unwrap();
    client.get(server.url("/paid/b")).send().await.unwrap();
    let err = client.get(server.url("/paid/c")).send().await.unwrap_err();
    let Refusal::Budget(exceeded) = refusal(&err) else {
        panic!("{err:?}")
    };
    assert_eq!(exceeded.limit, Limit::PerHour);
    assert_eq!(err.code(), "over_limit");
    assert_eq!(dev.spent_sats(FUNDS).await, 20);

    // A payment that fails (insufficient balance) releases its reservation.
    let poor = Dev::new(5).await;
    let server = TestServer::start(Arc::new(poor.seller.clone()), Mode::Normal, 10).await;
    let client = Client::builder()
        .wallet(Arc::new(poor.buyer.clone()))
        .budget(Budget::new().per_hour_sats(100))
        .build()
        .unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(
        err,
        FetchError::PaymentFailed {
            source: PayError::InsufficientBalance { .. },
            ..
        }
    ));
    assert_eq!(err.money_moved(), MoneyMoved::No);
    assert_eq!(
        client.ledger().spent("127.0.0.1").await.unwrap().hour_msat,
        0
    );
    assert!(client.ledger().pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn each_budget_limit_is_enforced_by_both_ledgers() {
    for sqlite in [false, true] {
        for (budget, limit) in [
            (Budget::new().per_request_sats(5), Limit::PerRequest),
            (Budget::new().per_hour_sats(15), Limit::PerHour),
            (Budget::new().per_day_sats(15), Limit::PerDay),
            (Budget::new().total_sats(15), Limit::Total),
            (
                Budget::new().per_domain_sats("127.0.0.1", 15),
                Limit::Domain("127.0.0.1".into()),
            ),
            (
                Budget::new().default_per_domain_sats(15),
                Limit::Domain("127.0.0.1".into()),
            ),
        ] {
            let (dev, server) = setup(Mode::Normal, 10).await;
            let mut b = builder(&dev).max_fee_sats(0).budget(budget);
            if sqlite {
                b = b.sqlite(SqliteStore::in_memory().await.unwrap());
            }
            let client = b.build().unwrap();
            if limit != Limit::PerRequest {
                client.get(server.url("/paid/a")).send().await.unwrap();
            }
            let err = client.get(server.url("/paid/b")).send().await.unwrap_err();
            let Refusal::Budget(exceeded) = refusal(&err) else {
                panic!("{err:?}")
            };
            assert_eq!(exceeded.limit, limit, "sqlite: {sqlite}");
        }
    }
}

#[tokio::test]
async fn fiat_envelope_cap_and_ttl_in_sqlite() {
    let (dev, server) = setup(Mode::Normal, 1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let client = |envelope: FiatEnvelope| {
        let db = db.clone();
        let dev_buyer = dev.buyer.clone();
        async move {
            Client::builder()
                .wallet(Arc::new(dev_buyer))
                .max_fee_sats(0)
                .fiat_envelope(envelope)
                .price_source(Arc::new(StaticPrice::new("usd", 10_000_000)))
                .sqlite(SqliteStore::open(&db).await.unwrap())
                .build()
                .unwrap()
        }
    };
    // $2.50 cap, $1.00 per request: two pass, the third is refused, even
    // from a new client on the same database.
    let envelope = FiatEnvelope::new("cap", "usd", 250);
    let c = client(envelope.clone()).await;
    c.get(server.url("/paid/a")).send().await.unwrap();
    c.get(server.url("/paid/b")).send().await.unwrap();
    let c = client(envelope).await;
    let err = c.get(server.url("/paid/c")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Envelope(EnvelopeError::CapExceeded {
            spent_minor: 200,
            ..
        })
    ));
    // A one-second envelope expires after its first use.
    let short = FiatEnvelope::new("short", "usd", 10_000).ttl(Duration::from_secs(1));
    let c = client(short).await;
    c.get(server.url("/paid/d")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = c.get(server.url("/paid/e")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Envelope(EnvelopeError::Expired { .. })
    ));
    assert_eq!(dev.spent_sats(FUNDS).await, 3_000);
}

#[tokio::test]
async fn fiat_envelope_static_and_http_prices() {
    let (dev, server) = setup(Mode::Normal, 1_000).await;
    // $100,000 per BTC: 1,000 sats = 100 cents (+ 10 sats fee reserve = 101).
    let envelope = FiatEnvelope::new("session", "usd", 250).ttl(Duration::from_secs(3600));
    let client = builder(&dev)
        .fiat_envelope(envelope.clone())
        .price_source(Arc::new(StaticPrice::new("usd", 10_000_000)))
        .build()
        .unwrap();
    let ok = client.get(server.url("/paid/a")).send().await.unwrap();
    let fiat = ok.receipt().unwrap().fiat.clone().unwrap();
    assert_eq!((fiat.minor, fiat.currency.as_str()), (101, "usd"));
    client.get(server.url("/paid/b")).send().await.unwrap();
    let err = client.get(server.url("/paid/c")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Envelope(EnvelopeError::CapExceeded { .. })
    ));
    assert!(err.code() == "over_limit");
    assert_eq!(dev.spent_sats(FUNDS).await, 2_000);

    // No price: refused, not guessed.
    let client = builder(&dev)
        .fiat_envelope(FiatEnvelope::new("eur", "eur", 1_000))
        .price_source(Arc::new(StaticPrice::new("usd", 10_000_000)))
        .build()
        .unwrap();
    let err = client.get(server.url("/paid/d")).send().await.unwrap_err();
    assert!(matches!(refusal(&err), Refusal::NoPrice(_)));

    // The rail must be allowed.
    let client = builder(&dev)
        .fiat_envelope(FiatEnvelope::new("x", "usd", 1_000).allowed_rails(["x402"]))
        .price_source(Arc::new(StaticPrice::new("usd", 10_000_000)))
        .build()
        .unwrap();
    let err = client.get(server.url("/paid/d")).send().await.unwrap_err();
    assert!(matches!(
        refusal(&err),
        Refusal::Envelope(EnvelopeError::RailNotAllowed { .. })
    ));

    // An HTTP price source: unavailable first (refused), then $50,000.
    let source = Arc::new(
        HttpPriceSource::new(server.url("/price?c={currency}"), "/bitcoin/{currency}")
            .cache_for(Duration::ZERO),
    );
    let client = builder(&dev)
        .fiat_envelope(FiatEnvelope::new("http", "usd", 1_000))
        .price_source(source)
        .build()
        .unwrap();
    let err = client.get(server.url("/paid/e")).send().await.unwrap_err();
    assert!(matches!(refusal(&err), Refusal::NoPrice(_)), "{err:?}");
    *server.shared.price_json.lock().unwrap() =
        Some(serde_json::json!({"bitcoin": {"usd": 50000.0}}));
    let ok = client.get(server.url("/paid/e")).send().await.unwrap();
    let fiat = ok.receipt().unwrap().fiat.clone().unwrap();
    assert_eq!(fiat.minor_per_btc, 5_000_000);
    assert_eq!(fiat.minor, 51); // 1,010 sats at $50,000, rounded up
    assert!(fiat.source.starts_with("http:"));
    let trace = &client.traces(1).await.unwrap()[0];
    assert_eq!(trace.fiat_minor, Some(51));
    assert_eq!(trace.price_source.as_deref(), Some(fiat.source.as_str()));
}

#[tokio::test]
async fn auto_pay_off_quotes_and_dry_run_checks_without_paying() {
    let (dev, server) = setup(Mode::Normal, 12).await;
    let client = builder(&dev).auto_pay(false).build().unwrap();
    let quoted = client.get(server.url("/paid/x")).send().await.unwrap();
    assert_eq!(quoted.status(), 402);
    let quote = quoted.quote().unwrap();
    assert_eq!(quote.amount_sats(), Some(12));
    assert_eq!(quote.network, "regtest");

    let client = builder(&dev).dry_run(true).build().unwrap();
    let dry = client.get(server.url("/paid/x")).send().await.unwrap();
    assert!(dry.would_pay());
    let client = builder(&dev)
        .dry_run(true)
        .max_payment_sats(5)
        .build()
        .unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert_eq!(err.code(), "over_limit");
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn a_crash_between_paying_and_storing_recovers_instead_of_paying_again() {
    let (dev, server) = setup(Mode::Normal, 9).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("client.sqlite");
    let url = server.url("/paid/x");

    // First run: "crashes" (panics) right after the wallet returns.
    let store = SqliteStore::open(&db).await.unwrap();
    let crashing = builder(&dev)
        .sqlite(store.clone())
        .on_event(|event| {
            if matches!(event, l402_client::Event::Paid(_)) {
                panic!("simulated crash after paying");
            }
        })
        .build()
        .unwrap();
    let u = url.clone();
    let crashed = tokio::spawn(async move { crashing.get(&u).send().await }).await;
    assert!(crashed.is_err(), "the first run must crash");
    assert_eq!(dev.spent_sats(FUNDS).await, 9);
    let pending = store.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, PaymentState::Pending);
    store.close().await;

    // Second run: recovers the token from the wallet, pays nothing.
    let client = builder(&dev)
        .sqlite(SqliteStore::open(&db).await.unwrap())
        .build()
        .unwrap();
    let ok = client.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.token(), TokenUse::Recovered);
    assert!(ok.receipt().unwrap().recovered);
    assert_eq!(dev.spent_sats(FUNDS).await, 9);
    assert!(client.ledger().pending().await.unwrap().is_empty());
    let again = client.get(&url).send().await.unwrap();
    assert_eq!(again.token(), TokenUse::Cached);
    assert_eq!(dev.spent_sats(FUNDS).await, 9);
}

#[tokio::test]
async fn sqlite_traces_and_journal_are_plain_sql() {
    let (dev, server) = setup(Mode::Normal, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("c.sqlite"))
        .await
        .unwrap();
    let client = builder(&dev).sqlite(store.clone()).build().unwrap();
    let ok = client.get(server.url("/paid/x")).send().await.unwrap();
    let receipt = ok.receipt().unwrap();
    client.get(server.url("/paid/x")).send().await.unwrap();

    let rows: Vec<(String, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT outcome, amount_msat, preimage FROM traces ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(rows[0].0, "paid");
    assert_eq!(rows[0].1, Some(4_000));
    assert_eq!(
        rows[0].2.as_deref(),
        Some(receipt.preimage.to_hex().as_str())
    );
    assert_eq!(rows[1].0, "cached");
    let (state, preimage): (String, String) =
        sqlx::query_as("SELECT state, preimage FROM payments WHERE payment_hash = ?1")
            .bind(receipt.payment_hash.to_string())
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(state, "paid");
    assert_eq!(preimage, receipt.preimage.to_hex());
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(tokens, 1);
}

#[tokio::test]
async fn a_refused_stored_token_is_dropped_and_the_new_challenge_paid_once() {
    let (dev, server) = setup(Mode::Normal, 5).await;
    let client = builder(&dev).build().unwrap();
    client.get(server.url("/paid/x")).send().await.unwrap();
    // The server now refuses every credential with 401 (a single-use token
    // server, say): the stored token is dropped, the new challenge is paid,
    // and the paid retry is refused: one more payment, then an error.
    server.set_mode(Mode::Always401);
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(
        matches!(err, FetchError::ServerRefused { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(dev.spent_sats(FUNDS).await, 10);
}

#[tokio::test]
async fn payee_pinning_refuses_a_new_node_for_a_known_origin() {
    let (dev, server) = setup(Mode::Normal, 5).await;
    let client = builder(&dev).build().unwrap();
    client.get(server.url("/paid/x")).send().await.unwrap();
    // The same origin now bills through another node.
    let other = Dev::new(0).await;
    let swapped = common::TestServer::start(Arc::new(other.seller.clone()), Mode::Normal, 5).await;
    // Pin the second server's origin to the first node, then ask it.
    client
        .ledger()
        .pin_payee(
            &format!("http://{}", swapped.addr),
            &dev.node.pubkey().to_string(),
        )
        .await
        .unwrap();
    let err = client.get(swapped.url("/paid/x")).send().await.unwrap_err();
    assert!(
        matches!(refusal(&err), Refusal::PayeeChanged { .. }),
        "{err:?}"
    );
    assert_eq!(dev.spent_sats(FUNDS).await, 5);
}

#[tokio::test]
async fn no_wallet_is_a_refusal() {
    let (_dev, server) = setup(Mode::Normal, 5).await;
    let client = Client::builder().build().unwrap();
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(matches!(refusal(&err), Refusal::NoWallet));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sharing_one_database_make_one_payment() {
    // Separate clients (as separate processes would be) share only the
    // SQLite journal: the one that journals first pays, the others wait for
    // its token.
    let (dev, server) = setup(Mode::Normal, 6).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.sqlite");
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(
            builder(&dev)
                .sqlite(SqliteStore::open(&db).await.unwrap())
                .build()
                .unwrap(),
        );
    }
    let url = server.url("/paid/shared");
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let url = url.clone();
            tokio::spawn(async move { client.get(&url).send().await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(dev.spent_sats(FUNDS).await, 6);
}

#[tokio::test]
async fn recover_resolves_every_pending_payment_up_front() {
    let (dev, server) = setup(Mode::Normal, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("client.sqlite");
    let crashing = builder(&dev)
        .sqlite(SqliteStore::open(&db).await.unwrap())
        .on_event(|event| {
            if matches!(event, l402_client::Event::Paid(_)) {
                panic!("simulated crash after paying");
            }
        })
        .build()
        .unwrap();
    let url = server.url("/paid/r");
    let u = url.clone();
    assert!(
        tokio::spawn(async move { crashing.get(&u).send().await })
            .await
            .is_err()
    );
    let client = builder(&dev)
        .sqlite(SqliteStore::open(&db).await.unwrap())
        .build()
        .unwrap();
    let recovered = client.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    let entry = client.ledger().entry(&recovered[0]).await.unwrap().unwrap();
    assert_eq!(entry.state, PaymentState::Paid);
    // The token is already stored: no 402 at all this time.
    let challenges = server.challenges();
    let ok = client.get(&url).send().await.unwrap();
    assert_eq!(ok.token(), TokenUse::Cached);
    assert_eq!(server.challenges(), challenges);
    assert_eq!(dev.spent_sats(FUNDS).await, 3);
}

#[tokio::test]
async fn the_same_invoice_again_is_never_paid_twice_but_a_failed_one_may_be_retried() {
    // The server issues one challenge per client (idempotent issue).
    let poor = Dev::new(2).await;
    let server = TestServer::start(Arc::new(poor.seller.clone()), Mode::SameInvoice, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = SqliteStore::open(dir.path().join("ledger.sqlite"))
        .await
        .unwrap();
    let client = |tokens: Arc<l402_client::MemoryTokenStore>| {
        Client::builder()
            .wallet(Arc::new(poor.buyer.clone()))
            .ledger(Arc::new(ledger.clone()))
            .token_store(tokens)
            .build()
            .unwrap()
    };
    let first = client(Arc::default());
    // Not enough funds: failed, no money moved.
    let err = first.get(server.url("/paid/s")).send().await.unwrap_err();
    assert!(matches!(err, FetchError::PaymentFailed { .. }), "{err:?}");
    // Topped up, the same invoice is paid: a failed attempt may be retried.
    poor.buyer.credit_sats(10).await.unwrap();
    let ok = first.get(server.url("/paid/s")).send().await.unwrap();
    assert_eq!(ok.token(), TokenUse::Paid);
    assert_eq!(poor.spent_sats(12).await, 5);
    // A client that lost its token gets the same invoice again: the journal
    // knows it is paid, so the preimage is reused and nothing is paid.
    let second = client(Arc::default());
    let ok = second.get(server.url("/paid/s")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.token(), TokenUse::Recovered);
    assert_eq!(poor.spent_sats(12).await, 5);
    // And it kept the token this time.
    let ok = second.get(server.url("/paid/s")).send().await.unwrap();
    assert_eq!(ok.token(), TokenUse::Cached);
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_say_whether_money_moved() {
    let (dev, server) = setup(Mode::Normal, 2).await;
    // The 402's body ("payment required", 16 bytes) is already too large.
    let client = builder(&dev).max_body_bytes(10).build().unwrap();
    let err = client
        .get(server.url("/paid/xyz"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        FetchError::BodyTooLarge { receipt: None, .. }
    ));
    assert_eq!(err.money_moved(), MoneyMoved::No);
    // The paid answer ("the secret of /paid/xyz", 23 bytes) is too large:
    // paid, and the error carries the receipt; the token is kept.
    let client = builder(&dev).max_body_bytes(20).build().unwrap();
    let err = client
        .get(server.url("/paid/xyz"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.money_moved(), MoneyMoved::Yes);
    assert!(err.receipt().is_some());
    assert_eq!(dev.spent_sats(FUNDS).await, 2);
    assert!(
        client
            .token_store()
            .get(&server.url("/paid/xyz"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_fee_over_the_cap_is_counted_and_reported_as_money_moved() {
    let (dev, server) = setup(Mode::Normal, 10).await;
    let wallet = common::FeeWallet {
        inner: dev.buyer.clone(),
        router: dev.node.wallet("router").await.unwrap(),
        fee_sats: 3,
    };
    let client = Client::builder()
        .wallet(Arc::new(wallet))
        .max_fee_sats(1)
        .build()
        .unwrap();
    let url = server.url("/paid/fee");
    let err = client.get(&url).send().await.unwrap_err();
    assert!(matches!(err, FetchError::FeeOverrun { .. }), "{err:?}");
    assert_eq!(err.money_moved(), MoneyMoved::Yes);
    assert_eq!(err.code(), "fee_overrun");
    assert!(err.is_after_payment());
    let receipt = err.receipt().unwrap();
    assert_eq!((receipt.amount_msat, receipt.fee_msat), (10_000, 3_000));
    // Counted at what it cost: the amount and the whole fee.
    assert_eq!(dev.spent_sats(FUNDS).await, 13);
    let spent = client.ledger().spent("127.0.0.1").await.unwrap();
    assert_eq!(spent.total_msat, 13_000);
    let trace = &client.traces(1).await.unwrap()[0];
    assert_eq!(trace.outcome, Outcome::FeeOverrun);
    assert_eq!(trace.fee_msat, Some(3_000));
    // The purchase is usable: the token was stored.
    let ok = client.get(&url).send().await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.token()), (200, TokenUse::Cached));
    assert_eq!(dev.spent_sats(FUNDS).await, 13);
}

//! The paying client against a hand-made server for each dialect deployed
//! sellers speak (`common::dialect`), over real HTTP, paying real dev-node
//! invoices. Every case counts the payments the server received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Dev;
use common::dialect::{Dialect, DialectServer, Options};
use l402_client::{
    Budget, ChallengeProblem, ChallengeSource, Client, ClientBuilder, FetchError, MoneyMoved,
    Outcome, Refusal, SqliteStore, TokenKind, TokenStore, TokenUse, parse_challenge,
};

const FUNDS: u64 = 10_000;

async fn setup(dialect: Dialect, opts: Options) -> (Dev, DialectServer) {
    let dev = Dev::new(FUNDS).await;
    let server = DialectServer::start(Arc::new(dev.seller.clone()), dialect, opts).await;
    (dev, server)
}

fn builder(dev: &Dev) -> ClientBuilder {
    Client::builder()
        .wallet(Arc::new(dev.buyer.clone()))
        .retry_backoff([Duration::from_millis(20), Duration::from_millis(20)])
}

/// Each dialect's 402 is paid once, with the right token kind and source,
/// and the token is reused (reusable tokens) without paying again.
#[tokio::test]
async fn every_dialect_is_paid_once_and_its_token_reused() {
    let cases = [
        (
            Dialect::L402kit,
            TokenKind::Opaque,
            ChallengeSource::HeaderAndBody,
        ),
        (
            Dialect::L402kitBodyOnly,
            TokenKind::Opaque,
            ChallengeSource::Body,
        ),
        (
            Dialect::ExpressBodyOnly,
            TokenKind::Macaroon,
            ChallengeSource::Body,
        ),
        (
            Dialect::LightningEnableBodyOnly,
            TokenKind::Macaroon,
            ChallengeSource::Body,
        ),
        (Dialect::Alby, TokenKind::Opaque, ChallengeSource::Header),
    ];
    for (dialect, kind, source) in cases {
        let (dev, server) = setup(dialect, Options::default()).await;
        let store = SqliteStore::in_memory().await.unwrap();
        let client = builder(&dev).sqlite(store.clone()).build().unwrap();
        let first = client.get(server.url("/premium")).send().await.unwrap();
        assert_eq!(first.status(), 200, "{dialect:?}: {}", first.text());
        assert_eq!(first.token(), TokenUse::Paid, "{dialect:?}");
        let receipt = first.receipt().unwrap();
        assert_eq!(receipt.token_kind, kind, "{dialect:?}");
        assert_eq!(
            receipt.token_kind.hash_checked(),
            kind == TokenKind::Macaroon
        );

        let again = client.get(server.url("/premium")).send().await.unwrap();
        assert_eq!(again.token(), TokenUse::Cached, "{dialect:?}");
        assert_eq!(server.payments().await, 1, "{dialect:?}");
        assert_eq!(dev.spent_sats(FUNDS).await, 10, "{dialect:?}");
        assert_eq!(server.served(), 2, "{dialect:?}");

        // The trace and the stored token say what kind of token it was.
        let traces = client.traces(2).await.unwrap();
        assert_eq!(traces[1].outcome, Outcome::Paid);
        assert_eq!(traces[1].token_kind, Some(kind), "{dialect:?}");
        assert_eq!(traces[0].token_kind, Some(kind), "{dialect:?}");
        let tokens = store.list().await.unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].kind, kind);
        assert_eq!(tokens[0].uses, 2);
        assert_eq!(tokens[0].amount_msat, Some(10_000));

        // parse_challenge reads the same 402 the same way.
        let raw = reqwest::get(server.url("/premium")).await.unwrap();
        let status = raw.status();
        let headers = raw.headers().clone();
        let body = raw.bytes().await.unwrap();
        let offer = parse_challenge(status, &headers, &body).unwrap();
        assert_eq!(offer.quote.token_kind, kind, "{dialect:?}");
        assert_eq!(offer.quote.source, source, "{dialect:?}");
        assert_eq!(offer.quote.amount_sats(), Some(10));
        assert_eq!(offer.quote.payment_hash, offer.invoice.payment_hash());
        // Every token here names its payment hash (a macaroon's identifier,
        // the unsigned JSON of l402kit's and Alby's): the invoice's.
        assert_eq!(
            offer.token_payment_hash,
            Some(offer.quote.payment_hash),
            "{dialect:?}"
        );
    }
}

#[tokio::test]
async fn header_and_body_disagreeing_are_refused_before_paying() {
    for (dialect, field) in [
        (Dialect::DisagreeInvoice, "invoice"),
        (Dialect::DisagreeMacaroon, "macaroon"),
    ] {
        let (dev, server) = setup(dialect, Options::default()).await;
        let client = builder(&dev).build().unwrap();
        let err = client.get(server.url("/premium")).send().await.unwrap_err();
        assert!(
            matches!(err, FetchError::BadChallenge(ChallengeProblem::BodyDisagrees(f)) if f == field),
            "{dialect:?}: {err:?}"
        );
        assert_eq!(err.money_moved(), MoneyMoved::No);
        assert_eq!(server.payments().await, 0);
        assert_eq!(dev.spent_sats(FUNDS).await, 0);
    }
    let (dev, server) = setup(Dialect::BodyWrongPrice, Options::default()).await;
    let client = builder(&dev).build().unwrap();
    let err = client.get(server.url("/premium")).send().await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::BadChallenge(ChallengeProblem::BodyInconsistent("price"))
        ),
        "{err:?}"
    );
    assert_eq!(server.payments().await, 0);
}

/// l402kit's hosted demo binds its token to a server-generated preimage,
/// not to the invoice: the token's JSON names another payment hash than the
/// invoice's, so paying could never be accepted. Refused before paying.
#[tokio::test]
async fn an_opaque_token_naming_another_payment_hash_is_refused_before_paying() {
    let (dev, server) = setup(Dialect::L402kitForeignHash, Options::default()).await;
    let client = builder(&dev).build().unwrap();
    let err = client.get(server.url("/premium")).send().await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Refused(Refusal::Invoice(
                l402::InvoiceError::PaymentHashMismatch { .. }
            ))
        ),
        "{err:?}"
    );
    assert_eq!(err.money_moved(), MoneyMoved::No);
    assert_eq!(server.payments().await, 0);
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn require_macaroon_refuses_opaque_tokens_and_pays_macaroons() {
    for dialect in [Dialect::L402kit, Dialect::Alby, Dialect::L402kitBodyOnly] {
        let (dev, server) = setup(dialect, Options::default()).await;
        let client = builder(&dev).require_macaroon(true).build().unwrap();
        let err = client.get(server.url("/premium")).send().await.unwrap_err();
        assert!(
            matches!(err, FetchError::Refused(Refusal::OpaqueToken)),
            "{dialect:?}: {err:?}"
        );
        assert_eq!(err.code(), "refused");
        assert_eq!(server.payments().await, 0, "{dialect:?}");
    }
    let (dev, server) = setup(Dialect::ExpressBodyOnly, Options::default()).await;
    let client = builder(&dev).require_macaroon(true).build().unwrap();
    let ok = client.get(server.url("/premium")).send().await.unwrap();
    assert_eq!(ok.token(), TokenUse::Paid);
    assert_eq!(server.payments().await, 1);
}

/// l402kit's tokens are single-use: the stored token's second use gets 401;
/// it is dropped and reported, and that request buys anew (one payment),
/// under the same budgets.
#[tokio::test]
async fn single_use_tokens_are_dropped_reported_and_bought_again_within_budget() {
    let opts = Options {
        single_use: true,
        ..Options::default()
    };
    let (dev, server) = setup(Dialect::L402kit, opts).await;
    let store = SqliteStore::in_memory().await.unwrap();
    let client = builder(&dev)
        .sqlite(store.clone())
        .max_fee_sats(0)
        .budget(Budget::new().total_sats(25))
        .build()
        .unwrap();
    let first = client.get(server.url("/premium")).send().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), first.token()),
        (200, TokenUse::Paid)
    );
    assert!(first.refused_token().is_none());
    let hash = first.receipt().unwrap().payment_hash;

    let second = client.get(server.url("/premium")).send().await.unwrap();
    assert_eq!(
        (second.status().as_u16(), second.token()),
        (200, TokenUse::Paid)
    );
    let refused = second.refused_token().unwrap();
    assert_eq!((refused.status, refused.payment_hash), (401, hash));
    assert_eq!(refused.kind, TokenKind::Opaque);
    assert_eq!(server.payments().await, 2);
    let trace = &client.traces(1).await.unwrap()[0];
    assert!(
        trace
            .error
            .as_deref()
            .unwrap()
            .contains("refused with HTTP 401 and dropped"),
        "{trace:?}"
    );

    // The third purchase would pass the total budget (30 > 25): refused.
    let err = client.get(server.url("/premium")).send().await.unwrap_err();
    assert!(
        matches!(err, FetchError::Refused(Refusal::Budget(_))),
        "{err:?}"
    );
    assert_eq!(server.payments().await, 2);
    assert_eq!(dev.spent_sats(FUNDS).await, 20);
    // The refused token is gone from the store.
    assert!(store.list().await.unwrap().is_empty());
}

/// "Payment not yet confirmed" (425, 503, 402 with `Retry-After`) is
/// re-sent with the same credential, never paid again, in each dialect;
/// `Retry-After` lengthens the wait.
#[tokio::test]
async fn slow_paid_retries_are_resent_never_paid_again() {
    for (dialect, status) in [
        (Dialect::L402kit, 503),
        (Dialect::L402kitBodyOnly, 425),
        (Dialect::ExpressBodyOnly, 402),
        (Dialect::LightningEnableBodyOnly, 503),
        (Dialect::Alby, 425),
    ] {
        let opts = Options {
            not_yet: 1,
            not_yet_status: status,
            ..Options::default()
        };
        let (dev, server) = setup(dialect, opts).await;
        let client = builder(&dev).build().unwrap();
        let started = Instant::now();
        let ok = client.get(server.url("/premium")).send().await.unwrap();
        assert_eq!(ok.status(), 200, "{dialect:?}");
        assert_eq!(ok.token(), TokenUse::Paid);
        // Retry-After: 1 (the configured wait is 20 ms).
        assert!(started.elapsed() >= Duration::from_secs(1), "{dialect:?}");
        assert_eq!(server.payments().await, 1, "{dialect:?}");
        assert_eq!(server.challenges(), 1, "{dialect:?}");
    }
    // Still "not yet" after every retry: the last answer is returned with
    // the receipt, paid once.
    let opts = Options {
        not_yet: 10,
        not_yet_status: 503,
        ..Options::default()
    };
    let (dev, server) = setup(Dialect::L402kit, opts).await;
    let client = builder(&dev).build().unwrap();
    let answer = client.get(server.url("/premium")).send().await.unwrap();
    assert_eq!(answer.status(), 503);
    assert!(answer.receipt().is_some());
    assert_eq!(server.payments().await, 1);
    assert_eq!(dev.spent_sats(FUNDS).await, 10);
}

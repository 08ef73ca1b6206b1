//! `l402 get` against a hand-made server for each L402 dialect deployed
//! sellers speak and each way one goes wrong (l402-client's
//! `tests/common/dialect.rs`), paying through the dev node's LNbits-shaped
//! API. Every case asserts the exit code and the payments the server got.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;

use std::sync::Arc;

use get_support::server::Dev;
use get_support::server::dialect::{Dialect, DialectServer, Options};
use get_support::{Run, get_json};
use l402_lightning::dev::DevServer;

const FUNDS: u64 = 1_000;

struct Setup {
    dev: Dev,
    wallet_api: DevServer,
    server: DialectServer,
    dir: tempfile::TempDir,
}

async fn setup(dialect: Dialect, opts: Options) -> Setup {
    let dev = Dev::new(FUNDS).await;
    let wallet_api = dev
        .node
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let server = DialectServer::start(Arc::new(dev.seller.clone()), dialect, opts).await;
    Setup {
        dev,
        wallet_api,
        server,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    async fn get(&self, extra: &[&str]) -> Run {
        let url = self.server.url("/premium");
        let api = self.wallet_api.url();
        let mut args = vec![
            "--lnbits-url",
            api.as_str(),
            "--lnbits-admin-key",
            self.dev.buyer.admin_key(),
            "--retry-backoff-ms",
            "10,10",
        ];
        args.extend_from_slice(extra);
        args.push(url.as_str());
        get_json(self.dir.path(), &args, &[]).await
    }
}

#[tokio::test]
async fn every_dialect_is_paid_once_then_reused() {
    for (dialect, kind) in [
        (Dialect::L402kit, "opaque"),
        (Dialect::L402kitBodyOnly, "opaque"),
        (Dialect::ExpressBodyOnly, "macaroon"),
        (Dialect::LightningEnableBodyOnly, "macaroon"),
        (Dialect::Alby, "opaque"),
    ] {
        let s = setup(dialect, Options::default()).await;
        let run = s.get(&[]).await;
        assert_eq!(
            run.code,
            Some(0),
            "{dialect:?}: {} {}",
            run.json,
            run.stderr
        );
        assert_eq!(run.json["token"], "paid", "{dialect:?}");
        assert_eq!(run.json["receipt"]["token_kind"], kind, "{dialect:?}");
        let run = s.get(&[]).await;
        assert_eq!(run.code, Some(0), "{dialect:?}: {}", run.json);
        assert_eq!(run.json["token"], "cached", "{dialect:?}");
        assert_eq!(s.server.payments().await, 1, "{dialect:?}");
        assert_eq!(s.dev.spent_sats(FUNDS).await, 10, "{dialect:?}");
    }
}

#[tokio::test]
async fn no_pay_shows_the_token_kind_and_where_the_challenge_was() {
    let s = setup(Dialect::L402kitBodyOnly, Options::default()).await;
    let run = s.get(&["--no-pay"]).await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["quote"]["token_kind"], "opaque");
    assert_eq!(run.json["quote"]["source"], "body");
    assert_eq!(run.json["quote"]["amount_msat"], 10_000);
    assert_eq!(s.server.payments().await, 0);
}

#[tokio::test]
async fn header_and_body_disagreeing_exit_8_and_pay_nothing() {
    for dialect in [
        Dialect::DisagreeInvoice,
        Dialect::DisagreeMacaroon,
        Dialect::BodyWrongPrice,
    ] {
        let s = setup(dialect, Options::default()).await;
        let run = s.get(&[]).await;
        assert_eq!(run.code, Some(8), "{dialect:?}: {}", run.json);
        assert_eq!(run.json["error"]["code"], "bad_challenge");
        assert_eq!(run.json["error"]["money_moved"], "no");
        assert_eq!(s.server.payments().await, 0, "{dialect:?}");
        assert_eq!(s.dev.spent_sats(FUNDS).await, 0);
    }
}

#[tokio::test]
async fn an_opaque_token_naming_another_payment_hash_exits_8_unpaid() {
    let s = setup(Dialect::L402kitForeignHash, Options::default()).await;
    let run = s.get(&[]).await;
    assert_eq!(run.code, Some(8), "{}", run.json);
    assert_eq!(run.json["error"]["money_moved"], "no");
    assert!(
        run.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payment hash"),
        "{}",
        run.json
    );
    assert_eq!(s.server.payments().await, 0);
}

#[tokio::test]
async fn require_macaroon_refuses_opaque_tokens_with_exit_8() {
    for dialect in [Dialect::L402kit, Dialect::Alby] {
        let s = setup(dialect, Options::default()).await;
        let run = s.get(&["--require-macaroon"]).await;
        assert_eq!(run.code, Some(8), "{dialect:?}: {}", run.json);
        assert_eq!(run.json["error"]["code"], "refused");
        assert!(
            run.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not an L402 macaroon"),
            "{}",
            run.json
        );
        assert_eq!(s.server.payments().await, 0, "{dialect:?}");
    }
    let s = setup(Dialect::ExpressBodyOnly, Options::default()).await;
    let run = s.get(&["--require-macaroon"]).await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(s.server.payments().await, 1);
}

#[tokio::test]
async fn single_use_tokens_are_bought_again_once_per_run_within_budget() {
    let opts = Options {
        single_use: true,
        ..Options::default()
    };
    let s = setup(Dialect::L402kit, opts).await;
    let budget = ["--budget-total", "25", "--max-fee-sats", "0"];
    let run = s.get(&budget).await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["token"], "paid");
    assert!(run.json["refused_token"].is_null());
    let first_hash = run.json["receipt"]["payment_hash"].clone();

    // The stored token is refused (401, single use): dropped, reported, and
    // this run buys one new token.
    let run = s.get(&budget).await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["token"], "paid");
    assert_eq!(run.json["refused_token"]["status"], 401);
    assert_eq!(run.json["refused_token"]["payment_hash"], first_hash);
    assert_eq!(s.server.payments().await, 2);

    // A third purchase would pass the total budget: exit 3, nothing paid.
    let run = s.get(&budget).await;
    assert_eq!(run.code, Some(3), "{}", run.json);
    assert_eq!(run.json["error"]["code"], "over_limit");
    assert_eq!(s.server.payments().await, 2);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 20);
}

#[tokio::test]
async fn slow_paid_retries_are_resent_without_paying_again() {
    for (dialect, status) in [
        (Dialect::L402kit, 503),
        (Dialect::ExpressBodyOnly, 402),
        (Dialect::LightningEnableBodyOnly, 425),
        (Dialect::Alby, 503),
    ] {
        let opts = Options {
            not_yet: 1,
            not_yet_status: status,
            ..Options::default()
        };
        let s = setup(dialect, opts).await;
        let run = s.get(&[]).await;
        assert_eq!(run.code, Some(0), "{dialect:?}: {}", run.json);
        assert_eq!(run.json["status"], 200, "{dialect:?}");
        assert_eq!(run.json["token"], "paid");
        assert_eq!(s.server.payments().await, 1, "{dialect:?}");
        assert_eq!(s.server.challenges(), 1, "{dialect:?}");
    }
}

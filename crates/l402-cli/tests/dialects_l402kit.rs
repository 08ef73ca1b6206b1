//! `l402 get` against the real l402kit server from PyPI (its FastAPI
//! decorator, `scripts/l402kit.sh serve`), self-hosted on LNbits FakeWallet
//! and paid through the same LNbits: l402kit's "macaroon" is base64 JSON (an
//! opaque token) and its tokens are single-use.
//!
//! Needs a running LNbits (`bash scripts/lnbits.sh start && source
//! "$(bash scripts/lnbits.sh envfile)"`) and the l402kit virtualenv (`bash
//! scripts/l402kit.sh install`). Without them the test says how to enable it
//! and passes, unless `L402_REQUIRE_L402KIT=1` (CI), when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod l402kit_support;

use std::time::Duration;

use get_support::get_json;
use l402_lightning::Wallet;
use l402_lightning::lnbits::LnbitsClient;

#[tokio::test]
async fn get_pays_the_l402kit_pypi_server_once_per_single_use_token() {
    let Some(kit) = l402kit_support::start("l402kit dialect test").await else {
        return;
    };
    let (url, payer_admin, base) = (
        kit.lnbits_url.clone(),
        kit.payer_admin_key.clone(),
        kit.base.clone(),
    );
    let payer = LnbitsClient::builder(&url)
        .admin_key(&payer_admin)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let start_msat = payer.balance_msat().await.unwrap();
    let spent_sats = || async { (start_msat - payer.balance_msat().await.unwrap()) / 1000 };
    let dir = tempfile::tempdir().unwrap();
    let target = format!("{base}/premium");
    let get = |extra: &'static [&'static str]| {
        let mut args = vec![
            "--lnbits-url",
            url.as_str(),
            "--lnbits-admin-key",
            payer_admin.as_str(),
            "--max-fee-sats",
            "0",
            "--budget-total",
            "25",
        ];
        args.extend_from_slice(extra);
        args.push(target.as_str());
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let dir = dir.path().to_path_buf();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            get_json(&dir, &args, &[]).await
        }
    };

    // The price, without paying: an opaque token, header and body agreeing.
    let quoted = get(&["--no-pay"]).await;
    assert_eq!(quoted.code, Some(0), "{} {}", quoted.json, quoted.stderr);
    assert_eq!(quoted.json["quote"]["token_kind"], "opaque");
    assert_eq!(quoted.json["quote"]["source"], "header_and_body");
    assert_eq!(quoted.json["quote"]["amount_msat"], 10_000);

    // --require-macaroon refuses l402kit's JSON token: exit 8, nothing paid.
    let strict = get(&["--require-macaroon"]).await;
    assert_eq!(strict.code, Some(8), "{}", strict.json);
    assert_eq!(strict.json["error"]["money_moved"], "no");
    assert_eq!(spent_sats().await, 0);

    // Paid once: exactly one payment, exit 0, the receipt says the token
    // could not be checked against the payment hash.
    let first = get(&[]).await;
    assert_eq!(first.code, Some(0), "{} {}", first.json, first.stderr);
    assert_eq!(first.json["token"], "paid");
    assert_eq!(first.json["body_json"]["data"], "premium content");
    assert_eq!(first.json["receipt"]["token_kind"], "opaque");
    assert_eq!(spent_sats().await, 10);

    // l402kit refuses a token's second use (401 "Token already used"): the
    // stored token is dropped and reported, and this run buys one new token.
    let second = get(&[]).await;
    assert_eq!(second.code, Some(0), "{} {}", second.json, second.stderr);
    assert_eq!(second.json["token"], "paid");
    assert_eq!(second.json["refused_token"]["status"], 401);
    assert_eq!(
        second.json["refused_token"]["payment_hash"],
        first.json["receipt"]["payment_hash"]
    );
    assert_eq!(spent_sats().await, 20);

    // A third token would pass the 25-sat total budget: exit 3, not paid.
    let third = get(&[]).await;
    assert_eq!(third.code, Some(3), "{}", third.json);
    assert_eq!(third.json["error"]["code"], "over_limit");
    assert_eq!(spent_sats().await, 20);
}

//! `l402 check` against the real l402kit server from PyPI (its FastAPI
//! decorator, `scripts/l402kit.sh serve`) on LNbits FakeWallet, paid
//! through the same LNbits. The verdicts are what l402kit 1.10.1 does:
//! Aperture's header form and a body that agrees, but an unsigned base64
//! JSON token instead of a macaroon, no Cache-Control or CORS header, and
//! a fresh 402 challenge (not a 401) for a garbage credential or a wrong
//! preimage; its tokens are single-use.
//!
//! Needs a running LNbits (`bash scripts/lnbits.sh start && source
//! "$(bash scripts/lnbits.sh envfile)"`) and the l402kit virtualenv (`bash
//! scripts/l402kit.sh install`); without them it says so and passes,
//! unless `L402_REQUIRE_L402KIT=1` (CI), when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check_support;
mod get_support;
mod l402kit_support;

use std::time::Duration;

use check_support::{failed, run_json, verdict};
use l402_lightning::Wallet;
use l402_lightning::lnbits::LnbitsClient;

#[tokio::test]
async fn l402kit_verdicts_unpaid_and_paid() {
    let Some(kit) = l402kit_support::start("l402 check against l402kit").await else {
        return;
    };
    let (url, payer_admin, base) = (
        kit.lnbits_url.clone(),
        kit.payer_admin_key.clone(),
        kit.base.clone(),
    );
    let premium = format!("{base}/premium");
    let dir = tempfile::tempdir().unwrap();

    let check = run_json(dir.path(), &["check", &premium], &[]).await;
    assert_eq!(check.code, Some(1), "{} {}", check.json, check.stderr);
    assert_eq!(
        failed(&check.json),
        [
            "lsat_challenge",
            "cache_control",
            "cors_expose",
            "macaroon_v2",
            "garbage_credential"
        ],
        "{}",
        check.json
    );
    for (id, expected) in [
        ("header_form", "pass"),
        ("body_agrees", "pass"),
        ("macaroon_identifier", "skip"),
        // Read from the JSON token's `hash`.
        ("payment_hash_match", "pass"),
        ("invoice_amount", "pass"),
    ] {
        assert_eq!(verdict(&check.json, id), expected, "{id}: {}", check.json);
    }

    // --pay through the same LNbits: one payment of 10 sats.
    let payer = LnbitsClient::builder(&url)
        .admin_key(&payer_admin)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let before = payer.balance_msat().await.unwrap();
    let paid = run_json(
        dir.path(),
        &[
            "check",
            "--pay",
            "--other-path",
            "/free",
            "--lnbits-url",
            &url,
            "--lnbits-admin-key",
            &payer_admin,
            "--max-sats",
            "10",
            "--max-fee-sats",
            "0",
            &premium,
        ],
        &[],
    )
    .await;
    assert_eq!(paid.code, Some(1), "{} {}", paid.json, paid.stderr);
    assert_eq!((before - payer.balance_msat().await.unwrap()) / 1000, 10);
    assert_eq!(paid.json["purchase"]["token_kind"], "opaque");
    assert_eq!(verdict(&paid.json, "paid_access"), "pass");
    assert_eq!(verdict(&paid.json, "wrong_preimage"), "fail");
    assert_eq!(verdict(&paid.json, "other_path"), "skip");
    assert_eq!(verdict(&paid.json, "lsat_credential"), "skip");
    let reuse = paid.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "reuse")
        .unwrap();
    assert!(
        reuse["detail"]
            .as_str()
            .unwrap()
            .starts_with("single-use: HTTP 401"),
        "{reuse}"
    );
}

//! `l402 get` paying with a real LNbits 1.6.2 wallet (`--lnbits-url`,
//! `--lnbits-admin-key`) against a hand-made server whose invoices come from
//! the same LNbits (FakeWallet settles only its own invoices).
//!
//! Enable with `bash scripts/lnbits.sh start && source target/lnbits/lnbits.env`.
//! Without the variables the test prints how to enable it and passes, unless
//! `L402_REQUIRE_LNBITS=1` (CI), in which case it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;

use std::sync::Arc;
use std::time::Duration;

use get_support::get_json;
use get_support::server::{Mode, TestServer};
use l402_lightning::Wallet;
use l402_lightning::lnbits::LnbitsClient;

#[tokio::test]
async fn get_pays_with_real_lnbits_and_recovers_after_a_kill() {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(url), Some(merchant_invoice), Some(payer_admin)) = (
        get("L402_LNBITS_URL"),
        get("L402_LNBITS_MERCHANT_INVOICE_KEY"),
        get("L402_LNBITS_PAYER_ADMIN_KEY"),
    ) else {
        let how = "this test needs L402_LNBITS_URL, L402_LNBITS_MERCHANT_INVOICE_KEY and \
                   L402_LNBITS_PAYER_ADMIN_KEY: run `bash scripts/lnbits.sh start && source \
                   target/lnbits/lnbits.env`";
        if std::env::var("L402_REQUIRE_LNBITS").as_deref() == Ok("1") {
            panic!("L402_REQUIRE_LNBITS=1 but {how}");
        }
        println!("SKIPPED get_pays_with_real_lnbits: {how}");
        eprintln!("SKIPPED get_pays_with_real_lnbits: {how}");
        return;
    };
    let merchant = LnbitsClient::builder(&url)
        .invoice_key(&merchant_invoice)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let server = TestServer::start(Arc::new(merchant), Mode::Normal, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let wallet = [
        "--lnbits-url",
        url.as_str(),
        "--lnbits-admin-key",
        payer_admin.as_str(),
    ];
    let target = server.url("/paid/cli");
    let mut args = wallet.to_vec();
    args.push(&target);

    let run = get_json(dir.path(), &args, &[]).await;
    assert_eq!(run.code, Some(0), "{} {}", run.json, run.stderr);
    assert_eq!(run.json["token"], "paid");
    let run = get_json(dir.path(), &args, &[]).await;
    assert_eq!(run.json["token"], "cached");
    assert_eq!(server.challenges(), 1);

    if cfg!(debug_assertions) {
        let target = server.url("/paid/killed");
        let mut args = wallet.to_vec();
        args.push(&target);
        let crashed = get_json(dir.path(), &args, &[("L402_TEST_ABORT_AFTER_PAY", "1")]).await;
        assert_eq!(crashed.code, None, "aborted after paying");
        let payer = LnbitsClient::builder(&url)
            .admin_key(&payer_admin)
            .build()
            .unwrap();
        let after_crash = payer.balance_msat().await.unwrap();
        let rerun = get_json(dir.path(), &args, &[]).await;
        assert_eq!(rerun.code, Some(0), "{} {}", rerun.json, rerun.stderr);
        assert_eq!(rerun.json["token"], "cached", "{}", rerun.json);
        assert_eq!(payer.balance_msat().await.unwrap(), after_crash);
        // The rerun used the recovered token: no new challenge at all.
        assert_eq!(server.challenges(), 2);
    }
}

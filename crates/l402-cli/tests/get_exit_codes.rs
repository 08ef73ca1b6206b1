//! `l402 get` against a hand-made server that misbehaves, paying through the
//! dev node's LNbits-compatible API (`--lnbits-url`/`--lnbits-admin-key`):
//! each failure has its own exit code and says whether money moved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;

use std::sync::Arc;

use get_support::get_json;
use get_support::server::{Dev, Mode, TestServer};
use l402_lightning::dev::DevServer;

const FUNDS: u64 = 1_000;

struct Setup {
    dev: Dev,
    wallet_api: DevServer,
    server: TestServer,
    dir: tempfile::TempDir,
}

async fn setup(mode: Mode, price: u64, funds: u64) -> Setup {
    let dev = Dev::new(funds).await;
    let wallet_api = dev
        .node
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let server = TestServer::start(Arc::new(dev.seller.clone()), mode, price).await;
    Setup {
        dev,
        wallet_api,
        server,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    async fn get(&self, extra: &[&str], path: &str) -> get_support::Run {
        let url = self.server.url(path);
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
async fn pays_through_lnbits_flags_and_reuses() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let run = s.get(&[], "/paid/x").await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["token"], "paid");
    let run = s.get(&[], "/paid/x").await;
    assert_eq!(run.json["token"], "cached");
    assert_eq!(s.dev.spent_sats(FUNDS).await, 8);
}

#[tokio::test]
async fn server_refusing_after_payment_exits_5_and_pays_once() {
    let s = setup(Mode::Always402, 8, FUNDS).await;
    let run = s.get(&[], "/paid/x").await;
    assert_eq!(run.code, Some(5), "{}", run.json);
    assert_eq!(run.json["error"]["code"], "server_refused");
    assert_eq!(run.json["error"]["money_moved"], "yes");
    assert!(run.json["receipt"]["preimage"].is_string());
    assert_eq!(s.dev.spent_sats(FUNDS).await, 8);
    assert_eq!(s.server.authorized(), 3);
}

#[tokio::test]
async fn swapped_hash_exits_8_without_paying() {
    let s = setup(Mode::SwappedHash, 8, FUNDS).await;
    let run = s.get(&[], "/paid/x").await;
    assert_eq!(run.code, Some(8), "{}", run.json);
    assert_eq!(run.json["error"]["money_moved"], "no");
    assert!(
        run.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payment hash")
    );
    assert_eq!(s.dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn amountless_invoice_exits_8() {
    let s = setup(Mode::Amountless, 8, FUNDS).await;
    let run = s.get(&[], "/paid/x").await;
    assert_eq!(run.code, Some(8), "{}", run.json);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn over_budget_exits_3() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let run = s
        .get(&["--budget-total", "10", "--max-fee-sats", "0"], "/paid/a")
        .await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    let run = s
        .get(&["--budget-total", "10", "--max-fee-sats", "0"], "/paid/b")
        .await;
    assert_eq!(run.code, Some(3), "{}", run.json);
    assert_eq!(run.json["error"]["code"], "over_limit");
    let run = s
        .get(
            &[
                "--fiat-cap",
                "1",
                "--fiat-currency",
                "usd",
                "--btc-price",
                "10000000",
            ],
            "/paid/c",
        )
        .await;
    assert_eq!(run.code, Some(3), "{}", run.json);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 8);
}

#[tokio::test]
async fn payment_failure_exits_4_without_moving_money() {
    let s = setup(Mode::Normal, 8, 5).await;
    let run = s.get(&[], "/paid/x").await;
    assert_eq!(run.code, Some(4), "{}", run.json);
    assert_eq!(run.json["error"]["code"], "payment_failed");
    assert_eq!(run.json["error"]["money_moved"], "no");
}

#[tokio::test]
async fn network_error_exits_6() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let run = get_json(s.dir.path(), &["--no-pay", &closed], &[]).await;
    assert_eq!(run.code, Some(6), "{}", run.json);
    assert_eq!(run.json["error"]["code"], "network");
}

#[tokio::test]
async fn payment_challenge_first_and_lowercase_token_are_paid() {
    for mode in [
        Mode::PaymentFirst,
        Mode::PaymentFirstJoined,
        Mode::LowerToken,
    ] {
        let s = setup(mode, 4, FUNDS).await;
        let run = s.get(&[], "/paid/x").await;
        assert_eq!(run.code, Some(0), "{mode:?}: {}", run.json);
        assert_eq!(run.json["body"], "the secret of /paid/x");
        assert_eq!(s.dev.spent_sats(FUNDS).await, 4);
    }
}

#[tokio::test]
async fn post_with_headers_and_body_is_resent_with_the_credential() {
    let s = setup(Mode::Normal, 2, FUNDS).await;
    let run = s
        .get(
            &["-X", "POST", "-H", "X-Test: 1", "-d", "hello"],
            "/paid/post",
        )
        .await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["status"], 200);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 2);
}

#[tokio::test]
async fn wallet_and_limits_from_the_config_file() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    std::fs::write(
        s.dir.path().join("get.toml"),
        format!(
            "max_sats = 5\n[wallet]\nkind = \"lnbits\"\nurl = \"{}\"\nadmin_key = \"{}\"\n",
            s.wallet_api.url(),
            s.dev.buyer.admin_key()
        ),
    )
    .unwrap();
    let url = s.server.url("/paid/cfg");
    // max_sats = 5 from the file refuses the 8-sat invoice...
    let run = get_json(s.dir.path(), &[&url], &[]).await;
    assert_eq!(run.code, Some(3), "{}", run.json);
    // ...a flag wins over the file, and the file's wallet pays.
    let run = get_json(s.dir.path(), &["--max-sats", "10", &url], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["token"], "paid");
    assert_eq!(s.dev.spent_sats(FUNDS).await, 8);
    // A bad file is an error, not ignored.
    std::fs::write(s.dir.path().join("get.toml"), "max_sat = 5\n").unwrap();
    let run = get_json(s.dir.path(), &[&url], &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.json);
}

#[tokio::test]
async fn no_wallet_is_a_configuration_error_but_the_price_can_be_shown() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let url = s.server.url("/paid/x");
    let run = get_json(s.dir.path(), &[&url], &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.json);
    assert!(
        run.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no wallet configured")
    );
    let run = get_json(s.dir.path(), &["--no-pay", &url], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["quote"]["amount_msat"], 8_000);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn without_location_a_redirect_is_printed_and_nothing_paid() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let run = s.get(&[], "/to/r").await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["status"], 303);
    assert_eq!(run.json["headers"]["location"], "/paid/r");
    assert_eq!(s.server.challenges(), 0);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn location_follows_a_redirect_and_the_token_is_for_the_final_url() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let run = s.get(&["-L"], "/to/r").await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["token"], "paid");
    assert_eq!(run.json["url"], s.server.url("/paid/r"));
    let run = s.get(&[], "/paid/r").await;
    assert_eq!(run.json["token"], "cached", "{}", run.json);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 8);
}

#[tokio::test]
async fn location_refuses_a_402_on_another_origin_without_paying() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let run = s.get(&["-L"], "/away/r").await;
    assert_eq!(run.code, Some(8), "{}", run.json);
    assert_eq!(run.json["error"]["code"], "refused");
    assert_eq!(run.json["error"]["money_moved"], "no");
    assert_eq!(s.dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn output_into_a_missing_directory_fails_before_anything_is_paid() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let out = s.dir.path().join("missing").join("body.txt");
    let run = s.get(&["-o", out.to_str().unwrap()], "/paid/o").await;
    assert_eq!(run.code, Some(1), "{}", run.json);
    assert_eq!(run.json["error"]["money_moved"], "no");
    assert_eq!(s.server.challenges(), 0);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 0);
}

#[tokio::test]
async fn output_writes_the_body_to_the_file() {
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let out = s.dir.path().join("body.txt");
    std::fs::write(&out, "an older, longer content").unwrap();
    let run = s.get(&["-o", out.to_str().unwrap()], "/paid/o").await;
    assert_eq!(run.code, Some(0), "{}", run.json);
    assert_eq!(run.json["token"], "paid");
    assert_eq!(run.json["output"], out.to_str().unwrap());
    assert!(run.json.get("body").is_none(), "{}", run.json);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the secret of /paid/o"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_error_after_paying_reports_that_money_moved() {
    // Writing the body fails (no space on /dev/full) after the payment.
    let s = setup(Mode::Normal, 8, FUNDS).await;
    let run = s.get(&["-o", "/dev/full"], "/paid/full").await;
    assert_eq!(run.code, Some(1), "{}", run.json);
    assert_eq!(run.json["error"]["money_moved"], "yes", "{}", run.json);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 8);
    // The token was kept: the next run pays nothing.
    let run = s.get(&[], "/paid/full").await;
    assert_eq!(run.json["token"], "cached", "{}", run.json);
    assert_eq!(s.dev.spent_sats(FUNDS).await, 8);
}

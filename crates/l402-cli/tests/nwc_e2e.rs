//! A purchase end to end through the real binaries over Nostr Wallet
//! Connect, against the real thing: `l402 serve` with `[backend] kind =
//! "nwc"` mints its invoices through Alby's wallet service (`@getalby/sdk`
//! 7.0.0 `NWCWalletService`, `scripts/nwc/service.mjs`) over a real relay
//! (PyPI `nostr-relay` 1.14, `scripts/nwc.sh start`), and `l402 get` pays
//! through the same service with `NWC_CONNECTION_STRING` (Lightning
//! Enable's name). The service's wallets are one dev-node ledger in this
//! process, so the money that moves is counted there: paid once, 200, the
//! token reused; a payment the wallet fails is exit 4 with "no money
//! moved"; a relay connection cut after the pay request is resolved by
//! lookup, never paid twice; the server learns of the settlement from the
//! wallet's `payment_received` notification. Both encryptions: NIP-44 v2
//! (the SDK's info event offers it) and NIP-04 (a wallet whose info event
//! has no encryption tag).
//!
//! Without the stack each test says so and passes, unless
//! `L402_REQUIRE_NWC=1` (CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../l402-lightning/tests/nwc_support/mod.rs"]
mod nwc_support;
mod serve_support;

use std::path::Path;
use std::time::Duration;

use l402_lightning::Wallet;
use l402_lightning::dev::{DevFault, DevNode};
use l402_lightning::nwc::NwcUri;
use nwc_support::{proxy, secret_of, service, stack, with_relay};
use serve_support::{GetRun, Server, clean, get_regtest, l402, start_capturing_stderr, strip_ansi};

async fn get(client_dir: &Path, url: &str, wallet: &NwcUri) -> GetRun {
    let env = [("NWC_CONNECTION_STRING", wallet.to_secret_string())];
    get_regtest(client_dir, url, &env).await
}

const PRICE_SATS: u64 = 10;

/// The purchase scenario over the connections named `merchant`/`payer`
/// plus `suffix` (`""`: NIP-44 v2; `"_nip04"`: NIP-04).
async fn purchase_end_to_end(suffix: &str) {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let dev = node.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let merchant_wallet = node.wallet("merchant").await.unwrap();
    let payer_wallet = node.wallet("payer").await.unwrap();
    payer_wallet.credit_sats(1_000).await.unwrap();
    let Some(svc) = service(
        &dev.url(),
        &[("merchant", &merchant_wallet), ("payer", &payer_wallet)],
    )
    .await
    else {
        return;
    };
    let (relay, _, _) = stack().unwrap();
    let cutter = proxy(&relay).await;
    let merchant: NwcUri = svc.connections[&format!("merchant{suffix}")]
        .parse()
        .unwrap();
    let payer: NwcUri = svc.connections[&format!("payer{suffix}")].parse().unwrap();
    let payer = with_relay(&payer, &cutter.url);
    let secrets = [secret_of(&merchant), secret_of(&payer)];

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("l402.toml");
    std::fs::write(
        &config,
        format!(
            "[backend]\nkind = \"nwc\"\nconnection = \"{}\"\n\n\
             [[routes]]\npath = \"/api/report\"\nprice_sats = {PRICE_SATS}\nbody = \"paid report\"\n\n\
             [[routes]]\npath = \"/api/fails\"\nprice_sats = 5\nbody = \"never\"\ndescription = '{}'\n\n\
             [[routes]]\npath = \"/api/cut\"\nprice_sats = 7\nbody = \"cut but paid once\"\n",
            merchant.to_secret_string(),
            DevFault::Failed.memo()
        ),
    )
    .unwrap();
    let mut cmd = clean(l402(dir.path()));
    cmd.env("L402_LOG", "l402::settlements=info");
    let (server, server_stderr): (Server, _) =
        start_capturing_stderr(cmd, &["--config", config.to_str().unwrap()]).await;
    let base = server.url();
    let client = tempfile::tempdir().unwrap();
    let balances = || async {
        (
            payer_wallet.balance_msat().await.unwrap(),
            merchant_wallet.balance_msat().await.unwrap(),
        )
    };
    assert_eq!(balances().await, (1_000_000, 0));

    // Paid once, 200.
    let paid = get(client.path(), &format!("{base}/api/report"), &payer).await;
    assert_eq!(
        paid.code,
        Some(0),
        "{suffix}: {}\n{}",
        paid.stdout,
        paid.stderr
    );
    assert_eq!(paid.json["status"], 200, "{}", paid.json);
    assert_eq!(paid.json["token"], "paid");
    assert_eq!(paid.json["body"], "paid report");
    assert_eq!(paid.json["receipt"]["amount_msat"], PRICE_SATS * 1000);
    let hash = paid.json["receipt"]["payment_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(balances().await, (990_000, 10_000));

    // The token is reused: nothing more moves.
    let again = get(client.path(), &format!("{base}/api/report"), &payer).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.json["token"], "cached");
    assert_eq!(balances().await, (990_000, 10_000));

    // The wallet fails the payment (PAYMENT_FAILED, confirmed by its
    // lookup): exit 4, no money moved.
    let failed = get(client.path(), &format!("{base}/api/fails"), &payer).await;
    assert_eq!(failed.code, Some(4), "{}\n{}", failed.json, failed.stderr);
    assert_eq!(failed.json["error"]["money_moved"], "no", "{}", failed.json);
    assert_eq!(balances().await, (990_000, 10_000));

    // The relay connection is cut after the pay request: the payment is
    // unknown, looked up, found paid, and used, never paid twice.
    cutter.cut.store(true, std::sync::atomic::Ordering::SeqCst);
    let cut = get(client.path(), &format!("{base}/api/cut"), &payer).await;
    assert_eq!(cut.code, Some(0), "{}\n{}", cut.json, cut.stderr);
    assert_eq!(cut.json["status"], 200);
    assert_eq!(cut.json["body"], "cut but paid once");
    assert_eq!(balances().await, (983_000, 17_000));
    let again = get(client.path(), &format!("{base}/api/cut"), &payer).await;
    assert_eq!(again.json["token"], "cached");
    assert_eq!(balances().await, (983_000, 17_000));

    // The server learnt of the first payment from the wallet's
    // payment_received notification, without polling.
    server.stop().await;
    let log = strip_ansi(&server_stderr.await.unwrap());
    let line = log
        .lines()
        .find(|l| l.contains("invoice settled") && l.contains(&hash))
        .unwrap_or_else(|| panic!("{suffix}: no settlement logged for {hash}:\n{log}"));
    assert!(line.contains("amount_msat=10000"), "{line}");
    for secret in &secrets {
        for text in [
            &log,
            &paid.stdout,
            &paid.stderr,
            &failed.stdout,
            &failed.stderr,
            &cut.stdout,
            &cut.stderr,
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret was printed: {text}"
            );
        }
    }
}

#[tokio::test]
async fn nwc_purchase_end_to_end_over_nip44() {
    purchase_end_to_end("").await;
}

#[tokio::test]
async fn nwc_purchase_end_to_end_over_nip04() {
    purchase_end_to_end("_nip04").await;
}

#[tokio::test]
async fn a_bad_nwc_setting_names_its_key_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";
    let wallet = "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4";
    let file = dir.path().join("bad.toml");
    let f = file.display();
    let cases = [
        (
            "[backend]\nkind = \"nwc\"".to_owned(),
            format!(
                "{f}: backend.connection: required for the nwc backend: connection or connection_file (or set L402_NWC_CONNECTION / NWC_CONNECTION_STRING / L402_NWC_CONNECTION_FILE)"
            ),
        ),
        (
            format!(
                "[backend]\nkind = \"nwc\"\nconnection = \"nostr+walletconnect://{wallet}?secret={secret}\""
            ),
            format!("{f}: backend.connection: relay: missing"),
        ),
        (
            format!(
                "[backend]\nkind = \"nwc\"\nconnection = \"nostr+walletconnect://{wallet}?relay=https://x&secret={secret}\""
            ),
            format!("{f}: backend.connection: relay: \"https://x\" is not a ws:// or wss:// URL"),
        ),
        (
            format!(
                "[backend]\nkind = \"nwc\"\nconnection = \"nostr+walletconnect://{wallet}?relay=ws://x\"\nrune = \"r\""
            ),
            format!("{f}: backend.rune: is not a setting of the nwc backend"),
        ),
        (
            format!(
                "[backend]\nkind = \"lnd\"\nurl = \"https://x\"\nmacaroon_hex = \"00\"\nconnection = \"x{secret}\""
            ),
            format!("{f}: backend.connection: is not a setting of the lnd backend"),
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&file, &text).unwrap();
        let mut cmd = clean(l402(dir.path()));
        cmd.arg("serve").arg("--config").arg(&file);
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(&want), "{text}:\n{stderr}\nwanted: {want}");
        assert!(!stderr.contains(secret), "the secret was printed: {stderr}");
    }
    // From the environment: the variable is named.
    let mut cmd = clean(l402(dir.path()));
    std::fs::write(&file, "[backend]\nkind = \"nwc\"\n").unwrap();
    cmd.arg("serve").arg("--config").arg(&file);
    cmd.env(
        "NWC_CONNECTION_STRING",
        format!("nostr+walletconnect://{wallet}?relay=ws://127.0.0.1:1&secret=00{secret}"),
    );
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("NWC_CONNECTION_STRING: backend.connection: secret: missing or not a valid 32-byte hex key"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret), "{stderr}");
}

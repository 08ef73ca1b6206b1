//! The l402kit PyPI server (its FastAPI decorator, `scripts/l402kit.sh
//! serve`) self-hosted on LNbits FakeWallet, for the tests that buy from it
//! or check it.
//!
//! Needs a running LNbits (`bash scripts/lnbits.sh start && source
//! "$(bash scripts/lnbits.sh envfile)"`) and the l402kit virtualenv (`bash
//! scripts/l402kit.sh install`). Without them [`start`] says how to enable
//! them and returns `None` (the test passes), unless
//! `L402_REQUIRE_L402KIT=1` (CI), when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running l402kit server and the LNbits it sells through.
pub struct L402kit {
    /// LNbits' URL.
    pub lnbits_url: String,
    /// The paying wallet's LNbits admin key.
    pub payer_admin_key: String,
    /// The l402kit server's base URL (`/premium` costs 10 sats, `/free` is free).
    pub base: String,
    _server: Child,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Skips (or, with `L402_REQUIRE_L402KIT=1`, fails) `test` with `how`.
fn unavailable(test: &str, how: &str) -> Option<L402kit> {
    assert!(
        std::env::var("L402_REQUIRE_L402KIT").as_deref() != Ok("1"),
        "L402_REQUIRE_L402KIT=1 but {how}"
    );
    eprintln!("SKIPPED {test}: {how}");
    None
}

/// The l402kit server on a free port, answering, or `None` when LNbits or
/// l402kit is missing (see the module docs).
pub async fn start(test: &str) -> Option<L402kit> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(lnbits_url), Some(invoice_key), Some(payer_admin_key)) = (
        var("L402_LNBITS_URL"),
        var("L402_LNBITS_MERCHANT_INVOICE_KEY"),
        var("L402_LNBITS_PAYER_ADMIN_KEY"),
    ) else {
        return unavailable(
            test,
            "it needs L402_LNBITS_URL, L402_LNBITS_MERCHANT_INVOICE_KEY and \
             L402_LNBITS_PAYER_ADMIN_KEY: run `bash scripts/lnbits.sh start && source \
             \"$(bash scripts/lnbits.sh envfile)\"`",
        );
    };
    let script = repo().join("scripts/l402kit.sh");
    let installed = std::process::Command::new("bash")
        .arg(&script)
        .arg("python")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        return unavailable(
            test,
            "l402kit is not installed: run `bash scripts/l402kit.sh install`",
        );
    }
    let mut child = Command::new("bash")
        .arg(&script)
        .arg("serve")
        .env("L402_LNBITS_URL", &lnbits_url)
        .env("L402_LNBITS_MERCHANT_INVOICE_KEY", &invoice_key)
        .env("L402KIT_PORT", "0")
        .env("L402KIT_PRICE_SATS", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the l402kit server announces itself")
        .unwrap()
        .expect("a line on stdout");
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(info["event"], "listening", "{info}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let base = info["url"].as_str().unwrap().to_string();
    // Wait until it answers (in case the socket is announced before uvicorn serves it).
    for _ in 0..300 {
        if reqwest::get(format!("{base}/free")).await.is_ok() {
            return Some(L402kit {
                lnbits_url,
                payer_admin_key,
                base,
                _server: child,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the l402kit server did not answer at {base}");
}

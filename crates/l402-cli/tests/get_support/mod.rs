//! Helpers for the `l402 get` tests: run the real binary, start the real
//! `l402 serve`, and reuse l402-client's hand-made misbehaving L402 server.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[path = "../../../l402-client/tests/common/mod.rs"]
pub mod server;

/// The configuration variables a test's `l402` must not inherit (CI exports
/// LNbits' receiving ones, a developer may have budgets set).
pub const INHERITED_CONFIG: &[&str] = &[
    "L402_BACKEND",
    "L402_CONFIG",
    "L402_LISTEN",
    "L402_SERVER_SECRET",
    "L402_WALLET_LNBITS_URL",
    "L402_WALLET_LNBITS_ADMIN_KEY",
    "L402_LNBITS_URL",
    "L402_LNBITS_ADMIN_KEY",
    "L402_LNBITS_INVOICE_KEY",
    "L402_MAX_SATS",
    "L402_MAX_FEE_SATS",
    "L402_BUDGET_HOUR_SATS",
    "L402_BUDGET_DAY_SATS",
    "L402_BUDGET_TOTAL_SATS",
    "L402_TEST_ABORT_AFTER_PAY",
];

/// `l402 --data-dir <dir>` with no inherited configuration.
pub fn l402(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_l402"));
    cmd.arg("--data-dir").arg(data_dir).kill_on_drop(true);
    for var in INHERITED_CONFIG {
        cmd.env_remove(var);
    }
    cmd
}

/// What one `l402 get --json` run produced.
pub struct Run {
    pub code: Option<i32>,
    pub json: Value,
    pub stderr: String,
    pub output: Output,
}

/// Runs `l402 --json get <args>`.
pub async fn get_json(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    run_json(data_dir, &all, env).await
}

/// Runs `l402 --json <args>` (any subcommand) with `env` added.
pub async fn run_json(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = l402(data_dir);
    cmd.arg("--json").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("l402 finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let json = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    Run {
        code: output.status.code(),
        json,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        output,
    }
}

/// A running `l402 serve`.
pub struct Serve {
    pub child: Child,
    pub info: Value,
}

impl Serve {
    /// Starts the real `l402 serve` on a free loopback port with zero
    /// configuration, and waits until it listens.
    pub async fn start(data_dir: &Path) -> Serve {
        let mut child = l402(data_dir)
            .arg("--json")
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("l402 serve announces itself")
            .unwrap()
            .expect("a line on stdout");
        let info: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(info["event"], "listening", "{info}");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Serve { child, info }
    }

    pub fn demo_url(&self) -> String {
        self.info["demo_url"].as_str().unwrap().to_string()
    }

    /// The dev buyer wallet's balance in sats, over the dev node's API.
    pub async fn buyer_balance_sats(&self, data_dir: &Path) -> u64 {
        let file: Value =
            serde_json::from_slice(&std::fs::read(data_dir.join("dev-wallet.json")).unwrap())
                .unwrap();
        let url = format!("{}/api/v1/wallet", file["url"].as_str().unwrap());
        let body: Value = reqwest::Client::new()
            .get(url)
            .header("X-Api-Key", file["admin_key"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["balance"].as_u64().unwrap() / 1000
    }
}

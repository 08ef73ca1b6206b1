//! Running the real `l402` binary in tests: a command with no inherited
//! configuration, and `l402 serve` started on a free loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use l402_lightning::lnbits::LnbitsClient;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `l402 serve` and the JSON line it announced itself with.
pub struct Server {
    pub child: Child,
    pub info: Value,
}

impl Server {
    /// Its base URL.
    pub fn url(&self) -> String {
        self.info["url"].as_str().unwrap().to_owned()
    }

    /// SIGTERM, then wait: the server must shut down gracefully.
    pub async fn stop(mut self) {
        let pid = self.child.id().unwrap();
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("server stops on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

/// `l402 --data-dir <dir> --json` with no configuration from the environment.
pub fn l402(data_dir: &Path) -> Command {
    let mut cmd = l402_text(data_dir);
    cmd.arg("--json");
    cmd
}

/// `l402 --data-dir <dir>` (output for people) with no configuration from
/// the environment.
pub fn l402_text(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_l402"));
    cmd.arg("--data-dir").arg(data_dir).kill_on_drop(true);
    for var in [
        "L402_BACKEND",
        "L402_CONFIG",
        "L402_LISTEN",
        "L402_SERVER_SECRET",
        "L402_DATABASE_URL",
        "L402_DATABASE_SCHEMA",
        "L402_TRUSTED_PROXIES",
        "L402_ADMIN_TOKEN",
        "L402_LNBITS_URL",
        "L402_LNBITS_INVOICE_KEY",
        "L402_LNBITS_ADMIN_KEY",
        "L402_WALLET_LNBITS_URL",
        "L402_WALLET_LNBITS_ADMIN_KEY",
        "L402_GET_CONFIG",
        "L402_MAX_SATS",
        "L402_MAX_FEE_SATS",
        "L402_BUDGET_HOUR_SATS",
        "L402_BUDGET_DAY_SATS",
        "L402_BUDGET_TOTAL_SATS",
        "L402_TEST_ABORT_AFTER_PAY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `<cmd> serve <args> --listen 127.0.0.1:0` and waits for its
/// announcement.
pub async fn start(cmd: Command, args: &[&str]) -> Server {
    start_with_stderr(cmd, args, "127.0.0.1:0", Stdio::inherit()).await
}

/// Runs `<cmd> serve <args> --listen 127.0.0.1:0`, which must refuse to
/// start (a configuration it does not accept): its stderr.
pub async fn refused_start(mut cmd: Command, args: &[&str]) -> String {
    let out = cmd
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// [`start`] on a fixed `listen` address (a server that must come back on
/// the same port after a restart).
pub async fn start_on(cmd: Command, listen: &str, args: &[&str]) -> Server {
    start_with_stderr(cmd, args, listen, Stdio::inherit()).await
}

/// [`start`], with the server's stderr collected: the handle yields all of
/// it once the server has stopped.
pub async fn start_capturing_stderr(
    cmd: Command,
    args: &[&str],
) -> (Server, tokio::task::JoinHandle<String>) {
    let mut server = start_with_stderr(cmd, args, "127.0.0.1:0", Stdio::piped()).await;
    let mut stderr = server.child.stderr.take().unwrap();
    let collected = tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
        text
    });
    (server, collected)
}

async fn start_with_stderr(mut cmd: Command, args: &[&str], listen: &str, stderr: Stdio) -> Server {
    let mut child = cmd
        .arg("serve")
        .args(args)
        .arg("--listen")
        .arg(listen)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("server announces itself")
        .unwrap()
        .expect("a line on stdout");
    let info: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(info["event"], "listening", "{info}");
    Server { child, info }
}

/// The funded dev buyer wallet `l402 serve` wrote to the data directory.
pub fn dev_wallet(data_dir: &Path) -> LnbitsClient {
    let file: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("dev-wallet.json")).unwrap()).unwrap();
    assert_eq!(file["real_lightning"], false);
    LnbitsClient::builder(file["url"].as_str().unwrap())
        .admin_key(file["admin_key"].as_str().unwrap())
        .invoice_key(file["invoice_key"].as_str().unwrap())
        .build()
        .unwrap()
}

/// Every node and wallet variable (ours and Lightning Enable's), removed by
/// [`clean`] so each run sees only the node it is given.
pub const NODE_VARS: &[&str] = &[
    "L402_PHOENIXD_URL",
    "L402_PHOENIXD_PASSWORD",
    "L402_PHOENIXD_PASSWORD_FILE",
    "L402_LND_URL",
    "L402_LND_MACAROON_HEX",
    "L402_LND_MACAROON_FILE",
    "L402_LND_TLS_CERT_FILE",
    "LND_REST_HOST",
    "LND_MACAROON_HEX",
    "LND_TLS_CERT_PATH",
    "L402_CLN_SOCKET",
    "L402_CLN_URL",
    "L402_CLN_RUNE",
    "L402_CLN_TLS_CERT_FILE",
    "L402_NWC_CONNECTION",
    "L402_NWC_CONNECTION_FILE",
    "NWC_CONNECTION_STRING",
    "L402_LOG",
];

/// `cmd` without any node variable of the test's environment.
pub fn clean(mut cmd: Command) -> Command {
    for var in NODE_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// One `l402 --json get` run.
pub struct GetRun {
    pub code: Option<i32>,
    pub json: Value,
    pub stderr: String,
    pub stdout: String,
}

/// `l402 --json get --network regtest <url>` from `client_dir`, paying
/// through the node `env` names (and no other).
pub async fn get_regtest(client_dir: &Path, url: &str, env: &[(&str, String)]) -> GetRun {
    let mut cmd = clean(l402(client_dir));
    cmd.args(["get", "--network", "regtest", url]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("l402 get finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    GetRun {
        code: out.status.code(),
        json: stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout,
    }
}

/// `text` without terminal escape sequences (`ESC [ … <final byte>`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

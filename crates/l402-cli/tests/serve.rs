//! `l402 serve`, the real binary, over real HTTP: zero-config demo paid
//! through the dev node's wallet API, config routes, restarts, bad configs,
//! and LNbits as the backend; and what a newcomer trips on with `serve` and
//! `get` (a busy port, another data directory, the printed curl steps, the
//! progress lines, the LNbits variables, reserved route paths).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use l402::{Challenges, Credential};
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{PayRequest, Wallet};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use serve_support::{Server, dev_wallet, l402, l402_text, start};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

async fn challenge(http: &reqwest::Client, url: &str) -> (l402::Challenge, Value) {
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 402);
    let values: Vec<String> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let challenge = Challenges::parse(values.iter().map(String::as_str))
        .l402()
        .unwrap()
        .clone();
    (challenge, resp.json().await.unwrap())
}

#[tokio::test]
async fn zero_config_demo_is_paid_through_the_dev_wallet_api_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(l402(dir.path()), &[]).await;
    assert_eq!(server.info["backend"], "dev");
    assert_eq!(server.info["real_lightning"], false);
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();

    let (challenge, body) = challenge(&http, &demo).await;
    assert_eq!(body["l402"]["amount_sats"], 21);
    assert_eq!(body["l402"]["invoice"], challenge.invoice.as_str());

    // Pay through the dev node's LNbits-compatible API, as the printed curl does.
    let wallet = dev_wallet(dir.path());
    let payment = wallet
        .pay(&PayRequest::new(challenge.invoice.clone()))
        .await
        .unwrap();
    let credential = Credential::new(challenge.decode_macaroon().unwrap(), payment.preimage);
    let resp = http
        .get(&demo)
        .header("authorization", credential.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let joke: Value = resp.json().await.unwrap();
    assert!(joke["joke"].as_str().unwrap().len() > 10);
    assert_eq!(joke["paid"]["amount_sats"], 21);

    // Paying the same invoice again is refused by the node.
    assert!(
        wallet
            .pay(&PayRequest::new(challenge.invoice.clone()))
            .await
            .is_err()
    );

    // Restart: the secret and the ledger persist, so the token still works
    // and an invoice issued before the restart can be paid after it.
    let (pending, _) = self::challenge(&http, &demo).await;
    server.stop().await;
    let server = start(l402(dir.path()), &[]).await;
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let resp = http
        .get(&demo)
        .header("authorization", credential.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "a paid token survives a restart");
    let wallet = dev_wallet(dir.path());
    let paid_after = wallet
        .pay(&PayRequest::new(pending.invoice.clone()))
        .await
        .unwrap();
    let late = Credential::new(pending.decode_macaroon().unwrap(), paid_after.preimage);
    let resp = http
        .get(&demo)
        .header("authorization", late.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn config_file_routes_are_sold() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("l402.toml");
    std::fs::write(dir.path().join("report.txt"), "the quarterly report").unwrap();
    std::fs::write(
        &config,
        r#"
[demo]
enabled = false

[tokens]
lifetime_secs = 120

[[routes]]
path = "/api/report"
price_sats = 5
file = "report.txt"
description = "one report"

[[routes]]
path = "/api/answer"
price_sats = 42
body = '{"answer":42}'
content_type = "application/json"
"#,
    )
    .unwrap();
    let server = start(l402(dir.path()), &["--config", config.to_str().unwrap()]).await;
    assert!(server.info["demo_url"].is_null());
    let http = reqwest::Client::new();
    let base = server.url().to_owned();
    assert_eq!(
        http.get(format!("{base}/api/demo/joke"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let wallet = dev_wallet(dir.path());
    for (path, price, content) in [
        ("/api/report", 5, "the quarterly report"),
        ("/api/answer", 42, "{\"answer\":42}"),
    ] {
        let url = format!("{base}{path}");
        let (challenge, body) = challenge(&http, &url).await;
        assert_eq!(body["l402"]["amount_sats"], price);
        let invoice: l402::Invoice = challenge.invoice.parse().unwrap();
        assert_eq!(invoice.amount_sats(), Some(price));
        let payment = wallet
            .pay(&PayRequest::new(challenge.invoice.clone()))
            .await
            .unwrap();
        let credential = Credential::new(challenge.decode_macaroon().unwrap(), payment.preimage);
        let resp = http
            .get(&url)
            .header("authorization", credential.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), content);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_bad_config_names_file_key_and_reason_and_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("listen = \"not-an-address\"", "listen"),
        (
            "[[routes]]\npath = \"/x\"\nprice_sats = 0\nbody = \"b\"",
            "routes[0].price_sats",
        ),
        (
            "[backend]\nkind = \"lnbits\"\nurl = \"http://127.0.0.1:1\"",
            "backend.invoice_key",
        ),
        ("colour = \"blue\"", "colour"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let out = l402(dir.path())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("bad.toml"), "{stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing announced: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test]
async fn the_dev_node_refuses_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = l402(dir.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a real Lightning node"), "{stderr}");
}

#[tokio::test]
async fn lnbits_as_the_backend() {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(url), Some(merchant_invoice), Some(payer_admin)) = (
        get("L402_LNBITS_URL"),
        get("L402_LNBITS_MERCHANT_INVOICE_KEY"),
        get("L402_LNBITS_PAYER_ADMIN_KEY"),
    ) else {
        let how = "`l402 serve` with LNbits needs L402_LNBITS_URL, L402_LNBITS_MERCHANT_INVOICE_KEY and \
                   L402_LNBITS_PAYER_ADMIN_KEY: run `bash scripts/lnbits.sh start && source target/lnbits/lnbits.env`";
        if std::env::var("L402_REQUIRE_LNBITS").as_deref() == Ok("1") {
            panic!("L402_REQUIRE_LNBITS=1 but {how}");
        }
        eprintln!("SKIPPED lnbits_as_the_backend: {how}");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = l402(dir.path());
    cmd.env("L402_LNBITS_INVOICE_KEY", &merchant_invoice);
    let server = start(cmd, &["--backend", "lnbits", "--lnbits-url", &url]).await;
    assert_eq!(server.info["backend"], "lnbits");
    assert!(!dir.path().join("dev-wallet.json").exists());
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let (challenge, _) = challenge(&http, &demo).await;
    let payer = LnbitsClient::builder(url.as_str())
        .admin_key(payer_admin)
        .build()
        .unwrap();
    let payment = payer
        .pay(&PayRequest::new(challenge.invoice.clone()))
        .await
        .unwrap();
    let credential = Credential::new(challenge.decode_macaroon().unwrap(), payment.preimage);
    let resp = http
        .get(&demo)
        .header("authorization", credential.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A forged preimage is refused without a new challenge.
    let forged = Credential::new(
        challenge.decode_macaroon().unwrap(),
        l402::Preimage::from([3; 32]),
    );
    let resp = http
        .get(&demo)
        .header("authorization", forged.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    server.stop().await;
}

/// `l402 get <args>` (output for people) with a data directory and env.
async fn get_text(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = l402_text(data_dir);
    cmd.arg("get").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("l402 get finishes")
        .unwrap()
}

#[tokio::test]
async fn serve_on_a_busy_port_says_what_to_do_and_writes_nothing() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let out = l402_text(&data)
        .args(["serve", "--listen", &addr])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(stderr.contains("listen ="), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!data.exists(), "nothing written to the data directory");
    // The exit code is documented.
    let help = l402_text(&data)
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("3  cannot listen"), "{help}");
    drop(busy);
}

#[tokio::test]
async fn get_without_a_wallet_says_where_it_looked_and_what_to_do() {
    let served = tempfile::tempdir().unwrap();
    let server = start(l402(served.path()), &[]).await;
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let other = tempfile::tempdir().unwrap();
    let out = get_text(other.path(), &[&demo], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no wallet configured"), "{stderr}");
    let wallet_file = other.path().join("dev-wallet.json");
    assert!(stderr.contains(&*wallet_file.to_string_lossy()), "{stderr}");
    assert!(
        stderr.contains(&*other.path().join("get.toml").to_string_lossy()),
        "{stderr}"
    );
    for what in [
        "L402_LNBITS_URL",
        "L402_LNBITS_ADMIN_KEY",
        "--data-dir",
        "L402_DATA_DIR",
    ] {
        assert!(stderr.contains(what), "{what}: {stderr}");
    }
    // Following the advice (the server's data directory) works.
    let out = get_text(served.path(), &["-s", &demo], &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;
}

#[tokio::test]
async fn the_printed_curl_steps_work_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = l402_text(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("serve prints its instructions")
            .unwrap()
            .expect("more lines");
        let done = line.starts_with("Or: l402 ");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(text.contains(".l402.invoice"), "{text}");
    assert!(text.contains(".l402.macaroon"), "{text}");
    // Every numbered step is one shell command; run them in order, literally.
    let steps: Vec<&str> = printed
        .iter()
        .filter_map(|l| {
            let l = l.trim_start();
            let (n, rest) = l.split_once(". ")?;
            n.parse::<u8>().ok().map(|_| rest)
        })
        .collect();
    assert_eq!(steps.len(), 3, "{text}");
    let script = format!("set -euo pipefail\n{}\n", steps.join("\n"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .expect("bash and jq are needed to run the printed steps");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let joke: Value = serde_json::from_str(stdout.trim()).expect(&stdout);
    assert!(joke["joke"].is_string(), "{stdout}");
    assert_eq!(joke["paid"]["amount_sats"], 21);
    // So does the printed `l402 get` line, with the server's data directory.
    let get = printed.last().unwrap().strip_prefix("Or: l402 ").unwrap();
    assert!(get.contains("--data-dir"), "{get}");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{:?} {get} -s", env!("CARGO_BIN_EXE_l402")))
        .env_remove("L402_DATA_DIR")
        .env_remove("L402_LNBITS_URL")
        .env_remove("L402_LNBITS_ADMIN_KEY")
        .env_remove("L402_WALLET_LNBITS_URL")
        .env_remove("L402_WALLET_LNBITS_ADMIN_KEY")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{get}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("joke"));
    Server {
        child,
        info: Value::Null,
    }
    .stop()
    .await;
}

#[tokio::test]
async fn one_payment_is_reported_once_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(l402(dir.path()), &[]).await;
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let out = get_text(dir.path(), &[&demo], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let paid: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("paid 21 sats"))
        .collect();
    assert_eq!(paid.len(), 1, "{stderr}");
    // The one line says what was paid, the fee and the payment hash.
    assert!(paid[0].contains("fee"), "{stderr}");
    assert!(paid[0].contains("payment hash"), "{stderr}");
    let again = get_text(dir.path(), &[&demo], &[]).await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("reused a stored token"), "{stderr}");
    server.stop().await;
}

#[tokio::test]
async fn one_lnbits_naming_scheme_for_serve_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(l402(dir.path()), &[]).await;
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let wallet: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("dev-wallet.json")).unwrap())
            .unwrap();
    let (url, admin) = (
        wallet["url"].as_str().unwrap(),
        wallet["admin_key"].as_str().unwrap(),
    );
    // The dev node speaks LNbits: pay through it as an LNbits wallet, from a
    // data directory with no dev wallet file.
    let buyer = tempfile::tempdir().unwrap();
    let out = get_text(
        buyer.path(),
        &["--network", "regtest", &demo],
        &[("L402_LNBITS_URL", url), ("L402_LNBITS_ADMIN_KEY", admin)],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("paid 21 sats"), "{stderr}");
    assert!(!stderr.contains("deprecated"), "{stderr}");

    // The old names still work, with one warning line each.
    let old = tempfile::tempdir().unwrap();
    let out = get_text(
        old.path(),
        &["--network", "regtest", &demo],
        &[
            ("L402_WALLET_LNBITS_URL", url),
            ("L402_WALLET_LNBITS_ADMIN_KEY", admin),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("deprecated"))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("L402_WALLET_LNBITS_URL") && warnings[0].contains("L402_LNBITS_URL")
    );
    assert!(
        warnings[1].contains("L402_WALLET_LNBITS_ADMIN_KEY")
            && warnings[1].contains("L402_LNBITS_ADMIN_KEY")
    );
    // The serve invoice key is for receiving: get says what it needs.
    let out = get_text(
        tempfile::tempdir().unwrap().path(),
        &[&demo],
        &[("L402_LNBITS_URL", url), ("L402_LNBITS_INVOICE_KEY", admin)],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("L402_LNBITS_ADMIN_KEY"), "{stderr}");
    server.stop().await;

    // Both --help pages document the scheme.
    for (command, names) in [
        (
            "serve",
            &[
                "L402_LNBITS_URL",
                "L402_LNBITS_INVOICE_KEY",
                "L402_LNBITS_ADMIN_KEY",
            ][..],
        ),
        (
            "get",
            &[
                "L402_LNBITS_URL",
                "L402_LNBITS_ADMIN_KEY",
                "L402_LNBITS_INVOICE_KEY",
                "L402_WALLET_LNBITS_URL",
                "L402_WALLET_LNBITS_ADMIN_KEY",
            ][..],
        ),
    ] {
        let help = l402_text(dir.path())
            .args([command, "--help"])
            .output()
            .await
            .unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        for name in names {
            assert!(help.contains(name), "{command} --help: {name}\n{help}");
        }
    }
}

#[tokio::test]
async fn routes_on_reserved_or_malformed_paths_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (path, reason) in [
        ("/api/demo/joke", "demo"),
        ("/dev/api/v1/payments", "reserved"),
        ("/api/l402/challenges", "reserved"),
        ("/api/invoice", "reserved"),
        ("/api/verify", "reserved"),
        ("/api/openapi.json", "reserved"),
        ("api/report", "start with /"),
        ("/x/:id", ":"),
        ("/x/*rest", "*"),
        ("/x/{id}", "{"),
        ("/a/../b", ".."),
        ("/a//b", "empty"),
        ("/a?b", "?"),
        ("/a%2Fb", "%"),
    ] {
        let config = dir.path().join("routes.toml");
        std::fs::write(
            &config,
            format!("[[routes]]\npath = {path:?}\nprice_sats = 1\nbody = \"x\"\n"),
        )
        .unwrap();
        let out = l402_text(&dir.path().join("data"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(
            stderr.contains(&format!("{}: routes[0].path: ", config.display())),
            "{path}: {stderr}"
        );
        assert!(stderr.contains(reason), "{path}: {reason}: {stderr}");
        assert!(!stderr.contains("panicked"), "{path}: {stderr}");
        assert!(!dir.path().join("data").exists(), "{path}: nothing written");
    }
}

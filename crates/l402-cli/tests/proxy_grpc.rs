//! gRPC through `l402 serve`'s proxy, with a real grpcio server and client
//! (PyPI, `scripts/grpcio.sh`): an unpaid call gets Aperture's answer
//! (`200`, `grpc-status: 13`, `grpc-message: payment required`); a token
//! bought with `l402 get` is then sent as `authorization` metadata, and the
//! call crosses over h2c with its trailers, the credential not forwarded.
//!
//! Run: `export L402_GRPCIO_PYTHON="$(bash scripts/grpcio.sh python)"`,
//! then `L402_REQUIRE_GRPCIO=1 cargo test -p l402-cli --test proxy_grpc`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use serve_support::{l402, start};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("L402_GRPCIO_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(PathBuf::from(home).join(".cache/l402/grpcio-venv/bin/python"))
        });
    let ok = candidate.as_ref().is_some_and(|p| {
        std::process::Command::new(p)
            .args(["-c", "import grpc"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if ok {
        return candidate;
    }
    assert!(
        std::env::var_os("L402_REQUIRE_GRPCIO").is_none(),
        "L402_REQUIRE_GRPCIO is set but grpcio is not available (bash scripts/grpcio.sh install)"
    );
    eprintln!("skipped: grpcio is not installed (bash scripts/grpcio.sh install)");
    None
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scripts/grpcio/{name}"))
}

/// Calls `/echo.Echo/Say` through `addr` with the Python client.
async fn call(python: &Path, addr: &str, message: &str, authorization: Option<&str>) -> Value {
    let mut cmd = Command::new(python);
    cmd.arg(script("client.py")).arg(addr).arg(message);
    if let Some(a) = authorization {
        cmd.arg(a);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the gRPC client finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[tokio::test]
async fn a_grpc_call_is_challenged_as_aperture_does_then_paid_with_trailers() {
    let Some(python) = python() else { return };
    // The real gRPC server; it stops when its stdin closes.
    let mut upstream = Command::new(&python)
        .arg(script("server.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(upstream.stdout.take().unwrap()).lines();
    let port: u16 = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the gRPC server prints its port")
        .unwrap()
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[demo]
enabled = false

[[services]]
name = "echo-grpc"
pathregexp = "^/echo\\.Echo/"
address = "127.0.0.1:{port}"
protocol = "h2c"
price_sats = 7
"#
        ),
    )
    .unwrap();
    let server = start(l402(dir.path()), &["--config", config.to_str().unwrap()]).await;
    let base = server.url();
    let addr = base.trim_start_matches("http://").to_owned();

    // Unpaid: Aperture's answer to a gRPC client.
    let unpaid = call(&python, &addr, "hi", None).await;
    assert_eq!(unpaid["code"], "INTERNAL", "{unpaid}");
    assert_eq!(unpaid["details"], "payment required");
    let challenge = unpaid["initial"]["www-authenticate"]
        .as_str()
        .or_else(|| unpaid["trailers"]["www-authenticate"].as_str())
        .unwrap_or_default();
    assert!(challenge.starts_with("L402 "), "{unpaid}");

    // Buy the service's token with l402 get (a plain POST: the gRPC server
    // refuses it, the token is stored all the same).
    let url = format!("{base}/echo.Echo/Say");
    let bought = get_support::get_json(dir.path(), &["-X", "POST", &url], &[]).await;
    assert_eq!(
        bought.json["receipt"]["amount_msat"], 7_000,
        "{} {}",
        bought.json, bought.stderr
    );
    let export = get_support::run_json(dir.path(), &["token", "export", &url], &[]).await;
    let credential = export.json["authorization"].as_str().unwrap().to_owned();

    // Paid: the call crosses, trailers and all; the credential stays here.
    let paid = call(&python, &addr, "hello over h2c", Some(&credential)).await;
    assert_eq!(paid["code"], "OK", "{paid}");
    assert_eq!(paid["answer"]["message"], "hello over h2c");
    assert_eq!(paid["trailers"]["x-echo-trailer"], "kept");
    let metadata = &paid["answer"]["metadata"];
    assert!(metadata.get("authorization").is_none(), "{metadata}");
    assert_eq!(metadata["x-forwarded-for"], "127.0.0.1");

    // A forged credential: refused without a new invoice.
    let (head, last) = credential.split_at(credential.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    let refused = call(&python, &addr, "hi", Some(&forged)).await;
    assert_ne!(refused["code"], "OK", "{refused}");

    server.stop().await;
    drop(upstream.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), upstream.wait()).await;
}

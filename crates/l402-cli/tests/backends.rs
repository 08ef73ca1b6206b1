//! phoenixd, LND and Core Lightning configured for `l402 serve`
//! (`[backend]`) and `l402 get` (`[wallet]`, env), through the real binary:
//! every bad setting names its file (or variable), key and reason; a server
//! whose node is unreachable starts and answers 503, and no secret is ever
//! printed. (Paying through a fake of each node is tested in l402-lightning;
//! those fakes cannot be reached from here.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serve_support::{l402, l402_text, start_capturing_stderr};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Every node variable, removed so the tests see only their own.
const NODE_VARS: &[&str] = &[
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
];

const PASSWORD: &str = "phoenixd-secret-password-1c0ffee";
const MACAROON: &[u8] = &[0x02, 0x01, 0x03, 0x6c, 0x6e, 0x64, 0xde, 0xad, 0xbe, 0xef];
const MACAROON_HEX: &str = "0201036c6e64deadbeef";
const RUNE: &str = "rune-secret-value-9f8e7d";

fn clean(mut cmd: Command) -> Command {
    for var in NODE_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn lnd_cert() -> PathBuf {
    l402_testkit::wire::tls_cert_path()
}

async fn serve_config_error(dir: &Path, text: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let config = dir.join("bad.toml");
    std::fs::write(&config, text).unwrap();
    let mut cmd = clean(l402(dir));
    cmd.arg("serve").arg("--config").arg(&config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code(), stderr)
}

#[tokio::test]
async fn serve_every_bad_backend_setting_names_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let f = file.display();
    std::fs::write(dir.path().join("admin.macaroon"), MACAROON).unwrap();
    std::fs::write(dir.path().join("not-a-cert"), "hello").unwrap();
    std::fs::write(
        dir.path().join("cut.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
    )
    .unwrap();
    let cert = lnd_cert();
    let cert = cert.display();
    let cases: Vec<(String, String)> = vec![
        (
            "[backend]\nkind = \"lndd\"".into(),
            format!(
                "{f}: backend.kind: unknown backend \"lndd\"; expected \"dev\", \"lnbits\", \"phoenixd\", \"lnd\", \"cln\" or \"nwc\""
            ),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\npassword = \"x\"".into(),
            format!("{f}: backend.url: required for the phoenixd backend (or set L402_PHOENIXD_URL)"),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\nurl = \"127.0.0.1:9740\"\npassword = \"x\"".into(),
            format!("{f}: backend.url: \"127.0.0.1:9740\" is not an http(s) URL"),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\nurl = \"http://127.0.0.1:9740\"".into(),
            format!(
                "{f}: backend.password: required for the phoenixd backend: password or password_file (or set L402_PHOENIXD_PASSWORD / L402_PHOENIXD_PASSWORD_FILE)"
            ),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\nurl = \"http://127.0.0.1:9740\"\npassword = \"x\"\npassword_file = \"pw\"".into(),
            format!("{f}: backend.password: set password or password_file, not both"),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\nurl = \"http://127.0.0.1:9740\"\npassword_file = \"missing-pw\"".into(),
            format!(
                "{f}: backend.password_file: cannot read {}: No such file or directory (os error 2)",
                dir.path().join("missing-pw").display()
            ),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\nurl = \"http://127.0.0.1:9740\"\npassword = \"x\"\nmacaroon_hex = \"00\"".into(),
            format!("{f}: backend.macaroon_hex: is not a setting of the phoenixd backend"),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\nurl = \"http://127.0.0.1:9740\"\npassword = \"x\"\ntimeout_secs = 0".into(),
            format!("{f}: backend.timeout_secs: must be between 1 and 300"),
        ),
        (
            "[backend]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:8080\"\npay_timeout_secs = 0\nmacaroon_hex = \"00\"".into(),
            format!("{f}: backend.pay_timeout_secs: must be between 1 and 3600"),
        ),
        (
            "[backend]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:8080\"".into(),
            format!(
                "{f}: backend.macaroon_hex: required for the lnd backend: macaroon_hex or macaroon_file (or set L402_LND_MACAROON_HEX / LND_MACAROON_HEX / L402_LND_MACAROON_FILE)"
            ),
        ),
        (
            "[backend]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:8080\"\nmacaroon_hex = \"not hex\"".into(),
            format!(
                "{f}: backend.macaroon_hex: is not hex (xxd -p -c0 admin.macaroon, or give macaroon_file)"
            ),
        ),
        (
            "[backend]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:8080\"\nmacaroon_file = \"admin.macaroon\"\ntls_cert_file = \"not-a-cert\"".into(),
            format!(
                "{f}: backend.tls_cert_file: not-a-cert is not a PEM or DER certificate"
            ),
        ),
        (
            "[backend]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:8080\"\nmacaroon_hex = \"00\"\ntls_cert_file = \"cut.pem\"".into(),
            format!(
                "{f}: backend.tls_cert_file: LND: the TLS certificate is neither a PEM nor a DER certificate"
            ),
        ),
        (
            "[backend]\nkind = \"cln\"\nurl = \"https://127.0.0.1:3010\"\nrune = \"a\\u0001b\"\ntls_cert_file = \"cut.pem\"".into(),
            format!("{f}: backend.rune: CLN: the rune must be a non-empty printable string"),
        ),
        (
            "[backend]\nkind = \"cln\"".into(),
            format!(
                "{f}: backend.socket: required for the cln backend: socket (the node's lightning-rpc), or url + rune (clnrest) (or set L402_CLN_SOCKET, or L402_CLN_URL + L402_CLN_RUNE)"
            ),
        ),
        (
            "[backend]\nkind = \"cln\"\nurl = \"https://127.0.0.1:3010\"".into(),
            format!("{f}: backend.rune: required for the cln backend (with url; or set L402_CLN_RUNE)"),
        ),
        (
            "[backend]\nkind = \"cln\"\nsocket = \"/run/lightning-rpc\"\nurl = \"https://127.0.0.1:3010\"".into(),
            format!(
                "{f}: backend.socket: set socket (this machine's node) or url + rune (clnrest), not both"
            ),
        ),
        (
            format!("[backend]\nkind = \"cln\"\nsocket = \"/run/lightning-rpc\"\ntls_cert_file = \"{cert}\""),
            format!(
                "{f}: backend.socket: the socket takes no rune or tls_cert_file (those are for clnrest's url)"
            ),
        ),
        (
            "[backend]\nkind = \"lnbits\"\nurl = \"http://127.0.0.1:5000\"\ninvoice_key = \"k\"\nrune = \"r\"".into(),
            format!("{f}: backend.rune: is not a setting of the lnbits backend"),
        ),
        (
            "[backend]\nkind = \"phoenixd\"\nurl = \"http://127.0.0.1:9740\"\npassword = \"x\"\ninvoice_key = \"k\"".into(),
            format!("{f}: backend.invoice_key: is not a setting of the phoenixd backend"),
        ),
        (
            "[backend]\nkind = \"cln\"\nsockt = \"/run/lightning-rpc\"".into(),
            format!("{f}: sockt: unknown field"),
        ),
    ];
    for (text, expected) in cases {
        let (code, stderr) = serve_config_error(dir.path(), &text, &[]).await;
        assert_eq!(code, Some(2), "{text}\n{stderr}");
        assert!(
            stderr.contains(&expected),
            "{text}\nexpected: {expected}\nstderr: {stderr}"
        );
    }
}

#[tokio::test]
async fn serve_a_bad_variable_is_named_and_lightning_enable_names_work() {
    let dir = tempfile::tempdir().unwrap();
    // The variable that gave the bad value is the source.
    let (code, stderr) = serve_config_error(
        dir.path(),
        "[backend]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:8080\"",
        &[("LND_MACAROON_HEX", "xyz")],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "LND_MACAROON_HEX: backend.macaroon_hex: is not hex (xxd -p -c0 admin.macaroon, or give macaroon_file)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("xyz"), "{stderr}");
    let (code, stderr) = serve_config_error(
        dir.path(),
        "[backend]\nkind = \"phoenixd\"\npassword = \"x\"",
        &[("L402_PHOENIXD_URL", "ftp://node")],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("L402_PHOENIXD_URL: backend.url: \"ftp://node\" is not an http(s) URL"),
        "{stderr}"
    );

    // LND_REST_HOST (host:port) and LND_MACAROON_HEX alone configure LND.
    let port = closed_port();
    let mut cmd = clean(l402(dir.path()));
    cmd.env("L402_BACKEND", "lnd")
        .env("LND_REST_HOST", format!("127.0.0.1:{port}"))
        .env("LND_MACAROON_HEX", MACAROON_HEX)
        .env("LND_TLS_CERT_PATH", lnd_cert());
    let (server, stderr) = start_capturing_stderr(cmd, &["--no-demo"]).await;
    assert_eq!(server.info["backend"], "lnd");
    assert_eq!(
        server.info["backend_url"],
        format!("https://127.0.0.1:{port}")
    );
    assert!(!server.info.to_string().contains(MACAROON_HEX));
    server.stop().await;
    assert!(!stderr.await.unwrap().contains(MACAROON_HEX));
}

/// Starts `l402 serve` with `config`, checks its announcement, that a paid
/// route answers 503 with Retry-After, and that no secret is printed.
async fn unreachable_node_serves_503(config: &str, kind: &str, location: &str, secrets: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.macaroon"), MACAROON).unwrap();
    std::fs::write(dir.path().join("phoenix-password"), format!("{PASSWORD}\n")).unwrap();
    let path = dir.path().join("l402.toml");
    std::fs::write(
        &path,
        format!("{config}\n[[routes]]\npath = \"/api/report\"\nprice_sats = 10\nbody = \"paid\"\n"),
    )
    .unwrap();
    let cmd = clean(l402(dir.path()));
    let (mut server, stderr) =
        start_capturing_stderr(cmd, &["--config", path.to_str().unwrap()]).await;
    let announce = server.info.to_string();
    assert_eq!(server.info["backend"], kind, "{announce}");
    assert_eq!(server.info["backend_url"], location, "{announce}");
    assert_eq!(server.info["real_lightning"], true, "{announce}");
    // Drain stdout so the server never blocks on it.
    let mut stdout = server.child.stdout.take();
    let drained = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = tokio::io::AsyncReadExt::read_to_string(out, &mut text).await;
        }
        text
    });

    let answer = reqwest::get(format!("{}/api/report", server.url()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 503, "{kind}");
    assert!(
        answer.headers().contains_key("retry-after"),
        "{:?}",
        answer.headers()
    );
    let body = answer.text().await.unwrap();
    assert!(
        !body.contains(location),
        "the node's location leaks: {body}"
    );
    assert!(!body.contains("127.0.0.1"), "{body}");
    for secret in secrets {
        assert!(!body.contains(secret), "{body}");
        assert!(!announce.contains(secret), "{announce}");
    }
    server.stop().await;
    let stderr = stderr.await.unwrap();
    let stdout = drained.await.unwrap();
    for secret in secrets {
        assert!(!stderr.contains(secret), "{stderr}");
        assert!(!stdout.contains(secret), "{stdout}");
    }
}

#[tokio::test]
async fn serve_with_an_unreachable_phoenixd_starts_answers_503_and_prints_no_secret() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    unreachable_node_serves_503(
        &format!("[backend]\nkind = \"phoenixd\"\nurl = \"{url}\"\npassword = \"{PASSWORD}\""),
        "phoenixd",
        &url,
        &[PASSWORD],
    )
    .await;
    // The password from a file (relative to the config file), too.
    unreachable_node_serves_503(
        &format!(
            "[backend]\nkind = \"phoenixd\"\nurl = \"{url}\"\npassword_file = \"phoenix-password\""
        ),
        "phoenixd",
        &url,
        &[PASSWORD],
    )
    .await;
}

#[tokio::test]
async fn serve_with_an_unreachable_lnd_or_cln_starts_answers_503_and_prints_no_secret() {
    let port = closed_port();
    let url = format!("https://127.0.0.1:{port}");
    let cert = lnd_cert();
    unreachable_node_serves_503(
        &format!(
            "[backend]\nkind = \"lnd\"\nurl = \"{url}\"\nmacaroon_file = \"admin.macaroon\"\ntls_cert_file = \"{}\"",
            cert.display()
        ),
        "lnd",
        &url,
        &[MACAROON_HEX],
    )
    .await;
    unreachable_node_serves_503(
        &format!(
            "[backend]\nkind = \"cln\"\nurl = \"{url}\"\nrune = \"{RUNE}\"\ntls_cert_file = \"{}\"",
            cert.display()
        ),
        "cln",
        &url,
        &[RUNE],
    )
    .await;
    let socket = std::env::temp_dir().join(format!("l402-no-such-{port}/lightning-rpc"));
    unreachable_node_serves_503(
        &format!(
            "[backend]\nkind = \"cln\"\nsocket = \"{}\"",
            socket.display()
        ),
        "cln",
        &socket.display().to_string(),
        &[],
    )
    .await;
}

#[tokio::test]
async fn serve_banner_shows_kind_and_url_only() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let mut cmd = clean(l402_text(dir.path()));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("L402_BACKEND", "phoenixd")
        .env("L402_PHOENIXD_URL", format!("http://127.0.0.1:{port}"))
        .env("L402_PHOENIXD_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await
    {
        banner.push_str(&line);
        banner.push('\n');
        if line.trim_start().starts_with("data:") {
            break;
        }
    }
    assert!(
        banner.contains(&format!("backend:  phoenixd at http://127.0.0.1:{port}")),
        "{banner}"
    );
    assert!(!banner.contains(PASSWORD), "{banner}");
    child.kill().await.unwrap();
    let mut stderr = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await;
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

async fn get(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = clean(l402_text(dir));
    cmd.arg("get").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn get_names_the_bad_wallet_setting_and_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = "http://127.0.0.1:1/x";
    let toml = dir.path().join("get.toml");
    let t = toml.display();
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: Vec<(String, Env, String)> = vec![
        (
            "[wallet]\nkind = \"lnd\"\nurl = \"https://127.0.0.1:8080\"".into(),
            &[],
            format!(
                "{t}: wallet.macaroon_hex: required for the lnd backend: macaroon_hex or macaroon_file (or set L402_LND_MACAROON_HEX / LND_MACAROON_HEX / L402_LND_MACAROON_FILE)"
            ),
        ),
        (
            "[wallet]\nkind = \"strike\"".into(),
            &[],
            format!("{t}: wallet.kind: \"strike\" is not supported (lnbits, phoenixd, lnd, cln, nwc)"),
        ),
        (
            "[wallet]\nkind = \"cln\"\nurl = \"https://127.0.0.1:3010\"".into(),
            &[],
            format!("{t}: wallet.rune: required for the cln backend (with url; or set L402_CLN_RUNE)"),
        ),
        (
            String::new(),
            &[("L402_PHOENIXD_URL", "ftp://node"), ("L402_PHOENIXD_PASSWORD", PASSWORD)],
            "L402_PHOENIXD_URL: wallet.url: \"ftp://node\" is not an http(s) URL".into(),
        ),
        (
            String::new(),
            &[("L402_PHOENIXD_URL", "http://127.0.0.1:9740"), ("LND_REST_HOST", "127.0.0.1:8080")],
            "variables of several wallets are set (L402_PHOENIXD_URL, LND_REST_HOST)".into(),
        ),
        (
            "[wallet]\nkind = \"phoenixd\"\nurl = \"http://127.0.0.1:9740\"".into(),
            &[("L402_PHOENIXD_PASSWORD", PASSWORD), ("L402_LNBITS_URL", "http://127.0.0.1:5000"), ("L402_LNBITS_ADMIN_KEY", "k")],
            "both an LNbits wallet (--lnbits-url / L402_LNBITS_URL) and a phoenixd wallet are configured".into(),
        ),
    ];
    for (text, env, expected) in cases {
        std::fs::write(&toml, &text).unwrap();
        let (code, stdout, stderr) = get(dir.path(), &[url], env).await;
        assert_eq!(code, Some(1), "{text} {env:?}\n{stderr}");
        assert!(
            stderr.contains(&expected),
            "{text} {env:?}\nexpected: {expected}\n{stderr}"
        );
        assert!(
            !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn get_pays_through_a_configured_node_only_when_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_support::start(clean(l402(dir.path())), &[]).await;
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let port = closed_port();
    let node_env: &[(&str, &str)] = &[
        ("L402_BACKEND", "dev"),
        ("L402_PHOENIXD_PASSWORD", PASSWORD),
    ];
    let node_url = format!("http://127.0.0.1:{port}");
    let mut env = node_env.to_vec();
    env.push(("L402_PHOENIXD_URL", &node_url));
    // --no-pay never builds or calls the wallet.
    let client_dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = get(client_dir.path(), &["--no-pay", &demo], &env).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    // Paying goes to phoenixd, which is not there: nothing was sent, exit 4.
    let (code, stdout, stderr) =
        get(client_dir.path(), &["--network", "regtest", &demo], &env).await;
    assert_eq!(code, Some(4), "{stdout}\n{stderr}");
    assert!(stderr.contains("phoenixd"), "{stderr}");
    assert!(
        !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
        "{stderr}"
    );
    server.stop().await;
}

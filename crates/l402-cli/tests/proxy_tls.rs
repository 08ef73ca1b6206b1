//! TLS on both sides of `l402 serve`'s proxy, the real binary over real
//! TLS (rustls, the certificates in `tests/fixtures`):
//! - `protocol = "https"` upstreams verified against a CA file, pinned by
//!   file or SHA-256 fingerprint, or the system's roots; HTTP/2 or HTTP/1.1
//!   as the upstream's ALPN says; a certificate that is not the one
//!   expected is a 502 `upstream_tls` and nothing reaches the upstream;
//!   paid with `l402 get`;
//! - a websocket upgrade to an `https` upstream that offers h2 first: paid,
//!   sent over HTTP/1.1 (no h2 by ALPN), messages echoed;
//! - `[tls]` in: `l402 get` pays over HTTPS, and a client offering h2 gets
//!   HTTP/2; past `max_handshakes` connections that never send a
//!   ClientHello, a real client waits until one closes, and the stalled
//!   ones are dropped after `handshake_timeout_secs`;
//! - gRPC (a real grpcio client) through the proxy to a grpcio server over
//!   TLS, with trailers (needs grpcio: see `proxy_grpc.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod proxy_support;
mod python_support;
mod serve_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bitcoin::hashes::{Hash, sha256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio_tungstenite::tungstenite;

use proxy_support::tls::{fixture, https_upstream, provider, server_config};
use proxy_support::write_serve_config;
use python_support::{GRPCIO, GrpcServer, grpc_call};
use serve_support::{l402, start};

/// The SHA-256 fingerprint of the fixtures' leaf, as openssl prints it.
fn leaf_fingerprint() -> String {
    let der = CertificateDer::from_pem_file(fixture("server.pem")).unwrap();
    let digest = sha256::Hash::hash(der.as_ref()).to_byte_array();
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test]
async fn https_upstreams_are_verified_pinned_or_refused_and_paid_with_l402_get() {
    let h2 = https_upstream(&[b"h2", b"http/1.1"]).await;
    let h1 = https_upstream(&[b"http/1.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf) = (fixture("ca.pem"), fixture("server.pem"));
    let (ca, leaf) = (ca.to_str().unwrap(), leaf.to_str().unwrap());
    let (a2, a1) = (h2.addr, h1.addr);
    let fingerprint = leaf_fingerprint();
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[[services]]
name = "by-ca"
pathregexp = "^/ca/"
address = "{a2}"
protocol = "https"
ca_file = "{ca}"
price_sats = 5

[[services]]
name = "by-ca-h1"
pathregexp = "^/h1/"
address = "localhost:{port1}"
protocol = "https"
ca_file = "{ca}"
auth = "off"

[[services]]
name = "pinned-file"
pathregexp = "^/pinfile/"
address = "{a2}"
protocol = "https"
pinned_cert = "{leaf}"
auth = "off"

[[services]]
name = "pinned-sha"
pathregexp = "^/pinsha/"
address = "{a2}"
protocol = "https"
pinned_cert = "{fingerprint}"
auth = "off"

[[services]]
name = "wrong-pin"
pathregexp = "^/wrong/"
address = "{a2}"
protocol = "https"
pinned_cert = "{ca}"
auth = "off"

[[services]]
name = "system-roots"
pathregexp = "^/system/"
address = "{a2}"
protocol = "https"
auth = "off"

[[services]]
name = "not-tls"
pathregexp = "^/plain/"
address = "{plain}"
protocol = "https"
ca_file = "{ca}"
auth = "off"
"#,
            port1 = a1.port(),
            plain = proxy_support::upstream().await.addr,
        ),
    );
    let mut cmd = l402(dir.path());
    // The test CA is no system root here, whatever the environment says.
    cmd.env("SSL_CERT_FILE", fixture("server.pem"))
        .env("SSL_CERT_DIR", dir.path());
    let server = start(cmd, &["--config", &config]).await;
    let base = server.url();
    let http = reqwest::Client::new();

    // Paid with l402 get; the upstream was reached over TLS and, as its
    // ALPN offers h2 first, HTTP/2.
    let url = format!("{base}/ca/x?q=1");
    let paid = get_support::get_json(dir.path(), &[&url], &[]).await;
    assert_eq!(paid.code, Some(0), "{} {}", paid.json, paid.stderr);
    assert_eq!(paid.json["status"], 200, "{}", paid.json);
    assert_eq!(paid.json["receipt"]["amount_msat"], 5_000);
    let seen = &paid.json["body_json"];
    assert_eq!(seen["path"], "/ca/x", "{seen}");
    assert_eq!(seen["version"], "HTTP/2.0", "{seen}");
    assert!(
        !seen["headers"]
            .as_array()
            .unwrap()
            .contains(&json!("authorization")),
        "{seen}"
    );
    assert_eq!(h2.hits.load(Ordering::SeqCst), 1);

    // An upstream that offers only http/1.1 gets HTTP/1.1, by host name.
    let seen: Value = http
        .get(format!("{base}/h1/y"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["version"], "HTTP/1.1", "{seen}");
    assert_eq!(h1.hits.load(Ordering::SeqCst), 1);

    // Pinned by file and by fingerprint: accepted.
    for path in ["/pinfile/a", "/pinsha/b"] {
        let resp = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let seen: Value = resp.json().await.unwrap();
        assert_eq!(seen["path"], path);
    }
    assert_eq!(h2.hits.load(Ordering::SeqCst), 3);

    // Not the pinned certificate, an issuer not among the roots, an
    // upstream that does not speak TLS: 502 upstream_tls, nothing sent.
    for (path, reason) in [
        ("/wrong/a", "certificate"),
        ("/system/a", "certificate"),
        ("/plain/a", ""),
    ] {
        let resp = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 502, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "upstream_tls", "{path}: {body}");
        let message = body["message"].as_str().unwrap().to_lowercase();
        assert!(message.contains("tls handshake"), "{path}: {body}");
        assert!(message.contains(reason), "{path}: {body}");
    }
    assert_eq!(h2.hits.load(Ordering::SeqCst), 3, "nothing was forwarded");
    server.stop().await;
}

/// Connects with TLS offering `alpn`, trusting the fixtures' CA; returns
/// the stream and the protocol the server chose.
async fn connect(
    addr: &str,
    alpn: &[&[u8]],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let chosen = stream
        .get_ref()
        .1
        .alpn_protocol()
        .unwrap_or_default()
        .to_vec();
    (stream, chosen)
}

#[tokio::test]
async fn serve_listens_with_tls_speaking_http2_and_l402_get_pays_over_https() {
    let upstream = proxy_support::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[tls]
cert_file = "{}"
key_file = "{}"

[[services]]
name = "echo"
pathregexp = "^/echo"
address = "{}"
price_sats = 3
"#,
            fixture("server.pem").display(),
            fixture("server.key").display(),
            upstream.addr
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let base = server.url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let addr = base.trim_start_matches("https://").to_owned();

    // l402 get (and its dev wallet, on the same listener) over HTTPS,
    // trusting the test CA.
    let certs = tempfile::tempdir().unwrap();
    let ca = fixture("ca.pem");
    let trust = [
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("SSL_CERT_DIR", certs.path().to_str().unwrap()),
    ];
    let url = format!("{base}/echo/over-tls");
    let paid = get_support::get_json(dir.path(), &[&url], &trust).await;
    assert_eq!(paid.code, Some(0), "{} {}", paid.json, paid.stderr);
    assert_eq!(paid.json["status"], 200, "{}", paid.json);
    assert_eq!(paid.json["receipt"]["amount_msat"], 3_000);
    assert_eq!(paid.json["body_json"]["path"], "/echo/over-tls");
    let forwarded = &paid.json["body_json"]["headers"]["x-forwarded-proto"];
    assert_eq!(forwarded[0], "https", "{}", paid.json);

    // A client offering h2 gets it: ALPN, then the server's HTTP/2 SETTINGS.
    let (mut h2, chosen) = connect(&addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(chosen, b"h2");
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    h2.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), h2.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head[3], 4, "the server's first HTTP/2 frame is SETTINGS");
    // One offering only http/1.1 gets HTTP/1.1.
    let (mut h1, chosen) = connect(&addr, &[b"http/1.1"]).await;
    assert_eq!(chosen, b"http/1.1");
    h1.write_all(b"GET /echo/x HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), h1.read_to_end(&mut answer)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 402"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // curl (HTTP/2 over TLS, a third-party client) when installed.
    let curl = Command::new("curl")
        .args([
            "--http2",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg("--cacert")
        .arg(&ca)
        .arg(format!("{base}/echo/y"))
        .output()
        .await;
    match curl {
        Ok(out) => assert_eq!(String::from_utf8_lossy(&out.stdout), "2 402", "{out:?}"),
        Err(e) => eprintln!("curl not run ({e}): ALPN and SETTINGS checked above"),
    }

    // A plain-text client on the TLS port: refused, nothing served.
    let mut plain = TcpStream::connect(&addr).await.unwrap();
    plain
        .write_all(b"GET /echo/x HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/1.1"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    drop((h2, h1, plain));
    server.stop().await;
}

#[tokio::test]
async fn grpc_crosses_to_a_tls_upstream_over_h2_with_trailers() {
    let Some(python) = GRPCIO.python() else {
        return;
    };
    let tls = (fixture("server.pem"), fixture("server.key"));
    let upstream = GrpcServer::start(&python, Some((&tls.0, &tls.1))).await;
    let port = upstream.port;
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[[services]]
name = "echo-grpc-tls"
pathregexp = "^/echo\\.Echo/"
address = "localhost:{port}"
protocol = "https"
ca_file = "{}"
auth = "off"
"#,
            fixture("ca.pem").display()
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    let answer = grpc_call(&python, &addr, "hello over tls", None).await;
    assert_eq!(answer["code"], "OK", "{answer}");
    assert_eq!(answer["answer"]["message"], "hello over tls");
    assert_eq!(answer["trailers"]["x-echo-trailer"], "kept");
    server.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn a_websocket_upgrade_to_an_https_upstream_is_paid_then_echoes_over_http1() {
    // A wss echo server offering h2 first: had the proxy offered h2 too, it
    // would have picked it and never seen the upgrade. Each connection's
    // ALPN choice is kept.
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&[b"h2", b"http/1.1"]));
    let handshakes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let alpns = Arc::new(std::sync::Mutex::new(Vec::<Option<Vec<u8>>>::new()));
    let (seen, chosen) = (handshakes.clone(), alpns.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            let (acceptor, seen, chosen) = (acceptor.clone(), seen.clone(), chosen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                chosen.lock().unwrap().push(alpn);
                proxy_support::ws_echo(tls, seen).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[[services]]
name = "wss"
pathregexp = "^/ws/"
address = "localhost:{port}"
protocol = "https"
ca_file = "{}"
price_sats = 4
"#,
            fixture("ca.pem").display()
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let base = server.url();
    let ws_url = format!("{}/ws/chat", base.replace("http://", "ws://"));

    // Unpaid: 402, nothing reaches the upstream.
    match tokio_tungstenite::connect_async(&ws_url).await.unwrap_err() {
        tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 402),
        other => panic!("expected a 402, got {other}"),
    }
    assert!(alpns.lock().unwrap().is_empty());

    // Bought with l402 get (the websocket server answers no plain GET: the
    // token is stored all the same), then the upgrade carries it.
    let http_url = format!("{base}/ws/chat");
    let bought = get_support::get_json(dir.path(), &[&http_url], &[]).await;
    assert_eq!(
        bought.json["receipt"]["amount_msat"], 4_000,
        "{}",
        bought.json
    );
    let export = get_support::run_json(dir.path(), &["token", "export", &http_url], &[]).await;
    let credential = export.json["authorization"].as_str().unwrap().to_owned();
    let before = alpns.lock().unwrap().len();
    proxy_support::paid_ws_echo(&ws_url, &credential, &["hello", "over tls"]).await;
    // The upgrade's connection chose no h2 (the client offered no ALPN).
    let alpns = alpns.lock().unwrap().clone();
    assert_eq!(alpns.len(), before + 1, "{alpns:?}");
    assert_ne!(alpns[before].as_deref(), Some(&b"h2"[..]), "{alpns:?}");
    let handshakes = handshakes.lock().unwrap().clone();
    let last = handshakes.last().unwrap();
    assert_eq!(last["path"], "/ws/chat");
    assert!(last["headers"].get("authorization").is_none(), "{last}");
    server.stop().await;
}

#[tokio::test]
async fn handshakes_past_the_bound_wait_and_stalled_ones_are_dropped() {
    let upstream = proxy_support::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[tls]
cert_file = "{}"
key_file = "{}"
max_handshakes = 4
handshake_timeout_secs = 3

[[services]]
name = "echo"
pathregexp = "^/echo"
address = "{}"
auth = "off"
"#,
            fixture("server.pem").display(),
            fixture("server.key").display(),
            upstream.addr
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let addr = server.url().trim_start_matches("https://").to_owned();

    // Four connections that never send a ClientHello hold every handshake.
    let opened = std::time::Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth, real client: not answered while they stall.
    let fifth = tokio::spawn({
        let addr = addr.clone();
        async move {
            let (mut tls, _) = connect(&addr, &[b"http/1.1"]).await;
            tls.write_all(b"GET /echo/x HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            let _ = tls.read_to_end(&mut answer).await;
            answer
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!fifth.is_finished(), "answered past max_handshakes");
    // One stalled connection closes: the fifth is answered at once (well
    // before the stalled ones time out).
    drop(stalled.pop());
    let answer = tokio::time::timeout(Duration::from_secs(5), fifth)
        .await
        .expect("answered once a handshake slot is free")
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        opened.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        opened.elapsed()
    );

    // The other stalled ones are dropped by the server after the
    // handshake timeout (3 s), not before.
    for mut tcp in stalled {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
        let after = opened.elapsed();
        assert!(
            after >= Duration::from_millis(2_900),
            "dropped after {after:?}"
        );
        assert!(after < Duration::from_secs(8), "dropped after {after:?}");
    }
    server.stop().await;
}

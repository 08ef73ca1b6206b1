//! `l402 get` over HTTPS: the TLS roots are loaded on the first handshake
//! (src/tls.rs), and the server's certificate is still verified against
//! them. The roots come from `SSL_CERT_FILE` / `SSL_CERT_DIR`, as for every
//! rustls-platform-verifier client on Linux.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;

use std::path::PathBuf;
use std::sync::Arc;

use get_support::get_json;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// An HTTPS server on 127.0.0.1 answering every request with 200 "hello over tls".
async fn https_server() -> String {
    let cert = CertificateDer::from_pem_file(fixture("server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "hello over tls";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{}/x", addr.port())
}

#[tokio::test]
async fn https_is_verified_against_the_platform_roots_loaded_on_first_use() {
    let url = https_server().await;
    let dir = tempfile::tempdir().unwrap();
    let no_dir = dir.path().join("no-cert-dir");
    std::fs::create_dir(&no_dir).unwrap();
    let no_dir = no_dir.to_str().unwrap();
    let ca = fixture("ca.pem");
    let leaf = fixture("server.pem");

    // The test CA is a platform root: the certificate checks out.
    let trusted = [
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("SSL_CERT_DIR", no_dir),
    ];
    let run = get_json(dir.path(), &["--no-pay", &url], &trusted).await;
    assert_eq!(run.code, Some(0), "{} {}", run.json, run.stderr);
    assert_eq!(run.json["status"], 200);
    assert_eq!(run.json["body"], "hello over tls");

    // The roots do not include the issuer: refused, nothing fetched.
    let untrusted = [
        ("SSL_CERT_FILE", leaf.to_str().unwrap()),
        ("SSL_CERT_DIR", no_dir),
    ];
    let run = get_json(dir.path(), &["--no-pay", &url], &untrusted).await;
    assert_eq!(run.code, Some(6), "{} {}", run.json, run.stderr);
    assert_eq!(run.json["error"]["code"], "network", "{}", run.json);
    assert!(run.json["body"].is_null(), "{}", run.json);
}

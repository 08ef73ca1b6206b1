//! HTTPS for the proxy tests: the fixtures' certificates (`tests/fixtures`:
//! `ca.pem` issued `server.pem` for `localhost` and `127.0.0.1`) and a real
//! HTTPS upstream answering what it received.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, Uri, Version};
use axum::routing::any;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The fixtures' leaf (`localhost`, `127.0.0.1`, issued by `ca.pem`).
pub fn server_config(alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let cert = CertificateDer::from_pem_file(fixture("server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A listener handing axum TLS connections (handshakes inline: a test).
pub struct Tls {
    pub tcp: TcpListener,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for Tls {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A real HTTPS upstream offering `alpn`, answering what it received (the
/// HTTP version too) as JSON; `hits` counts the requests that reached it.
pub struct HttpsUpstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

pub async fn https_upstream(alpn: &[&[u8]]) -> HttpsUpstream {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().fallback(any(
        move |version: Version, uri: Uri, headers: HeaderMap| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
                axum::Json(json!({
                    "version": format!("{version:?}"),
                    "path": uri.path(),
                    "headers": names,
                }))
            }
        },
    ));
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(alpn));
    tokio::spawn(async move { axum::serve(Tls { tcp, acceptor }, app).await.unwrap() });
    HttpsUpstream { addr, hits }
}

//! Serving an in-process wire fake on loopback, with a switch that cuts the
//! connections: a handler that has done its work (paid) calls
//! [`Cutter::cut`] and never answers, and the client's connection is closed
//! without a byte of the answer: the "connection lost after the request was
//! sent" fault, over plain TCP or TLS alike.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tower::ServiceExt;

/// Cuts every open connection of a [`serve`]d fake.
#[derive(Clone, Default)]
pub struct Cutter(Arc<Notify>);

impl Cutter {
    /// Closes every connection now, whatever it is doing.
    pub fn cut(&self) {
        self.0.notify_waiters();
    }

    /// A future that resolves at the next [`Cutter::cut`], registered now
    /// (so a cut made before it is first polled is not missed).
    pub fn armed(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(self.0.notified());
        notified.as_mut().enable();
        notified
    }
}

/// Serves `app` on a loopback port, over TLS if `tls` is given. Returns the
/// address; `cutter` cuts its connections. Connections may be upgraded
/// (websockets).
pub async fn serve(
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cutter: Cutter,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let app = app.clone();
            let cutter = cutter.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        app.clone().oneshot(request)
                    });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let signal = cutter.armed();
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades();
                        tokio::select! {
                            _ = conn => {}
                            _ = signal => {}
                        }
                    }
                    None => {
                        let signal = cutter.armed();
                        let conn = builder
                            .serve_connection(TokioIo::new(tcp), service)
                            .with_upgrades();
                        tokio::select! {
                            _ = conn => {}
                            _ = signal => {}
                        }
                    }
                }
            });
        }
    });
    addr
}

/// The self-signed `CA:TRUE` certificate (like LND's own `tls.cert`) the
/// TLS fakes present, and its key.
pub const TLS_CERT: &[u8] = include_bytes!("../fixtures/lnd-tls.cert");
const TLS_KEY: &[u8] = include_bytes!("../fixtures/lnd-tls.key");

/// Another self-signed certificate: pinning it must refuse the fakes.
pub const OTHER_TLS_CERT: &[u8] = include_bytes!("../fixtures/other-tls.cert");

/// The path of [`TLS_CERT`]'s file, for a configuration that reads it
/// (`tls_cert_file`).
pub fn tls_cert_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lnd-tls.cert")
}

/// The DER inside the first `label` block of a PEM file.
fn pem_body(pem: &[u8], label: &str) -> Vec<u8> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).unwrap();
    let start = text.find(&format!("-----BEGIN {label}-----")).unwrap() + label.len() + 16;
    let end = text.find(&format!("-----END {label}-----")).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(text[start..end].split_whitespace().collect::<String>())
        .unwrap()
}

/// A TLS acceptor presenting [`TLS_CERT`], for [`serve`].
pub fn acceptor() -> tokio_rustls::TlsAcceptor {
    let cert = rustls::pki_types::CertificateDer::from(pem_body(TLS_CERT, "CERTIFICATE"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pem_body(TLS_KEY, "PRIVATE KEY").into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

//! `https` upstreams: which certificate the proxy trusts ([`UpstreamTrust`]),
//! the rustls configuration and pooled client built from it, and the TLS
//! failures told apart from others (502 `upstream_tls`, never a downgrade to
//! clear text).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use l402_lightning::tls::{PinnedCert, parse_cert};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::forward::{POOL_IDLE, POOL_MAX_IDLE_PER_HOST, UpstreamBody};
use crate::service::ServiceError;

/// Which certificate an `https` upstream must present.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamTrust {
    /// One that chains to the system's roots (the default).
    #[default]
    SystemRoots,
    /// One that chains to one of these CA certificates (a PEM file's
    /// content), for the upstream's host name or IP address.
    CaPem(Vec<u8>),
    /// One that chains to the system's roots or to one of these CA
    /// certificates (a PEM file's content): the system's roots plus the
    /// operator's own CA.
    SystemRootsAndCaPem(Vec<u8>),
    /// Exactly this certificate (PEM or DER), whatever its name or issuer.
    Pinned(Vec<u8>),
    /// Exactly the certificate with this SHA-256 fingerprint.
    PinnedSha256([u8; 32]),
}

impl std::fmt::Debug for UpstreamTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamTrust::SystemRoots => f.write_str("SystemRoots"),
            UpstreamTrust::CaPem(_) => f.write_str("CaPem(..)"),
            UpstreamTrust::SystemRootsAndCaPem(_) => f.write_str("SystemRootsAndCaPem(..)"),
            UpstreamTrust::Pinned(_) => f.write_str("Pinned(..)"),
            UpstreamTrust::PinnedSha256(d) => write!(f, "PinnedSha256({})", hex::encode(d)),
        }
    }
}

impl UpstreamTrust {
    /// A fingerprint as `openssl x509 -fingerprint -sha256` prints it (64
    /// hex digits, colons allowed), or `None`.
    pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
        let digits: String = text.trim().chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(digits).ok()?;
        bytes.try_into().ok()
    }

    /// The rustls configuration, offering h2 and http/1.1 (ALPN is set by
    /// the connector).
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, ServiceError> {
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let tls = |key: &'static str| {
            move |e: rustls::Error| ServiceError::Tls {
                key,
                reason: e.to_string(),
            }
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls("protocol"))?;
        Ok(match self {
            UpstreamTrust::SystemRoots => {
                let verifier =
                    rustls_platform_verifier::Verifier::new(provider).map_err(tls("protocol"))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
            UpstreamTrust::SystemRootsAndCaPem(pem) => {
                let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
                    pem_certs(pem)?,
                    provider,
                )
                .map_err(tls("ca_file"))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
            UpstreamTrust::CaPem(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in pem_certs(pem)? {
                    roots.add(cert).map_err(tls("ca_file"))?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            UpstreamTrust::Pinned(bytes) => {
                let cert = parse_cert(bytes).ok_or_else(|| ServiceError::Tls {
                    key: "pinned_cert",
                    reason: "neither a PEM certificate nor DER".to_owned(),
                })?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedCert::new(cert, provider)))
                    .with_no_client_auth()
            }
            UpstreamTrust::PinnedSha256(fingerprint) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCert::sha256(
                    *fingerprint,
                    provider,
                )))
                .with_no_client_auth(),
        })
    }
}

/// The certificates of a PEM file's content: at least one.
fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ServiceError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServiceError::Tls {
            key: "ca_file",
            reason: format!("not a PEM certificate: {e}"),
        })?;
    if certs.is_empty() {
        return Err(ServiceError::Tls {
            key: "ca_file",
            reason: "holds no PEM certificate".to_owned(),
        });
    }
    Ok(certs)
}

/// The pooled clients of one `https` upstream: one offering h2 and
/// http/1.1 (ALPN decides; gRPC requests ask for h2), and one offering no
/// ALPN at all, so HTTP/1.1, for protocol switches: a websocket upgrade is
/// an HTTP/1.1 exchange, and an upstream that picked h2 would never see it.
#[derive(Clone)]
pub(crate) struct HttpsClient {
    alpn: Client<HttpsConnector<HttpConnector<Resolver>>, UpstreamBody>,
    http1: Client<HttpsConnector<HttpConnector<Resolver>>, UpstreamBody>,
}

impl HttpsClient {
    /// Sends `request`, over HTTP/1.1 when it asks to switch protocols.
    pub(crate) fn request(
        &self,
        request: http::Request<UpstreamBody>,
        upgrade: bool,
    ) -> hyper_util::client::legacy::ResponseFuture {
        if upgrade {
            self.http1.request(request)
        } else {
            self.alpn.request(request)
        }
    }
}

/// The clients trusting what `config` trusts, for `https://` URIs only;
/// with `connect_to`, connecting there whatever the host resolves to (the
/// host still names the server for SNI and the certificate check).
pub(crate) fn https_client(
    config: rustls::ClientConfig,
    connect_to: Option<SocketAddr>,
) -> HttpsClient {
    let mut http = HttpConnector::new_with_resolver(Resolver(connect_to));
    http.set_nodelay(true);
    http.enforce_http(false);
    let pooled = |connector| {
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(connector)
    };
    let alpn = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.clone())
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http.clone());
    // HTTP/1.1 only: no ALPN offered.
    let http1 = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    HttpsClient {
        alpn: pooled(alpn),
        http1: pooled(http1),
    }
}

/// How an `https` upstream's host becomes addresses: the system's
/// resolver, or the one address the upstream was pinned to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolver(Option<SocketAddr>);

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let pinned = self.0;
        Box::pin(async move {
            if let Some(addr) = pinned {
                return Ok(vec![addr].into_iter());
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok(found.into_iter())
        })
    }
}

/// The TLS failure somewhere in `error`'s chain (a refused certificate, a
/// handshake that failed), as text for the client.
pub(crate) fn failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // io::Error::source skips the error it wraps (and hyper-rustls
        // wraps tokio-rustls's io::Error in another): look inside.
        cause = match e.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => None,
            },
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hexed = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(UpstreamTrust::parse_sha256(&hexed), Some([0xab; 32]));
        assert_eq!(UpstreamTrust::parse_sha256(&colons), Some([0xab; 32]));
        assert_eq!(UpstreamTrust::parse_sha256("abcd"), None);
        assert_eq!(UpstreamTrust::parse_sha256(&"zz".repeat(32)), None);
    }

    #[test]
    fn a_tls_error_is_found_inside_nested_io_errors() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        let outer = std::io::Error::other(inner);
        let found = failure(&outer).unwrap();
        assert!(found.contains("UnknownIssuer"), "{found}");
        assert!(failure(&std::io::Error::other("refused")).is_none());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let e = UpstreamTrust::CaPem(b"not pem".to_vec())
            .client_config()
            .unwrap_err();
        assert!(matches!(e, ServiceError::Tls { key: "ca_file", .. }), "{e}");
        let e = UpstreamTrust::Pinned(b"nope".to_vec())
            .client_config()
            .unwrap_err();
        assert!(
            matches!(
                e,
                ServiceError::Tls {
                    key: "pinned_cert",
                    ..
                }
            ),
            "{e}"
        );
    }
}

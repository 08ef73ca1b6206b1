//! HTTP clients for `l402 get` that load the system's TLS roots on the
//! first HTTPS handshake, not when they are built.
//!
//! reqwest's rustls backend reads and parses every certificate under
//! `/etc/ssl/certs` each time a client is built (~140 files here), which
//! cost `l402 get` more than the whole request to a local server. A command
//! that fetches one `http://` URL with a stored token never needs them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// A reqwest client (HTTP/1.1, no redirects, `timeout` per request) whose
/// TLS roots are the platform's, loaded on first use.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(http_client_builder(timeout)?.build()?)
}

/// [`http_client`]'s builder, for a caller that adds to it (`l402 mcp`'s
/// resolver that answers only with public addresses).
pub fn http_client_builder(timeout: Duration) -> anyhow::Result<reqwest::ClientBuilder> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PlatformRootsOnFirstUse {
            provider,
            verifier: OnceLock::new(),
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none()))
}

/// The platform verifier (`rustls-platform-verifier`, what reqwest uses),
/// created on the first certificate to verify. Signatures are checked with
/// the provider's algorithms, exactly as the platform verifier does on Linux.
#[derive(Debug)]
struct PlatformRootsOnFirstUse {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl PlatformRootsOnFirstUse {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| rustls_platform_verifier::Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for PlatformRootsOnFirstUse {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn building_a_client_loads_no_roots() {
        let client = http_client(Duration::from_secs(1));
        assert!(client.is_ok());
    }

    #[test]
    fn the_platform_roots_load_on_first_use() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let lazy = PlatformRootsOnFirstUse {
            provider,
            verifier: OnceLock::new(),
        };
        assert!(lazy.verifier.get().is_none());
        // A self-signed leaf is refused by the real platform roots.
        let bogus = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let name = ServerName::try_from("example.com").unwrap();
        assert!(
            lazy.verify_server_cert(&bogus, &[], &name, &[], UnixTime::now())
                .is_err()
        );
        assert!(lazy.verifier.get().is_some());
    }
}

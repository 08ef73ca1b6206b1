//! `[tls]`: `l402 serve` listens with TLS (HTTP/1.1 and HTTP/2 by ALPN)
//! when a certificate chain and its key are given, in the file
//! (`cert_file`, `key_file`, relative to it) or as `--tls-cert` /
//! `--tls-key` (`L402_TLS_CERT_FILE` / `L402_TLS_KEY_FILE`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::{ConfigError, err};

/// `[tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// The most TLS handshakes in progress at once (default
    /// [`DEFAULT_MAX_HANDSHAKES`]); more connections wait to be accepted.
    pub max_handshakes: Option<usize>,
    /// How long a client has to finish its handshake, in seconds (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT_SECS`]).
    pub handshake_timeout_secs: Option<u64>,
}

/// The most TLS handshakes in progress at once, by default.
pub const DEFAULT_MAX_HANDSHAKES: usize = 1024;

/// How long a client has to finish its handshake, by default (seconds).
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;

/// `[tls]`, resolved: the files, checked to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The certificate chain.
    pub cert_file: PathBuf,
    /// The private key.
    pub key_file: PathBuf,
    /// The most handshakes in progress at once (at least 1).
    pub max_handshakes: usize,
    /// How long a client has to finish its handshake (more than zero).
    pub handshake_timeout: std::time::Duration,
}

impl Tls {
    /// The rustls server configuration, offering h2 then http/1.1.
    ///
    /// # Errors
    /// A file that cannot be read or holds no usable certificate or key;
    /// the key not matching the certificate. The message names the file.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, (&'static str, String)> {
        let cert = |e: String| ("tls.cert_file", e);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert_file)
            .map_err(|e| cert(format!("cannot read {}: {e}", self.cert_file.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| cert(format!("{}: {e}", self.cert_file.display())))?;
        if chain.is_empty() {
            return Err(cert(format!(
                "{} holds no PEM certificate",
                self.cert_file.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key_file).map_err(|e| {
            (
                "tls.key_file",
                format!(
                    "{}: no usable PEM private key ({e})",
                    self.key_file.display()
                ),
            )
        })?;
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ("tls", e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                (
                    "tls.key_file",
                    format!("does not match the certificate: {e}"),
                )
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// `[tls]` and the flags (which win) checked: both files or neither, and
/// they load.
pub(super) fn resolve(
    source: &str,
    file: TlsConfig,
    cert_flag: Option<&Path>,
    key_flag: Option<&Path>,
    base_dir: Option<&Path>,
) -> Result<Option<Tls>, ConfigError> {
    let max_handshakes = file.max_handshakes.unwrap_or(DEFAULT_MAX_HANDSHAKES);
    if max_handshakes == 0 {
        return Err(err(source, "tls.max_handshakes", "must be at least 1"));
    }
    let timeout_secs = file
        .handshake_timeout_secs
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT_SECS);
    if timeout_secs == 0 {
        return Err(err(
            source,
            "tls.handshake_timeout_secs",
            "must be at least 1",
        ));
    }
    let in_file = |p: PathBuf| base_dir.map_or(p.clone(), |d| d.join(&p));
    let cert = cert_flag
        .map(Path::to_path_buf)
        .or(file.cert_file.map(in_file));
    let key = key_flag
        .map(Path::to_path_buf)
        .or(file.key_file.map(in_file));
    let tls = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert_file), Some(key_file)) => Tls {
            cert_file,
            key_file,
            max_handshakes,
            handshake_timeout: std::time::Duration::from_secs(timeout_secs),
        },
        (Some(_), None) => {
            return Err(err(source, "tls.key_file", "required with tls.cert_file"));
        }
        (None, Some(_)) => {
            return Err(err(source, "tls.cert_file", "required with tls.key_file"));
        }
    };
    tls.server_config().map_err(|(k, r)| err(source, k, r))?;
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn both_files_or_neither_and_they_load() {
        let none = resolve("t", TlsConfig::default(), None, None, None).unwrap();
        assert!(none.is_none());
        let cert = fixture("server.pem");
        let key = fixture("server.key");
        let tls = resolve("t", TlsConfig::default(), Some(&cert), Some(&key), None)
            .unwrap()
            .unwrap();
        let config = tls.server_config().unwrap();
        assert_eq!(config.alpn_protocols[0], b"h2");
        let e = resolve("t", TlsConfig::default(), Some(&cert), None, None).unwrap_err();
        assert_eq!(e.key, "tls.key_file");
        // The CA's certificate with the leaf's key: refused.
        let ca = fixture("ca.pem");
        let e = resolve("t", TlsConfig::default(), Some(&ca), Some(&key), None).unwrap_err();
        assert_eq!(e.key, "tls.key_file", "{e}");
        let e = resolve("t", TlsConfig::default(), Some(&key), Some(&key), None).unwrap_err();
        assert_eq!(e.key, "tls.cert_file", "{e}");
    }

    #[test]
    fn handshake_bounds_default_and_refuse_zero() {
        let (cert, key) = (fixture("server.pem"), fixture("server.key"));
        let tls = resolve("t", TlsConfig::default(), Some(&cert), Some(&key), None)
            .unwrap()
            .unwrap();
        assert_eq!(tls.max_handshakes, DEFAULT_MAX_HANDSHAKES);
        assert_eq!(
            tls.handshake_timeout.as_secs(),
            DEFAULT_HANDSHAKE_TIMEOUT_SECS
        );
        for (file, key_name) in [
            (
                TlsConfig {
                    max_handshakes: Some(0),
                    ..TlsConfig::default()
                },
                "tls.max_handshakes",
            ),
            (
                TlsConfig {
                    handshake_timeout_secs: Some(0),
                    ..TlsConfig::default()
                },
                "tls.handshake_timeout_secs",
            ),
        ] {
            let e = resolve("t", file, Some(&cert), Some(&key), None).unwrap_err();
            assert_eq!(e.key, key_name, "{e}");
        }
    }
}

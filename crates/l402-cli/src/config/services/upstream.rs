//! A service's `https` trust (`ca_file`, `pinned_cert`) and dynamic price
//! (`price = { pricer = "http://...", timeout_ms, fallback_sats }`), read
//! and checked for `[[services]]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use l402_proxy::{Pricer, Protocol, ServiceBuilder, ServiceError, UpstreamTrust};
use serde::Deserialize;

/// The largest certificate file read (1 MiB).
const MAX_CERT_FILE_BYTES: u64 = 1024 * 1024;

/// The longest a pricer may be given (10 s): a request waits for it.
const MAX_PRICER_TIMEOUT_MS: u64 = 10_000;

/// `price = { pricer = "http://127.0.0.1:9000/price", timeout_ms = 500,
/// fallback_sats = 10 }`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// The pricer's URL (`http://`): it receives `{service, method, path,
    /// query, headers, body_size}` and answers `{price_sats}`.
    pub pricer: String,
    /// How long it has to answer (default 500 ms, at most 10 s).
    pub timeout_ms: Option<u64>,
    /// The price when it fails; without it, 503 `pricer_unavailable`.
    pub fallback_sats: Option<u64>,
}

/// A dynamic price, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricerSpec {
    /// The pricer's URL.
    pub url: String,
    /// Its timeout, in milliseconds.
    pub timeout_ms: u64,
    /// The fallback price.
    pub fallback_sats: Option<u64>,
}

/// An upstream's TLS trust and dynamic price, resolved (files read).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamSpec {
    /// What an `https` upstream's certificate must be (none: the system's
    /// roots).
    pub trust: Option<UpstreamTrust>,
    /// The pricer, when the price is dynamic.
    pub pricer: Option<PricerSpec>,
    /// The address an `https` upstream is connected at, whatever its host
    /// resolves to (a merchant's proxy, checked public once).
    pub connect_to: Option<std::net::SocketAddr>,
}

impl UpstreamSpec {
    /// Sets the trust and pricer on `b`.
    ///
    /// # Errors
    /// A pricer the proxy refuses.
    pub fn apply(&self, mut b: ServiceBuilder) -> Result<ServiceBuilder, ServiceError> {
        if let Some(trust) = &self.trust {
            b = b.trust(trust.clone());
        }
        if let Some(addr) = self.connect_to {
            b = b.connect_to(addr);
        }
        if let Some(p) = &self.pricer {
            let mut pricer = Pricer::builder(&p.url).timeout(Duration::from_millis(p.timeout_ms));
            if let Some(sats) = p.fallback_sats {
                pricer = pricer.fallback_sats(sats);
            }
            b = b.pricer(pricer.build()?);
        }
        Ok(b)
    }

    /// The key and what is wrong, or the resolved settings. `ca_file` and a
    /// `pinned_cert` path are relative to `base_dir` (the config file's).
    pub(super) fn resolve(
        protocol: Protocol,
        ca_file: Option<&Path>,
        pinned_cert: Option<&str>,
        price: Option<PriceConfig>,
        base_dir: Option<&Path>,
    ) -> Result<Self, (&'static str, String)> {
        let read = |key: &'static str, path: &Path| -> Result<Vec<u8>, (&'static str, String)> {
            let path: PathBuf = base_dir.map_or(path.to_path_buf(), |d| d.join(path));
            read_bounded(&path).map_err(|e| (key, e))
        };
        let trust = match (ca_file, pinned_cert) {
            (Some(_), Some(_)) => {
                return Err(("pinned_cert", "set ca_file or pinned_cert, not both".into()));
            }
            (Some(path), None) => Some(UpstreamTrust::CaPem(read("ca_file", path)?)),
            (None, Some(pin)) => Some(match UpstreamTrust::parse_sha256(pin) {
                Some(fingerprint) => UpstreamTrust::PinnedSha256(fingerprint),
                None => UpstreamTrust::Pinned(read("pinned_cert", Path::new(pin))?),
            }),
            (None, None) => None,
        };
        if trust.is_some() && protocol != Protocol::Https {
            let key = if ca_file.is_some() {
                "ca_file"
            } else {
                "pinned_cert"
            };
            return Err((key, "only for protocol = \"https\"".into()));
        }
        let pricer = price
            .map(|p| {
                let timeout_ms = p.timeout_ms.unwrap_or(500);
                if !(1..=MAX_PRICER_TIMEOUT_MS).contains(&timeout_ms) {
                    return Err((
                        "price.timeout_ms",
                        format!("must be between 1 and {MAX_PRICER_TIMEOUT_MS}"),
                    ));
                }
                Ok(PricerSpec {
                    url: p.pricer,
                    timeout_ms,
                    fallback_sats: p.fallback_sats,
                })
            })
            .transpose()?;
        Ok(UpstreamSpec {
            trust,
            pricer,
            connect_to: None,
        })
    }
}

/// `[proxy] merchant_ca_file`: what merchants' `https` upstreams must chain
/// to, the system's roots plus the file's CA certificates (at least one).
pub(crate) fn merchant_trust(
    ca_file: Option<&Path>,
    base_dir: Option<&Path>,
) -> Result<Option<UpstreamTrust>, String> {
    let Some(path) = ca_file else {
        return Ok(None);
    };
    let path: PathBuf = base_dir.map_or(path.to_path_buf(), |d| d.join(path));
    let pem = read_bounded(&path)?;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(Some(UpstreamTrust::SystemRootsAndCaPem(pem)))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CERT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_CERT_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_CERT_FILE_BYTES} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

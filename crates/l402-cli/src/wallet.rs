//! The paying wallet of `l402 get`: where it comes from (flags, the
//! `L402_LNBITS_*` variables, `get.toml`, the dev wallet `l402 serve`
//! writes), what to say when there is none, and an LNbits client built on
//! first use (a run that reuses a stored token never pays, and building the
//! client's HTTPS stack is the slowest part of starting).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail};
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{
    Backend, BackendError, NodeInfo, OutgoingStatus, PayError, PayRequest, Payment, PaymentHash,
    TransportError, Wallet,
};

use crate::devwallet;

/// The variables, one scheme for `serve` and `get`.
pub const URL_ENV: &str = "L402_LNBITS_URL";
/// The paying key's variable.
pub const ADMIN_KEY_ENV: &str = "L402_LNBITS_ADMIN_KEY";
/// The receiving key's variable (`serve`; it cannot pay).
pub const INVOICE_KEY_ENV: &str = "L402_LNBITS_INVOICE_KEY";
/// The old names `get` read, still honoured with a warning.
const DEPRECATED: [(&str, &str); 2] = [
    ("L402_WALLET_LNBITS_URL", URL_ENV),
    ("L402_WALLET_LNBITS_ADMIN_KEY", ADMIN_KEY_ENV),
];

/// An LNbits wallet as configured, before its client exists.
#[derive(Clone)]
pub struct LnbitsSpec {
    /// The base URL.
    pub url: String,
    /// The admin key.
    pub admin_key: String,
    /// The invoice key, if known.
    pub invoice_key: Option<String>,
}

/// Where `get` looks for a wallet, in order.
pub struct Sources<'a> {
    /// `--lnbits-url` or `L402_LNBITS_URL`.
    pub url: Option<&'a str>,
    /// `--lnbits-admin-key` or `L402_LNBITS_ADMIN_KEY`.
    pub admin_key: Option<&'a str>,
    /// `[wallet]` of the configuration file.
    pub config_wallet: Option<LnbitsSpec>,
    /// The data directory.
    pub data_dir: &'a Path,
}

/// Reads a deprecated variable when its new name is not set, with a warning.
fn deprecated_env(new: &str) -> Option<String> {
    let (old, _) = DEPRECATED.iter().find(|(_, n)| *n == new)?;
    let value = std::env::var(old).ok().filter(|v| !v.is_empty())?;
    eprintln!("l402: warning: {old} is deprecated; use {new} (one name for serve and get)");
    Some(value)
}

/// The paying wallet, and whether it is the dev node's; `None` if nothing
/// is configured.
///
/// # Errors
/// Half an LNbits configuration, a bad URL, or an unreadable dev wallet file.
pub fn resolve(
    sources: Sources<'_>,
    timeout: Duration,
) -> anyhow::Result<Option<(Arc<dyn Wallet>, bool)>> {
    let url = sources
        .url
        .map(str::to_owned)
        .or_else(|| deprecated_env(URL_ENV));
    let admin_key = sources
        .admin_key
        .map(str::to_owned)
        .or_else(|| deprecated_env(ADMIN_KEY_ENV));
    let spec = match (url, admin_key) {
        (Some(url), Some(admin_key)) => Some(LnbitsSpec {
            url,
            admin_key,
            invoice_key: None,
        }),
        (Some(_), None) => bail!(
            "an LNbits URL is set (--lnbits-url or {URL_ENV}) but no admin key: paying needs \
             --lnbits-admin-key or {ADMIN_KEY_ENV} ({INVOICE_KEY_ENV} is for receiving with \
             `l402 serve`; it cannot pay)"
        ),
        (None, Some(_)) => {
            bail!("an LNbits admin key is set but no URL: pass --lnbits-url or set {URL_ENV} too")
        }
        (None, None) => None,
    };
    if let Some(spec) = spec.or(sources.config_wallet) {
        return Ok(Some((Arc::new(LazyLnbits::new(spec, timeout)?), false)));
    }
    match devwallet::read(sources.data_dir)? {
        Some(file) => {
            let spec = LnbitsSpec {
                url: file.url,
                admin_key: file.admin_key,
                invoice_key: Some(file.invoice_key),
            };
            Ok(Some((Arc::new(LazyLnbits::new(spec, timeout)?), true)))
        }
        None => Ok(None),
    }
}

/// What to say when no wallet is configured: where `get` looked, and what
/// to do.
pub fn none_configured(config_file: &Path, data_dir: &Path) -> anyhow::Error {
    let mut text = format!(
        "no wallet configured. l402 get looked for, in order:\n  \
         - --lnbits-url and --lnbits-admin-key, or {URL_ENV} and {ADMIN_KEY_ENV}: not set\n  \
         - a [wallet] in {}: none\n  \
         - the dev wallet {} that `l402 serve` writes in its data directory: not there\n\
         If `l402 serve` runs with another data directory, give l402 get the same one \
         (--data-dir DIR or L402_DATA_DIR); or configure an LNbits wallet as above.",
        config_file.display(),
        devwallet::path(data_dir).display(),
    );
    let default_dir: PathBuf = crate::paths::data_dir(None);
    if default_dir != data_dir && devwallet::path(&default_dir).exists() {
        text.push_str(&format!(
            "\nThere is a dev wallet in the default data directory: --data-dir {}",
            default_dir.display()
        ));
    }
    anyhow!(text)
}

/// An LNbits wallet whose client (and HTTPS stack) is built on first use.
pub struct LazyLnbits {
    spec: LnbitsSpec,
    timeout: Duration,
    client: OnceLock<Result<LnbitsClient, String>>,
}

impl LazyLnbits {
    /// Checks the URL and key now; builds the client later.
    ///
    /// # Errors
    /// A URL that is not http(s) with a host, or an empty key.
    pub fn new(spec: LnbitsSpec, timeout: Duration) -> anyhow::Result<Self> {
        let url = spec.url.trim();
        let valid = reqwest::Url::parse(url)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false);
        if !valid {
            bail!("LNbits: {url:?} is not an http(s) URL");
        }
        if spec.admin_key.trim().is_empty() {
            bail!("LNbits: the admin key is empty");
        }
        Ok(LazyLnbits {
            spec,
            timeout,
            client: OnceLock::new(),
        })
    }

    fn client(&self) -> Result<&LnbitsClient, BackendError> {
        self.client
            .get_or_init(|| {
                let mut builder = LnbitsClient::builder(&self.spec.url)
                    .admin_key(&self.spec.admin_key)
                    .timeout(self.timeout);
                if let Some(key) = &self.spec.invoice_key {
                    builder = builder.invoice_key(key);
                }
                builder.build().map_err(|e| e.to_string())
            })
            .as_ref()
            // Nothing was sent: the client could not even be built.
            .map_err(|e| BackendError::Unreachable {
                backend: Backend::Lnbits,
                source: TransportError::new(std::io::Error::other(e.clone())),
            })
    }
}

#[async_trait::async_trait]
impl Wallet for LazyLnbits {
    fn backend(&self) -> Backend {
        Backend::Lnbits
    }

    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        self.client()?.pay(request).await
    }

    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        self.client()?.lookup_payment(payment_hash).await
    }

    async fn balance_msat(&self) -> Result<u64, BackendError> {
        self.client()?.balance_msat().await
    }

    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        self.client()?.node_info().await
    }
}

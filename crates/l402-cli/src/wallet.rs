//! The paying wallet of `l402 get`: where it comes from (flags, the
//! `L402_LNBITS_*` variables, the phoenixd / LND / CLN variables of
//! [`crate::node`], `get.toml`'s `[wallet]`, the dev wallet `l402 serve`
//! writes), what to say when there is none, and a client built on first
//! use (a run that reuses a stored token never pays, and building the
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
use serde::Deserialize;

use crate::config::EnvVars;
use crate::devwallet;
use crate::node::{EnvFields, KINDS, NodeFields, NodeSpec};

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
    pub config_wallet: Option<&'a WalletConfig>,
    /// The configuration file (for messages and relative paths).
    pub config_file: &'a Path,
    /// The node variables (`L402_PHOENIXD_*`, `L402_LND_*`, `LND_REST_HOST`...).
    pub env: EnvVars,
    /// The data directory.
    pub data_dir: &'a Path,
}

/// `[wallet]` of `get.toml`: `kind = "lnbits"` (`url`, `admin_key`), or
/// `"phoenixd"`, `"lnd"`, `"cln"` with the keys of [`crate::node`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    kind: String,
    admin_key: Option<String>,
    #[serde(flatten)]
    node: NodeFields,
}

impl std::fmt::Debug for WalletConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletConfig")
            .field("kind", &self.kind)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A node wallet from the environment and/or `[wallet]`, if either names one.
fn node_wallet(sources: &Sources<'_>) -> anyhow::Result<Option<NodeSpec>> {
    let from_env: Vec<EnvFields> = KINDS
        .iter()
        .map(|kind| EnvFields::read(kind, |name| sources.env.get(name)))
        .collect();
    let set: Vec<(&str, &EnvFields)> = KINDS
        .iter()
        .zip(&from_env)
        .filter(|(_, e)| e.is_set())
        .map(|(k, e)| (*k, e))
        .collect();
    if set.len() > 1 {
        let names: Vec<&str> = set
            .iter()
            .flat_map(|(_, e)| e.names.iter().map(|(_, n)| *n))
            .collect();
        bail!(
            "variables of several wallets are set ({}): keep one kind, so it is clear which \
             wallet pays",
            names.join(", ")
        );
    }
    let file = sources.config_wallet.filter(|w| w.kind != "lnbits");
    let (kind, env, fields, in_file) = match (set.first(), file) {
        (Some((kind, env)), Some(w)) if w.kind == *kind => (*kind, *env, env.over(&w.node), true),
        (Some((kind, env)), _) => (*kind, *env, env.over(&NodeFields::default()), false),
        (None, Some(w)) => {
            if !KINDS.contains(&w.kind.as_str()) {
                bail!(
                    "{}: wallet.kind: {:?} is not supported (lnbits, phoenixd, lnd, cln, nwc)",
                    sources.config_file.display(),
                    w.kind
                );
            }
            if w.admin_key.is_some() {
                bail!(
                    "{}: wallet.admin_key: is not a setting of the {} backend",
                    sources.config_file.display(),
                    w.kind
                );
            }
            let kind = KINDS
                .iter()
                .find(|k| **k == w.kind)
                .copied()
                .unwrap_or("cln");
            let env = from_env.iter().find(|e| e.is_set()).unwrap_or(&from_env[0]);
            (kind, env, w.node.clone(), true)
        }
        (None, None) => return Ok(None),
    };
    let base_dir = in_file.then(|| sources.config_file.parent()).flatten();
    NodeSpec::resolve(kind, &fields, base_dir)
        .map(Some)
        .map_err(|(key, reason)| {
            let source = env
                .name_of(key)
                .map_or_else(|| sources.config_file.display().to_string(), str::to_owned);
            anyhow!("{source}: wallet.{key}: {reason}")
        })
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
    let node = node_wallet(&sources)?;
    if let (Some(_), Some(node)) = (&spec, &node) {
        bail!(
            "both an LNbits wallet (--lnbits-url / {URL_ENV}) and a {} wallet are configured: \
             keep one, so it is clear which wallet pays",
            node.label()
        );
    }
    if let Some(spec) = spec {
        return Ok(Some((Arc::new(LazyWallet::lnbits(spec, timeout)?), false)));
    }
    if let Some(node) = node {
        return Ok(Some((Arc::new(LazyWallet::node(node)), false)));
    }
    if let Some(w) = sources.config_wallet.filter(|w| w.kind == "lnbits") {
        let file = sources.config_file.display();
        let foreign = w.node.clone();
        if foreign.url.is_none() {
            bail!("{file}: wallet.url: required for the lnbits wallet");
        }
        let Some(admin_key) = w.admin_key.clone() else {
            bail!("{file}: wallet.admin_key: required for the lnbits wallet");
        };
        if foreign
            != (NodeFields {
                url: foreign.url.clone(),
                ..NodeFields::default()
            })
        {
            bail!("{file}: wallet: the lnbits wallet takes only url and admin_key");
        }
        let spec = LnbitsSpec {
            url: foreign.url.unwrap_or_default(),
            admin_key,
            invoice_key: None,
        };
        return Ok(Some((Arc::new(LazyWallet::lnbits(spec, timeout)?), false)));
    }
    match devwallet::read(sources.data_dir)? {
        Some(file) => {
            let spec = LnbitsSpec {
                url: file.url,
                admin_key: file.admin_key,
                invoice_key: Some(file.invoice_key),
            };
            Ok(Some((Arc::new(LazyWallet::lnbits(spec, timeout)?), true)))
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
         - a phoenixd, LND or CLN node or an NWC wallet: L402_PHOENIXD_URL, L402_LND_URL \
         (LND_REST_HOST), L402_CLN_SOCKET / L402_CLN_URL or L402_NWC_CONNECTION \
         (NWC_CONNECTION_STRING) (see l402 get --help): not set\n  \
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

/// Builds a wallet's client.
type Build = Box<dyn Fn() -> Result<Arc<dyn Wallet>, String> + Send + Sync>;

/// A wallet whose client (and HTTPS stack) is built on first use.
pub struct LazyWallet {
    backend: Backend,
    build: Build,
    client: OnceLock<Result<Arc<dyn Wallet>, String>>,
}

impl LazyWallet {
    /// An LNbits wallet: checks the URL and key now; builds the client later.
    ///
    /// # Errors
    /// A URL that is not http(s) with a host, or an empty key.
    pub fn lnbits(spec: LnbitsSpec, timeout: Duration) -> anyhow::Result<Self> {
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
        Ok(LazyWallet {
            backend: Backend::Lnbits,
            build: Box::new(move || {
                let mut builder = LnbitsClient::builder(&spec.url)
                    .admin_key(&spec.admin_key)
                    .timeout(timeout);
                if let Some(key) = &spec.invoice_key {
                    builder = builder.invoice_key(key);
                }
                let client = builder.build().map_err(|e| e.to_string())?;
                Ok(Arc::new(client) as Arc<dyn Wallet>)
            }),
            client: OnceLock::new(),
        })
    }

    /// A phoenixd, LND or CLN node (already checked by [`NodeSpec::resolve`]).
    pub fn node(spec: NodeSpec) -> Self {
        let backend = match spec {
            NodeSpec::Phoenixd { .. } => Backend::Phoenixd,
            NodeSpec::Lnd { .. } => Backend::Lnd,
            NodeSpec::ClnRest { .. } | NodeSpec::ClnSocket { .. } => Backend::Cln,
            NodeSpec::Nwc { .. } => Backend::Nwc,
        };
        LazyWallet {
            backend,
            build: Box::new(move || spec.build().map(|(_, wallet)| wallet)),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&Arc<dyn Wallet>, BackendError> {
        self.client
            .get_or_init(|| (self.build)())
            .as_ref()
            // Nothing was sent: the client could not even be built.
            .map_err(|e| BackendError::Unreachable {
                backend: self.backend,
                source: TransportError::new(std::io::Error::other(e.clone())),
            })
    }
}

#[async_trait::async_trait]
impl Wallet for LazyWallet {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn enforces_max_fee(&self) -> bool {
        // Asked just before paying; a client that cannot be built pays nothing.
        self.client().is_ok_and(|c| c.enforces_max_fee())
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

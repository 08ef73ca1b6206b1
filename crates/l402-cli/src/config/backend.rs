//! `[backend]`: where invoices come from (the dev node, LNbits, or a node
//! configured as in [`crate::node`]), resolved into a [`Backend`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Overrides, err};
use crate::node::{EnvFields, KINDS, NodeFields, NodeSpec};

/// `[backend]`: where invoices come from.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `"dev"` (the embedded dev node, default), `"lnbits"`, `"phoenixd"`,
    /// `"lnd"` or `"cln"`.
    pub kind: Option<String>,
    /// LNbits, phoenixd, LND or clnrest base URL.
    pub url: Option<String>,
    /// LNbits invoice key (receiving only).
    pub invoice_key: Option<String>,
    /// Seconds before a backend call times out.
    pub timeout_secs: Option<u64>,
    /// Seconds a payment may take (phoenixd, LND, CLN).
    pub pay_timeout_secs: Option<u64>,
    /// phoenixd `http-password`.
    pub password: Option<String>,
    /// A file holding the phoenixd password.
    pub password_file: Option<PathBuf>,
    /// LND macaroon, hex.
    pub macaroon_hex: Option<String>,
    /// LND macaroon file (binary, hex-encoded on read).
    pub macaroon_file: Option<PathBuf>,
    /// LND / clnrest certificate to pin.
    pub tls_cert_file: Option<PathBuf>,
    /// CLN `lightning-rpc` socket.
    pub socket: Option<PathBuf>,
    /// clnrest rune.
    pub rune: Option<String>,
    /// NWC connection string.
    pub connection: Option<String>,
    /// A file holding the NWC connection string.
    pub connection_file: Option<PathBuf>,
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendConfig")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl BackendConfig {
    /// The first key set that only a phoenixd / LND / CLN node takes.
    pub(super) fn node_only_key(&self) -> Option<&'static str> {
        [
            ("pay_timeout_secs", self.pay_timeout_secs.is_some()),
            ("password", self.password.is_some()),
            ("password_file", self.password_file.is_some()),
            ("macaroon_hex", self.macaroon_hex.is_some()),
            ("macaroon_file", self.macaroon_file.is_some()),
            ("tls_cert_file", self.tls_cert_file.is_some()),
            ("socket", self.socket.is_some()),
            ("rune", self.rune.is_some()),
            ("connection", self.connection.is_some()),
            ("connection_file", self.connection_file.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
    }

    /// The keys a phoenixd / LND / CLN node takes.
    fn node_fields(&self) -> NodeFields {
        NodeFields {
            url: self.url.clone(),
            password: self.password.clone(),
            password_file: self.password_file.clone(),
            macaroon_hex: self.macaroon_hex.clone(),
            macaroon_file: self.macaroon_file.clone(),
            tls_cert_file: self.tls_cert_file.clone(),
            socket: self.socket.clone(),
            rune: self.rune.clone(),
            connection: self.connection.clone(),
            connection_file: self.connection_file.clone(),
            timeout_secs: self.timeout_secs,
            pay_timeout_secs: self.pay_timeout_secs,
        }
    }
}

/// Which Lightning backend mints the invoices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded dev node.
    Dev,
    /// An LNbits wallet.
    Lnbits {
        /// Base URL.
        url: String,
        /// Invoice key.
        invoice_key: String,
        /// Call timeout in seconds.
        timeout_secs: u64,
    },
    /// A phoenixd, LND or Core Lightning node.
    Node(NodeSpec),
}

impl Backend {
    /// `dev`, `lnbits`, `phoenixd`, `lnd` or `cln`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Dev => "dev",
            Backend::Lnbits { .. } => "lnbits",
            Backend::Node(node) => node.kind(),
        }
    }

    /// The backend's URL (or socket), never a secret; none for the dev node.
    pub fn location(&self) -> Option<String> {
        match self {
            Backend::Dev => None,
            Backend::Lnbits { url, .. } => Some(url.clone()),
            Backend::Node(node) => Some(node.location()),
        }
    }
}

/// `[backend]` with the overrides (`--backend`, `L402_LNBITS_*`, the
/// nodes' environment variables), checked.
pub(super) fn resolve(
    source: &str,
    backend: BackendConfig,
    overrides: &Overrides,
    base_dir: Option<&Path>,
) -> Result<Backend, ConfigError> {
    let kind_src = if overrides.backend.is_some() {
        "--backend / L402_BACKEND"
    } else {
        source
    };
    let kind = overrides
        .backend
        .clone()
        .or(backend.kind.clone())
        .unwrap_or_else(|| "dev".to_owned());
    let not_for = |key: &str| {
        err(
            source,
            &format!("backend.{key}"),
            format!("is not a setting of the {kind} backend"),
        )
    };
    let backend = match kind.as_str() {
        // (A --backend flag may switch away from a file's node: not an error.)
        "dev" | "lnbits" if overrides.backend.is_none() && backend.node_only_key().is_some() => {
            return Err(not_for(backend.node_only_key().unwrap_or_default()));
        }
        "dev" => Backend::Dev,
        "lnbits" => {
            let url = overrides
                .lnbits_url
                .clone()
                .or(backend.url)
                .ok_or_else(|| {
                    err(
                        source,
                        "backend.url",
                        "required for the lnbits backend (or set L402_LNBITS_URL)",
                    )
                })?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(err(
                    source,
                    "backend.url",
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
            let invoice_key = overrides
                .lnbits_invoice_key
                .clone()
                .or(backend.invoice_key)
                .ok_or_else(|| {
                    err(
                        source,
                        "backend.invoice_key",
                        "required for the lnbits backend (or set L402_LNBITS_INVOICE_KEY)",
                    )
                })?;
            let timeout_secs = backend.timeout_secs.unwrap_or(10);
            if timeout_secs == 0 || timeout_secs > 300 {
                return Err(err(
                    source,
                    "backend.timeout_secs",
                    "must be between 1 and 300",
                ));
            }
            Backend::Lnbits {
                url,
                invoice_key,
                timeout_secs,
            }
        }
        node if KINDS.contains(&node) => {
            if backend.invoice_key.is_some() {
                return Err(not_for("invoice_key"));
            }
            let env = EnvFields::read(node, |name| overrides.env.get(name));
            let fields = env.over(&backend.node_fields());
            let spec = NodeSpec::resolve(node, &fields, base_dir)
                .and_then(|spec| spec.check().map(|()| spec))
                .map_err(|(key, reason)| {
                    err(
                        env.name_of(key).unwrap_or(source),
                        &format!("backend.{key}"),
                        reason,
                    )
                })?;
            Backend::Node(spec)
        }
        other => {
            return Err(err(
                kind_src,
                "backend.kind",
                format!(
                    "unknown backend {other:?}; expected \"dev\", \"lnbits\", \"phoenixd\", \"lnd\", \"cln\" or \"nwc\""
                ),
            ));
        }
    };
    Ok(backend)
}

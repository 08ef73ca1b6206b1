//! phoenixd, LND and Core Lightning nodes and Nostr Wallet Connect wallets, configured the same way for
//! `l402 serve` (`[backend]`, receiving) and `l402 get` (`[wallet]`,
//! paying): the keys of a TOML table, the `L402_<NODE>_*` environment
//! variables over them key by key, and Lightning Enable's `LND_REST_HOST`,
//! `LND_MACAROON_HEX`, `LND_TLS_CERT_PATH` for LND.
//!
//! | kind | keys | environment |
//! |---|---|---|
//! | `phoenixd` | `url`, `password` or `password_file` | `L402_PHOENIXD_URL`, `L402_PHOENIXD_PASSWORD`, `L402_PHOENIXD_PASSWORD_FILE` |
//! | `lnd` | `url`, `macaroon_hex` or `macaroon_file` (the binary `.macaroon`), `tls_cert_file` | `L402_LND_URL` (`LND_REST_HOST`), `L402_LND_MACAROON_HEX` (`LND_MACAROON_HEX`), `L402_LND_MACAROON_FILE`, `L402_LND_TLS_CERT_FILE` (`LND_TLS_CERT_PATH`) |
//! | `cln` | `socket` (the node's `lightning-rpc`), or `url` + `rune` + `tls_cert_file` (clnrest) | `L402_CLN_SOCKET`, `L402_CLN_URL`, `L402_CLN_RUNE`, `L402_CLN_TLS_CERT_FILE` |
//! | `nwc` | `connection` (`nostr+walletconnect://…`) or `connection_file` | `L402_NWC_CONNECTION` (`NWC_CONNECTION_STRING`), `L402_NWC_CONNECTION_FILE` |
//!
//! All kinds also take `timeout_secs` (calls, default 10; NWC 30) and
//! `pay_timeout_secs` (a payment, default 60; NWC 120). Secrets (password,
//! macaroon, rune, the NWC connection's secret) are never printed: [`NodeSpec`]'s `Debug` hides them and
//! only [`NodeSpec::kind`] and [`NodeSpec::location`] are shown.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use l402_lightning::nwc::NwcUri;
use l402_lightning::{Receiver, Wallet};
use serde::Deserialize;

mod client;
mod env;
mod resolve;
#[cfg(test)]
mod tests;

pub use env::EnvFields;

/// The node kinds this module configures.
pub const KINDS: [&str; 4] = ["phoenixd", "lnd", "cln", "nwc"];

/// A node's keys as written (a TOML table or the environment).
#[derive(Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeFields {
    /// phoenixd / LND / clnrest base URL.
    pub url: Option<String>,
    /// phoenixd `http-password`.
    pub password: Option<String>,
    /// A file holding the phoenixd password.
    pub password_file: Option<PathBuf>,
    /// LND macaroon, hex.
    pub macaroon_hex: Option<String>,
    /// LND macaroon file (binary).
    pub macaroon_file: Option<PathBuf>,
    /// LND / clnrest TLS certificate to pin (PEM or DER).
    pub tls_cert_file: Option<PathBuf>,
    /// CLN `lightning-rpc` socket.
    pub socket: Option<PathBuf>,
    /// clnrest rune.
    pub rune: Option<String>,
    /// NWC connection string (`nostr+walletconnect://…`, with its secret).
    pub connection: Option<String>,
    /// A file holding the NWC connection string.
    pub connection_file: Option<PathBuf>,
    /// Seconds before a call times out.
    pub timeout_secs: Option<u64>,
    /// Seconds a payment may take.
    pub pay_timeout_secs: Option<u64>,
}

impl fmt::Debug for NodeFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeFields")
            .field("url", &self.url)
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// A secret string whose `Debug` is `".."`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

/// A node, checked and with its files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeSpec {
    /// phoenixd.
    Phoenixd {
        /// Base URL.
        url: String,
        /// `http-password`.
        password: Secret,
        /// Call and payment timeouts.
        timeouts: Timeouts,
    },
    /// LND over REST.
    Lnd {
        /// Base URL.
        url: String,
        /// Macaroon, hex.
        macaroon_hex: Secret,
        /// The certificate to pin (PEM or DER); `None`: the system's roots.
        tls_cert: Option<Vec<u8>>,
        /// Call and payment timeouts.
        timeouts: Timeouts,
    },
    /// Core Lightning over clnrest.
    ClnRest {
        /// Base URL.
        url: String,
        /// Rune.
        rune: Secret,
        /// The certificate to pin; `None`: the system's roots.
        tls_cert: Option<Vec<u8>>,
        /// Call and payment timeouts.
        timeouts: Timeouts,
    },
    /// Core Lightning over its local socket.
    ClnSocket {
        /// The `lightning-rpc` socket.
        path: PathBuf,
        /// Call and payment timeouts.
        timeouts: Timeouts,
    },
    /// A Nostr Wallet Connect wallet (its `Debug` hides the secret).
    Nwc {
        /// The connection (boxed: its keys make it the largest kind).
        uri: Box<NwcUri>,
        /// Call and payment timeouts.
        timeouts: Timeouts,
    },
}

/// Call and payment timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Every call but paying.
    pub call: Duration,
    /// A payment.
    pub pay: Duration,
}

/// A node as a seller's [`Receiver`] and a buyer's [`Wallet`] (one client).
pub type Faces = (Arc<dyn Receiver>, Arc<dyn Wallet>);

/// A bad key: which (without the table's prefix) and why.
pub type KeyError = (&'static str, String);

impl NodeSpec {
    /// `phoenixd`, `lnd` or `cln`.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeSpec::Phoenixd { .. } => "phoenixd",
            NodeSpec::Lnd { .. } => "lnd",
            NodeSpec::ClnRest { .. } | NodeSpec::ClnSocket { .. } => "cln",
            NodeSpec::Nwc { .. } => "nwc",
        }
    }

    /// Where the node is: its URL or socket path (never a secret).
    pub fn location(&self) -> String {
        match self {
            NodeSpec::Phoenixd { url, .. }
            | NodeSpec::Lnd { url, .. }
            | NodeSpec::ClnRest { url, .. } => url.clone(),
            NodeSpec::ClnSocket { path, .. } => path.display().to_string(),
            // The relay: the connection string itself carries the secret.
            NodeSpec::Nwc { uri, .. } => uri
                .relays()
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The name people know it by.
    pub fn label(&self) -> &'static str {
        match self {
            NodeSpec::Phoenixd { .. } => "phoenixd",
            NodeSpec::Lnd { .. } => "LND",
            NodeSpec::ClnRest { .. } => "Core Lightning (clnrest)",
            NodeSpec::ClnSocket { .. } => "Core Lightning (socket)",
            NodeSpec::Nwc { .. } => "Nostr Wallet Connect",
        }
    }
}

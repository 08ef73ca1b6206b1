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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use l402_lightning::cln::ClnClient;
use l402_lightning::lnd::LndClient;
use l402_lightning::nwc::{NwcClient, NwcUri};
use l402_lightning::phoenixd::PhoenixdClient;
use l402_lightning::{Receiver, Wallet};
use serde::Deserialize;

/// The largest password, macaroon or certificate file read (they are a few
/// hundred bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;

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

/// A node's keys from the environment, and which variable gave each key
/// (for error messages).
#[derive(Debug, Default, Clone)]
pub struct EnvFields {
    /// The values.
    pub fields: NodeFields,
    /// `(key, variable)` for each value set.
    pub names: Vec<(&'static str, &'static str)>,
}

impl EnvFields {
    /// Reads `kind`'s variables through `var` (`std::env::var` in the
    /// binary); an empty value is unset. The `L402_*` name wins over
    /// Lightning Enable's.
    pub fn read(kind: &str, var: impl Fn(&str) -> Option<String>) -> EnvFields {
        let mut env = EnvFields::default();
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut text = |key: &'static str, names: &[&'static str]| -> Option<String> {
            names.iter().find_map(|name| {
                let value = var(name)?;
                env.names.push((key, name));
                Some(value)
            })
        };
        // A path from the environment is relative to the working directory,
        // never to a configuration file.
        let path = |p: String| std::path::absolute(&p).unwrap_or_else(|_| PathBuf::from(p));
        let mut f = NodeFields::default();
        match kind {
            "phoenixd" => {
                f.url = text("url", &["L402_PHOENIXD_URL"]);
                f.password = text("password", &["L402_PHOENIXD_PASSWORD"]);
                f.password_file = text("password_file", &["L402_PHOENIXD_PASSWORD_FILE"]).map(path);
            }
            "lnd" => {
                f.url = text("url", &["L402_LND_URL", "LND_REST_HOST"]);
                f.macaroon_hex = text(
                    "macaroon_hex",
                    &["L402_LND_MACAROON_HEX", "LND_MACAROON_HEX"],
                );
                f.macaroon_file = text("macaroon_file", &["L402_LND_MACAROON_FILE"]).map(path);
                f.tls_cert_file = text(
                    "tls_cert_file",
                    &["L402_LND_TLS_CERT_FILE", "LND_TLS_CERT_PATH"],
                )
                .map(path);
            }
            "cln" => {
                f.socket = text("socket", &["L402_CLN_SOCKET"]).map(path);
                f.url = text("url", &["L402_CLN_URL"]);
                f.rune = text("rune", &["L402_CLN_RUNE"]);
                f.tls_cert_file = text("tls_cert_file", &["L402_CLN_TLS_CERT_FILE"]).map(path);
            }
            "nwc" => {
                f.connection = text(
                    "connection",
                    &["L402_NWC_CONNECTION", "NWC_CONNECTION_STRING"],
                );
                f.connection_file =
                    text("connection_file", &["L402_NWC_CONNECTION_FILE"]).map(path);
            }
            _ => {}
        }
        env.fields = f;
        env
    }

    /// Whether any variable was set.
    pub fn is_set(&self) -> bool {
        !self.names.is_empty()
    }

    /// These values over `file`'s, key by key. A secret from the
    /// environment replaces the file's secret in either form (a
    /// `L402_PHOENIXD_PASSWORD` replaces the file's `password_file`).
    pub fn over(&self, file: &NodeFields) -> NodeFields {
        let e = &self.fields;
        let mut f = file.clone();
        if e.password.is_some() || e.password_file.is_some() {
            f.password = e.password.clone();
            f.password_file = e.password_file.clone();
        }
        if e.macaroon_hex.is_some() || e.macaroon_file.is_some() {
            f.macaroon_hex = e.macaroon_hex.clone();
            f.macaroon_file = e.macaroon_file.clone();
        }
        if e.connection.is_some() || e.connection_file.is_some() {
            f.connection = e.connection.clone();
            f.connection_file = e.connection_file.clone();
        }
        if e.socket.is_some() {
            // This machine's node: the file's clnrest settings do not apply.
            f.socket = e.socket.clone();
            f.url = None;
            f.rune = None;
            f.tls_cert_file = None;
        }
        if e.url.is_some() {
            f.url = e.url.clone();
            if e.socket.is_none() {
                f.socket = None;
            }
        }
        f.rune = e.rune.clone().or(f.rune);
        f.tls_cert_file = e.tls_cert_file.clone().or(f.tls_cert_file);
        f
    }

    /// The variable that gave `key`, if one did.
    pub fn name_of(&self, key: &str) -> Option<&'static str> {
        self.names.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
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

fn read_file(key: &'static str, path: &Path, base_dir: Option<&Path>) -> Result<Vec<u8>, KeyError> {
    let path = base_dir.map_or(path.to_path_buf(), |d| d.join(path));
    let fail = |e: std::io::Error| (key, format!("cannot read {}: {e}", path.display()));
    let meta = std::fs::metadata(&path).map_err(fail)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err((
            key,
            format!("{} is larger than {MAX_FILE_BYTES} bytes", path.display()),
        ));
    }
    std::fs::read(&path).map_err(fail)
}

fn check_url(key: &'static str, url: &str) -> Result<String, KeyError> {
    let ok = reqwest::Url::parse(url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false);
    if ok {
        Ok(url.to_owned())
    } else {
        Err((key, format!("{url:?} is not an http(s) URL")))
    }
}

fn cert(fields: &NodeFields, base_dir: Option<&Path>) -> Result<Option<Vec<u8>>, KeyError> {
    let Some(path) = &fields.tls_cert_file else {
        return Ok(None);
    };
    let bytes = read_file("tls_cert_file", path, base_dir)?;
    let pem = bytes
        .windows(27)
        .any(|w| w == b"-----BEGIN CERTIFICATE-----");
    // A DER certificate is an ASN.1 SEQUENCE.
    if !pem && bytes.first() != Some(&0x30) {
        return Err((
            "tls_cert_file",
            format!("{} is not a PEM or DER certificate", path.display()),
        ));
    }
    Ok(Some(bytes))
}

fn required(
    kind: &str,
    key: &'static str,
    value: Option<String>,
    hint: &str,
) -> Result<String, KeyError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| (key, format!("required for the {kind} backend ({hint})")))
}

/// One secret from either its value or its file, not both.
fn secret(
    (key, value): (&'static str, Option<&String>),
    (file_key, file): (&'static str, Option<&PathBuf>),
    base_dir: Option<&Path>,
    decode: fn(Vec<u8>) -> String,
    missing: String,
) -> Result<String, KeyError> {
    match (value, file) {
        (Some(_), Some(_)) => Err((key, format!("set {key} or {file_key}, not both"))),
        (Some(v), None) => Ok(v.trim().to_owned()),
        (None, Some(path)) => Ok(decode(read_file(file_key, path, base_dir)?)),
        (None, None) => Err((key, missing)),
    }
    .and_then(|s| {
        if s.is_empty() {
            Err((key, "is empty".to_owned()))
        } else {
            Ok(s)
        }
    })
}

fn timeouts(fields: &NodeFields) -> Result<Timeouts, KeyError> {
    let call = fields.timeout_secs.unwrap_or(10);
    if !(1..=300).contains(&call) {
        return Err(("timeout_secs", "must be between 1 and 300".to_owned()));
    }
    let pay = fields.pay_timeout_secs.unwrap_or(60);
    if !(1..=3600).contains(&pay) {
        return Err(("pay_timeout_secs", "must be between 1 and 3600".to_owned()));
    }
    Ok(Timeouts {
        call: Duration::from_secs(call),
        pay: Duration::from_secs(pay),
    })
}

/// Keys that `kind` does not take, if set.
fn foreign(kind: &str, f: &NodeFields) -> Option<&'static str> {
    let set = [
        ("password", f.password.is_some()),
        ("password_file", f.password_file.is_some()),
        ("macaroon_hex", f.macaroon_hex.is_some()),
        ("macaroon_file", f.macaroon_file.is_some()),
        ("tls_cert_file", f.tls_cert_file.is_some()),
        ("socket", f.socket.is_some()),
        ("rune", f.rune.is_some()),
        ("connection", f.connection.is_some()),
        ("connection_file", f.connection_file.is_some()),
    ];
    let allowed: &[&str] = match kind {
        "phoenixd" => &["password", "password_file"],
        "lnd" => &["macaroon_hex", "macaroon_file", "tls_cert_file"],
        "nwc" => &["connection", "connection_file"],
        _ => &["tls_cert_file", "socket", "rune"],
    };
    set.iter()
        .find(|(k, is_set)| *is_set && !allowed.contains(k))
        .map(|(k, _)| *k)
}

fn lnd_client(
    url: &str,
    macaroon: &Secret,
    cert: Option<&[u8]>,
    timeouts: &Timeouts,
) -> Result<LndClient, l402_lightning::lnd::LndConfigError> {
    let mut b = LndClient::builder(url, macaroon.0.clone())
        .timeout(timeouts.call)
        .pay_timeout(timeouts.pay);
    if let Some(cert) = cert {
        b = b.tls_cert_pem(cert);
    }
    b.build()
}

fn cln_rest_client(
    url: &str,
    rune: &Secret,
    cert: Option<&[u8]>,
    timeouts: &Timeouts,
) -> Result<ClnClient, l402_lightning::cln::ClnConfigError> {
    let mut b = ClnClient::builder(url, rune.0.clone())
        .timeout(timeouts.call)
        .pay_timeout(timeouts.pay);
    if let Some(cert) = cert {
        b = b.tls_cert_pem(cert);
    }
    b.build()
}

impl NodeSpec {
    /// Checks `fields` for a node of `kind` (one of [`KINDS`]) and reads its
    /// files (relative to `base_dir`). `hint` names where the values may
    /// come from (`"or set L402_PHOENIXD_URL"`-style hints are added).
    ///
    /// # Errors
    /// The first bad key (without the table's prefix) and why.
    pub fn resolve(kind: &str, f: &NodeFields, base_dir: Option<&Path>) -> Result<Self, KeyError> {
        if let Some(key) = foreign(kind, f) {
            return Err((key, format!("is not a setting of the {kind} backend")));
        }
        let timeouts = timeouts(f)?;
        match kind {
            "phoenixd" => {
                let url = required(kind, "url", f.url.clone(), "or set L402_PHOENIXD_URL")?;
                let url = check_url("url", url.trim())?;
                let password = secret(
                    ("password", f.password.as_ref()),
                    ("password_file", f.password_file.as_ref()),
                    base_dir,
                    |b| String::from_utf8_lossy(&b).trim().to_owned(),
                    "required for the phoenixd backend: password or password_file \
                     (or set L402_PHOENIXD_PASSWORD / L402_PHOENIXD_PASSWORD_FILE)"
                        .to_owned(),
                )?;
                Ok(NodeSpec::Phoenixd {
                    url,
                    password: Secret(password),
                    timeouts,
                })
            }
            "lnd" => {
                let url = required(
                    kind,
                    "url",
                    f.url.clone(),
                    "or set L402_LND_URL / LND_REST_HOST",
                )?;
                let url = url.trim();
                // LND_REST_HOST is often host:port.
                let url = if url.contains("://") {
                    url.to_owned()
                } else {
                    format!("https://{url}")
                };
                let url = check_url("url", &url)?;
                let macaroon = secret(
                    ("macaroon_hex", f.macaroon_hex.as_ref()),
                    ("macaroon_file", f.macaroon_file.as_ref()),
                    base_dir,
                    hex::encode,
                    "required for the lnd backend: macaroon_hex or macaroon_file \
                     (or set L402_LND_MACAROON_HEX / LND_MACAROON_HEX / L402_LND_MACAROON_FILE)"
                        .to_owned(),
                )?;
                if hex::decode(&macaroon).is_err() {
                    return Err((
                        "macaroon_hex",
                        "is not hex (xxd -p -c0 admin.macaroon, or give macaroon_file)".to_owned(),
                    ));
                }
                Ok(NodeSpec::Lnd {
                    url,
                    macaroon_hex: Secret(macaroon),
                    tls_cert: cert(f, base_dir)?,
                    timeouts,
                })
            }
            "cln" => match (&f.socket, &f.url) {
                (Some(_), Some(_)) => Err((
                    "socket",
                    "set socket (this machine's node) or url + rune (clnrest), not both".to_owned(),
                )),
                (Some(path), None) => {
                    if f.rune.is_some() || f.tls_cert_file.is_some() {
                        return Err((
                            "socket",
                            "the socket takes no rune or tls_cert_file (those are for clnrest's url)"
                                .to_owned(),
                        ));
                    }
                    if !cfg!(unix) {
                        return Err(("socket", "unix sockets need a unix system".to_owned()));
                    }
                    let path = base_dir.map_or(path.clone(), |d| d.join(path));
                    Ok(NodeSpec::ClnSocket { path, timeouts })
                }
                (None, Some(url)) => {
                    let url = check_url("url", url.trim())?;
                    let rune = required(
                        kind,
                        "rune",
                        f.rune.clone(),
                        "with url; or set L402_CLN_RUNE",
                    )?;
                    Ok(NodeSpec::ClnRest {
                        url,
                        rune: Secret(rune.trim().to_owned()),
                        tls_cert: cert(f, base_dir)?,
                        timeouts,
                    })
                }
                (None, None) => Err((
                    "socket",
                    "required for the cln backend: socket (the node's lightning-rpc), or url + \
                     rune (clnrest) (or set L402_CLN_SOCKET, or L402_CLN_URL + L402_CLN_RUNE)"
                        .to_owned(),
                )),
            },
            "nwc" => {
                let connection = secret(
                    ("connection", f.connection.as_ref()),
                    ("connection_file", f.connection_file.as_ref()),
                    base_dir,
                    |b| String::from_utf8_lossy(&b).trim().to_owned(),
                    "required for the nwc backend: connection or connection_file \
                     (or set L402_NWC_CONNECTION / NWC_CONNECTION_STRING / L402_NWC_CONNECTION_FILE)"
                        .to_owned(),
                )?;
                // The error names what is wrong, never the secret.
                let uri = connection
                    .parse::<NwcUri>()
                    .map_err(|e| ("connection", e.to_string()))?;
                // A relay is slower than a node's HTTP API.
                let timeouts = Timeouts {
                    call: f
                        .timeout_secs
                        .map_or(Duration::from_secs(30), |_| timeouts.call),
                    pay: f
                        .pay_timeout_secs
                        .map_or(Duration::from_secs(120), |_| timeouts.pay),
                };
                Ok(NodeSpec::Nwc {
                    uri: Box::new(uri),
                    timeouts,
                })
            }
            other => Err(("kind", format!("unknown node kind {other:?}"))),
        }
    }

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

    /// Builds the client once to check what only the client can (a PEM
    /// certificate that does not decode, a rune that is not a header value),
    /// naming the key. `serve` checks at start; `get` builds only to pay.
    ///
    /// # Errors
    /// The key and the client's reason.
    pub fn check(&self) -> Result<(), KeyError> {
        use l402_lightning::cln::ClnConfigError;
        use l402_lightning::lnd::LndConfigError;
        use l402_lightning::phoenixd::PhoenixdConfigError;
        let with_cert = |cert: &Option<Vec<u8>>| {
            if cert.is_some() {
                "tls_cert_file"
            } else {
                "url"
            }
        };
        let key = match self {
            NodeSpec::Phoenixd {
                url,
                password,
                timeouts,
            } => match PhoenixdClient::builder(url.clone(), password.0.clone())
                .timeout(timeouts.call)
                .build()
            {
                Ok(_) => return Ok(()),
                Err(e @ PhoenixdConfigError::NoPassword) => ("password", e.to_string()),
                Err(e) => ("url", e.to_string()),
            },
            NodeSpec::Lnd {
                url,
                macaroon_hex,
                tls_cert,
                timeouts,
            } => match lnd_client(url, macaroon_hex, tls_cert.as_deref(), timeouts) {
                Ok(_) => return Ok(()),
                Err(e @ LndConfigError::BadMacaroon) => ("macaroon_hex", e.to_string()),
                Err(e @ LndConfigError::InvalidUrl(_)) => ("url", e.to_string()),
                Err(e) => (with_cert(tls_cert), e.to_string()),
            },
            NodeSpec::ClnRest {
                url,
                rune,
                tls_cert,
                timeouts,
            } => match cln_rest_client(url, rune, tls_cert.as_deref(), timeouts) {
                Ok(_) => return Ok(()),
                Err(e @ ClnConfigError::BadRune) => ("rune", e.to_string()),
                Err(e @ ClnConfigError::InvalidUrl(_)) => ("url", e.to_string()),
                Err(e) => (with_cert(tls_cert), e.to_string()),
            },
            NodeSpec::ClnSocket { .. } | NodeSpec::Nwc { .. } => return Ok(()),
        };
        Err(key)
    }

    /// Builds the client, as both faces.
    ///
    /// # Errors
    /// The client's configuration error, as text (no secret in it).
    pub fn build(&self) -> Result<Faces, String> {
        fn both<T: Receiver + Wallet + 'static>(t: T) -> Faces {
            let t = Arc::new(t);
            (t.clone(), t)
        }
        match self {
            NodeSpec::Phoenixd {
                url,
                password,
                timeouts,
            } => PhoenixdClient::builder(url.clone(), password.0.clone())
                .timeout(timeouts.call)
                .pay_timeout(timeouts.pay)
                .build()
                .map(both)
                .map_err(|e| e.to_string()),
            NodeSpec::Lnd {
                url,
                macaroon_hex,
                tls_cert,
                timeouts,
            } => lnd_client(url, macaroon_hex, tls_cert.as_deref(), timeouts)
                .map(both)
                .map_err(|e| e.to_string()),
            NodeSpec::ClnRest {
                url,
                rune,
                tls_cert,
                timeouts,
            } => cln_rest_client(url, rune, tls_cert.as_deref(), timeouts)
                .map(both)
                .map_err(|e| e.to_string()),
            #[cfg(unix)]
            NodeSpec::ClnSocket { path, timeouts } => Ok(both(
                ClnClient::socket(path.clone())
                    .timeout(timeouts.call)
                    .pay_timeout(timeouts.pay)
                    .build(),
            )),
            #[cfg(not(unix))]
            NodeSpec::ClnSocket { .. } => Err("unix sockets need a unix system".to_owned()),
            NodeSpec::Nwc { uri, timeouts } => Ok(both(
                NwcClient::builder((**uri).clone())
                    .timeout(timeouts.call)
                    .pay_timeout(timeouts.pay)
                    .build(),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn lightning_enable_names_work_and_l402_names_win() {
        let e = EnvFields::read(
            "lnd",
            env(&[
                ("LND_REST_HOST", "127.0.0.1:8080"),
                ("LND_MACAROON_HEX", "0201"),
            ]),
        );
        assert_eq!(e.name_of("url"), Some("LND_REST_HOST"));
        let spec = NodeSpec::resolve("lnd", &e.over(&NodeFields::default()), None).unwrap();
        assert_eq!(spec.location(), "https://127.0.0.1:8080");
        assert!(matches!(&spec, NodeSpec::Lnd { macaroon_hex, .. } if macaroon_hex.0 == "0201"));
        let e = EnvFields::read(
            "lnd",
            env(&[
                ("LND_REST_HOST", "https://le:8080"),
                ("L402_LND_URL", "https://ours:8080"),
                ("LND_MACAROON_HEX", "aa"),
                ("L402_LND_MACAROON_HEX", "bb"),
            ]),
        );
        assert_eq!(e.fields.url.as_deref(), Some("https://ours:8080"));
        assert_eq!(e.fields.macaroon_hex.as_deref(), Some("bb"));
        assert_eq!(e.name_of("macaroon_hex"), Some("L402_LND_MACAROON_HEX"));
        // Empty values are unset; other kinds' variables are not read.
        let e = EnvFields::read(
            "lnd",
            env(&[("L402_LND_URL", " "), ("L402_PHOENIXD_URL", "x")]),
        );
        assert!(!e.is_set());
    }

    #[test]
    fn the_environment_wins_key_by_key() {
        let file = NodeFields {
            url: Some("http://file:9740".into()),
            password_file: Some("/nonexistent".into()),
            timeout_secs: Some(5),
            ..NodeFields::default()
        };
        let e = EnvFields::read("phoenixd", env(&[("L402_PHOENIXD_PASSWORD", "pw")]));
        let merged = e.over(&file);
        // The env password replaces the file's password_file (not "both set").
        let spec = NodeSpec::resolve("phoenixd", &merged, None).unwrap();
        assert_eq!(spec.location(), "http://file:9740");
        assert!(
            matches!(&spec, NodeSpec::Phoenixd { password, timeouts, .. }
            if password.0 == "pw" && timeouts.call == Duration::from_secs(5))
        );
        assert!(!format!("{spec:?}").contains("pw\""));
        // An env socket replaces the file's clnrest url (and the reverse).
        let file = NodeFields {
            url: Some("https://rest:3010".into()),
            rune: Some("r".into()),
            ..NodeFields::default()
        };
        let e = EnvFields::read("cln", env(&[("L402_CLN_SOCKET", "/run/cln/lightning-rpc")]));
        let spec = NodeSpec::resolve("cln", &e.over(&file), None).unwrap();
        assert_eq!(spec.location(), "/run/cln/lightning-rpc");
        assert!(matches!(spec, NodeSpec::ClnSocket { .. }));
    }

    #[test]
    fn bad_values_name_their_key() {
        let f = |text: &str| toml::from_str::<NodeFields>(text).unwrap();
        let cases = [
            ("phoenixd", "", "url"),
            ("phoenixd", "url = \"ftp://x\"\npassword = \"p\"", "url"),
            ("phoenixd", "url = \"http://x\"", "password"),
            (
                "phoenixd",
                "url = \"http://x\"\npassword = \"p\"\npassword_file = \"f\"",
                "password",
            ),
            (
                "phoenixd",
                "url = \"http://x\"\npassword = \"p\"\nrune = \"r\"",
                "rune",
            ),
            (
                "phoenixd",
                "url = \"http://x\"\npassword = \"p\"\ntimeout_secs = 0",
                "timeout_secs",
            ),
            (
                "lnd",
                "url = \"https://x\"\nmacaroon_hex = \"zz\"",
                "macaroon_hex",
            ),
            (
                "lnd",
                "url = \"https://x\"\nmacaroon_file = \"/nonexistent\"",
                "macaroon_file",
            ),
            (
                "lnd",
                "url = \"https://x\"\nmacaroon_hex = \"00\"\ntls_cert_file = \"/nonexistent\"",
                "tls_cert_file",
            ),
            ("cln", "", "socket"),
            ("cln", "url = \"https://x\"", "rune"),
            (
                "cln",
                "url = \"https://x\"\nsocket = \"/s\"\nrune = \"r\"",
                "socket",
            ),
        ];
        for (kind, text, key) in cases {
            assert_eq!(
                NodeSpec::resolve(kind, &f(text), None).unwrap_err().0,
                key,
                "{kind}: {text}"
            );
        }
    }

    #[test]
    fn nwc_from_lightning_enables_variable_with_relay_timeouts_and_no_secret_shown() {
        let secret = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";
        let uri = format!(
            "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4\
             ?relay=wss%3A%2F%2Frelay.example.com&secret={secret}"
        );
        let e = EnvFields::read("nwc", env(&[("NWC_CONNECTION_STRING", &uri)]));
        assert_eq!(e.name_of("connection"), Some("NWC_CONNECTION_STRING"));
        let spec = NodeSpec::resolve("nwc", &e.over(&NodeFields::default()), None).unwrap();
        assert_eq!(spec.kind(), "nwc");
        assert_eq!(spec.location(), "wss://relay.example.com/");
        assert!(matches!(&spec, NodeSpec::Nwc { timeouts, .. }
            if timeouts.call == Duration::from_secs(30) && timeouts.pay == Duration::from_secs(120)));
        assert!(!format!("{spec:?}").contains(secret));
        assert!(spec.build().is_ok());
        // L402_NWC_CONNECTION wins; a file's connection is replaced.
        let e = EnvFields::read(
            "nwc",
            env(&[
                ("NWC_CONNECTION_STRING", "x"),
                ("L402_NWC_CONNECTION", &uri),
            ]),
        );
        let file = NodeFields {
            connection_file: Some("/nonexistent".into()),
            timeout_secs: Some(5),
            ..NodeFields::default()
        };
        let spec = NodeSpec::resolve("nwc", &e.over(&file), None).unwrap();
        assert!(
            matches!(&spec, NodeSpec::Nwc { timeouts, .. } if timeouts.call == Duration::from_secs(5))
        );
        let bad = NodeFields {
            connection: Some(format!("nostr+walletconnect://zz?secret={secret}")),
            ..NodeFields::default()
        };
        let (key, reason) = NodeSpec::resolve("nwc", &bad, None).unwrap_err();
        assert_eq!(key, "connection");
        assert!(!reason.contains(secret));
    }

    #[test]
    fn a_macaroon_file_is_hex_encoded_on_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin.macaroon"), [0x02, 0x01, 0xff]).unwrap();
        let f = NodeFields {
            url: Some("https://127.0.0.1:8080".into()),
            macaroon_file: Some("admin.macaroon".into()),
            ..NodeFields::default()
        };
        let spec = NodeSpec::resolve("lnd", &f, Some(dir.path())).unwrap();
        assert!(matches!(&spec, NodeSpec::Lnd { macaroon_hex, .. } if macaroon_hex.0 == "0201ff"));
        assert!(!format!("{spec:?}").contains("0201ff"));
    }
}

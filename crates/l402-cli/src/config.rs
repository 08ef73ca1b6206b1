//! The configuration of `l402 serve` (and the `[store]` that `l402 merchant`
//! reads): a TOML file, then environment variables, then flags. A bad
//! configuration names the file, the key and the reason, and the server does
//! not start.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::remote::{Remote, RemoteConfig, RemoteOverrides};
use crate::node::{EnvFields, KINDS, NodeFields, NodeSpec};
use crate::serve::DEMO_PATH;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8402";

/// The configuration file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `listen = "127.0.0.1:8402"`
    pub listen: Option<String>,
    /// `[backend]`
    #[serde(default)]
    pub backend: BackendConfig,
    /// `[tokens]`
    #[serde(default)]
    pub tokens: TokensConfig,
    /// `[demo]`
    #[serde(default)]
    pub demo: DemoConfig,
    /// `[[routes]]`
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// `[store]`
    #[serde(default)]
    pub store: StoreConfig,
    /// `[producer]`
    #[serde(default)]
    pub producer: ProducerConfig,
    /// `[remote]`: sell through a remote producer API instead of a backend.
    #[serde(default)]
    pub remote: RemoteConfig,
}

/// `[store]`: where merchants, keys, challenges and payments are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user@host:port/db`; default: SQLite in the data directory.
    pub url: Option<String>,
    /// The PostgreSQL schema (default `public`).
    pub schema: Option<String>,
    /// The most database connections.
    pub max_connections: Option<u32>,
}

/// `[producer]`: the producer API (`/api/l402/...`, `/api/invoice`, `/api/verify`, `/api/admin/...`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerConfig {
    /// Serve it (default true).
    pub enabled: Option<bool>,
    /// Requests a minute per client address on `POST /api/invoice` (default 20; 0: no limit).
    pub rate_limit_per_minute: Option<u32>,
    /// The highest price a challenge may ask (default 100000000).
    pub max_price_sats: Option<u64>,
    /// The proxies in front of the server (IP addresses or CIDR blocks): a
    /// list, or one comma-separated string. `X-Forwarded-For` is read only
    /// from them (the right-most hop that is not one). Default: none.
    pub trusted_proxies: Option<ProxyList>,
    /// Deprecated: `true` trusts proxies on this host (`127.0.0.0/8`, `::1`);
    /// use `trusted_proxies`.
    pub trust_forwarded_for: Option<bool>,
    /// The server's public base URL (`https://pay.example.com`): LNURL-auth
    /// callbacks are built on it. Default: the request's `Host` over http.
    pub public_url: Option<String>,
}

/// `trusted_proxies`: `["10.0.0.0/8", "::1"]` or `"10.0.0.0/8, ::1"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ProxyList {
    /// A TOML array of strings.
    List(Vec<String>),
    /// One string, comma-separated (as the environment variable).
    Text(String),
}

impl ProxyList {
    fn entries(&self) -> Vec<String> {
        match self {
            ProxyList::List(list) => list.clone(),
            ProxyList::Text(text) => split_proxies(text),
        }
    }
}

/// A comma-separated list; an empty or blank string is no proxies.
fn split_proxies(text: &str) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    text.split(',').map(str::to_owned).collect()
}

/// What the deprecated `trust_forwarded_for = true` means: proxies on this host.
pub const LOOPBACK_PROXIES: &[&str] = &["127.0.0.0/8", "::1"];

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// `<data dir>/store.sqlite`.
    Sqlite,
    /// A PostgreSQL database.
    Postgres {
        /// The URL.
        url: String,
        /// The schema, if not `public`.
        schema: Option<String>,
    },
}

/// The store, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// Where.
    pub target: StoreTarget,
    /// The most connections.
    pub max_connections: u32,
}

/// The producer API, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    /// Serve it.
    pub enabled: bool,
    /// Per-address limit on `POST /api/invoice`.
    pub rate_limit_per_minute: u32,
    /// The highest price.
    pub max_price_sats: u64,
    /// The trusted proxies (IP addresses or CIDR blocks, checked).
    pub trusted_proxies: Vec<String>,
    /// The public base URL, checked (`http(s)://host[:port]`, no trailing `/`).
    pub public_url: Option<String>,
}

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
    fn node_only_key(&self) -> Option<&'static str> {
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

/// `[tokens]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// How long a paid token stays valid.
    pub lifetime_secs: Option<u64>,
    /// How long an invoice stays payable.
    pub invoice_expiry_secs: Option<u64>,
}

/// `[demo]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Serve the demo endpoint (default true).
    pub enabled: Option<bool>,
}

/// `[[routes]]`: a path that serves fixed content after payment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The path, starting with `/`.
    pub path: String,
    /// The price in sats.
    pub price_sats: i64,
    /// The invoice description.
    pub description: Option<String>,
    /// The content served after payment (or `file`).
    pub body: Option<String>,
    /// A file whose content is served after payment (relative to the config file).
    pub file: Option<PathBuf>,
    /// The content type (default `text/plain; charset=utf-8`).
    pub content_type: Option<String>,
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

/// A paid route, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The path.
    pub path: String,
    /// The price in sats.
    pub price_sats: u64,
    /// The invoice description.
    pub description: Option<String>,
    /// The content.
    pub body: Vec<u8>,
    /// The content type.
    pub content_type: String,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The backend.
    pub backend: Backend,
    /// Token lifetime in seconds.
    pub token_lifetime_secs: u64,
    /// Invoice expiry in seconds.
    pub invoice_expiry_secs: u64,
    /// Serve the demo endpoint.
    pub demo: bool,
    /// Paid routes.
    pub routes: Vec<Route>,
    /// The store.
    pub store: Store,
    /// The producer API.
    pub producer: Producer,
    /// The remote producer the paid routes are sold through, if any.
    pub remote: Option<Remote>,
    /// Notes for the operator (deprecated keys), printed at start.
    pub warnings: Vec<String>,
}

/// A configuration error: where, which key, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file or environment variable the bad value came from.
    pub source: String,
    /// The key.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.source, self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Values from flags and the environment, which override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen` / `L402_LISTEN`
    pub listen: Option<String>,
    /// `--backend` / `L402_BACKEND`
    pub backend: Option<String>,
    /// `--lnbits-url` / `L402_LNBITS_URL`
    pub lnbits_url: Option<String>,
    /// `--lnbits-invoice-key` / `L402_LNBITS_INVOICE_KEY`
    pub lnbits_invoice_key: Option<String>,
    /// `--no-demo` / `L402_DEMO=0`
    pub demo: Option<bool>,
    /// `--database-url` / `L402_DATABASE_URL`
    pub database_url: Option<String>,
    /// `--database-schema` / `L402_DATABASE_SCHEMA`
    pub database_schema: Option<String>,
    /// `--trusted-proxies` / `L402_TRUSTED_PROXIES` (comma-separated)
    pub trusted_proxies: Option<String>,
    /// `--remote-url` / `L402_REMOTE_URL`, `L402_REMOTE_API_KEY`
    pub remote: RemoteOverrides,
    /// The node variables (`L402_PHOENIXD_*`, `L402_LND_*`, `LND_REST_HOST`,
    /// `L402_CLN_*`...), read by [`EnvVars::from_process`].
    pub env: EnvVars,
}

/// A snapshot of environment variables; `Debug` shows names only.
#[derive(Default, Clone)]
pub struct EnvVars(pub Vec<(String, String)>);

impl EnvVars {
    /// This process's variables that configure a node.
    pub fn from_process() -> EnvVars {
        EnvVars(
            std::env::vars()
                .filter(|(k, _)| {
                    [
                        "L402_PHOENIXD_",
                        "L402_LND_",
                        "L402_CLN_",
                        "LND_",
                        "L402_NWC_",
                    ]
                    .iter()
                    .any(|p| k.starts_with(p))
                        || k == "NWC_CONNECTION_STRING"
                })
                .collect(),
        )
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// The longest paid route path.
const MAX_ROUTE_PATH: usize = 512;

/// Why a paid route cannot be served at `path`, if it cannot: it must be a
/// plain absolute path (letters, digits and `-._~!$&'()+,;=@` between single
/// slashes; no `.`/`..` segments, no patterns, queries or escapes), and not
/// one the server itself answers (`/`, the dev node under `/dev`, the producer
/// API, the demo endpoint while it is on).
fn check_route_path(path: &str, demo: bool) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("{path:?} must start with /"));
    };
    if path.len() > MAX_ROUTE_PATH {
        return Err(format!("is longer than {MAX_ROUTE_PATH} bytes"));
    }
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/-._~!$&'()+,;=@".contains(*c)))
    {
        let hint = match c {
            ':' | '*' | '{' | '}' => " (paid routes are plain paths: no parameters or wildcards)",
            '?' | '#' => " (a route is a path, without a query or fragment)",
            '%' => " (write the path unescaped)",
            _ => "",
        };
        return Err(format!(
            "{path:?} contains {c:?}: use letters, digits and -._~!$&'()+,;=@ between slashes{hint}"
        ));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && i != last {
            return Err(format!("{path:?} has an empty segment (//)"));
        }
        if *segment == "." || *segment == ".." {
            return Err(format!("{path:?} has a . or .. segment"));
        }
    }
    if path == "/" {
        return Err("\"/\" is reserved: pick a path like /api/report".to_owned());
    }
    if path == "/dev" || path.starts_with("/dev/") {
        return Err(format!(
            "{path:?} is reserved: the dev node's wallet API is served under /dev"
        ));
    }
    // The producer API's namespaces, from its own route table.
    if let Some(p) = l402_producer::reserved_prefixes()
        .iter()
        .find(|p| path == **p || path.strip_prefix(**p).is_some_and(|r| r.starts_with('/')))
    {
        return Err(format!("{path:?} is reserved: the producer API serves {p}"));
    }
    if demo && path == DEMO_PATH {
        return Err(format!(
            "{path:?} is the demo endpoint's path: pick another, or turn the demo off \
             ([demo] enabled = false, or --no-demo)"
        ));
    }
    Ok(())
}

fn err(source: &str, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        source: source.to_owned(),
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Reads the file (if any), applies the overrides and validates everything.
///
/// # Errors
/// The first [`ConfigError`].
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let (source, parsed) = match file {
        Some(path) => {
            let source = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| err(&source, "(file)", format!("cannot read it: {e}")))?;
            let parsed: FileConfig = toml::from_str(&text).map_err(|e| {
                let key = e
                    .span()
                    .and_then(|span| text.get(span))
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty() && s.len() < 80)
                    .unwrap_or_else(|| "(syntax)".to_owned());
                err(&source, &key, e.message().to_owned())
            })?;
            (source, parsed)
        }
        None => ("defaults".to_owned(), FileConfig::default()),
    };
    resolve(&source, parsed, overrides, file.and_then(Path::parent))
}

fn resolve(
    source: &str,
    file: FileConfig,
    overrides: &Overrides,
    base_dir: Option<&Path>,
) -> Result<Config, ConfigError> {
    let (listen_src, listen) = match &overrides.listen {
        Some(l) => ("--listen / L402_LISTEN", l.clone()),
        None => (
            source,
            file.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
        ),
    };
    let listen: SocketAddr = listen.parse().map_err(|_| {
        err(
            listen_src,
            "listen",
            format!("{listen:?} is not an address like 127.0.0.1:8402"),
        )
    })?;

    let remote = remote::resolve(source, file.remote, &overrides.remote, base_dir)?;
    remote::check_alone(
        source,
        remote.as_ref(),
        &file.backend,
        overrides,
        &file.producer,
    )?;
    let kind_src = if overrides.backend.is_some() {
        "--backend / L402_BACKEND"
    } else {
        source
    };
    let kind = overrides
        .backend
        .clone()
        .or(file.backend.kind.clone())
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
        "dev" | "lnbits"
            if overrides.backend.is_none() && file.backend.node_only_key().is_some() =>
        {
            return Err(not_for(file.backend.node_only_key().unwrap_or_default()));
        }
        "dev" => Backend::Dev,
        "lnbits" => {
            let url = overrides
                .lnbits_url
                .clone()
                .or(file.backend.url)
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
                .or(file.backend.invoice_key)
                .ok_or_else(|| {
                    err(
                        source,
                        "backend.invoice_key",
                        "required for the lnbits backend (or set L402_LNBITS_INVOICE_KEY)",
                    )
                })?;
            let timeout_secs = file.backend.timeout_secs.unwrap_or(10);
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
            if file.backend.invoice_key.is_some() {
                return Err(not_for("invoice_key"));
            }
            let env = EnvFields::read(node, |name| overrides.env.get(name));
            let fields = env.over(&file.backend.node_fields());
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

    let token_lifetime_secs = file.tokens.lifetime_secs.unwrap_or(3600);
    if !(1..=365 * 86_400).contains(&token_lifetime_secs) {
        return Err(err(
            source,
            "tokens.lifetime_secs",
            "must be between 1 and 31536000",
        ));
    }
    let invoice_expiry_secs = file.tokens.invoice_expiry_secs.unwrap_or(600);
    if !(10..=7 * 86_400).contains(&invoice_expiry_secs) {
        return Err(err(
            source,
            "tokens.invoice_expiry_secs",
            "must be between 10 and 604800",
        ));
    }

    let demo = overrides.demo.or(file.demo.enabled).unwrap_or(true);
    let mut routes = Vec::with_capacity(file.routes.len());
    for (i, route) in file.routes.into_iter().enumerate() {
        let key = |k: &str| format!("routes[{i}].{k}");
        check_route_path(&route.path, demo).map_err(|reason| err(source, &key("path"), reason))?;
        if routes.iter().any(|r: &Route| r.path == route.path) {
            return Err(err(
                source,
                &key("path"),
                format!("{:?} is configured twice", route.path),
            ));
        }
        let price_sats = u64::try_from(route.price_sats)
            .ok()
            .filter(|p| (1..=21_000_000 * 100_000_000).contains(p))
            .ok_or_else(|| {
                err(
                    source,
                    &key("price_sats"),
                    format!(
                        "{} is not a price: it must be at least 1 sat",
                        route.price_sats
                    ),
                )
            })?;
        let body = match (route.body, route.file) {
            (Some(body), None) => body.into_bytes(),
            (None, Some(file)) => {
                let path = base_dir.map_or(file.clone(), |d| d.join(&file));
                std::fs::read(&path).map_err(|e| {
                    err(
                        source,
                        &key("file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?
            }
            (Some(_), Some(_)) => {
                return Err(err(source, &key("body"), "set body or file, not both"));
            }
            (None, None) => {
                return Err(err(
                    source,
                    &key("body"),
                    "set body or file: what the route serves after payment",
                ));
            }
        };
        routes.push(Route {
            path: route.path,
            price_sats,
            description: route.description,
            body,
            content_type: route
                .content_type
                .unwrap_or_else(|| "text/plain; charset=utf-8".to_owned()),
        });
    }

    let url_src = if overrides.database_url.is_some() {
        "--database-url / L402_DATABASE_URL"
    } else {
        source
    };
    let schema_src = if overrides.database_schema.is_some() {
        "--database-schema / L402_DATABASE_SCHEMA"
    } else {
        source
    };
    let url = overrides
        .database_url
        .clone()
        .filter(|u| !u.is_empty())
        .or(file.store.url);
    let schema = overrides
        .database_schema
        .clone()
        .filter(|s| !s.is_empty())
        .or(file.store.schema);
    if let Some(schema) = &schema {
        let ok = schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(err(
                schema_src,
                "store.schema",
                format!("{schema:?} must be lower-case letters, digits and _ (at most 63)"),
            ));
        }
    }
    let target = match url {
        None => {
            if schema.is_some() {
                return Err(err(
                    schema_src,
                    "store.schema",
                    "a schema needs a PostgreSQL store.url",
                ));
            }
            StoreTarget::Sqlite
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            StoreTarget::Postgres { url, schema }
        }
        Some(_) => {
            return Err(err(
                url_src,
                "store.url",
                "must be a PostgreSQL URL (postgres://user@host:5432/db); leave it out for SQLite in the data directory",
            ));
        }
    };
    let max_connections = file.store.max_connections.unwrap_or(16);
    if !(1..=1000).contains(&max_connections) {
        return Err(err(
            source,
            "store.max_connections",
            "must be between 1 and 1000",
        ));
    }
    let max_price_sats = file.producer.max_price_sats.unwrap_or(100_000_000);
    if !(1..=2_100_000_000_000_000).contains(&max_price_sats) {
        return Err(err(
            source,
            "producer.max_price_sats",
            "must be between 1 and 2100000000000000",
        ));
    }

    let public_url = match file.producer.public_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(public_url(text).ok_or_else(|| {
            err(
                source,
                "producer.public_url",
                "must be an http:// or https:// URL with a host and no query (https://pay.example.com)",
            )
        })?),
    };

    let mut warnings = Vec::new();
    let (proxies_src, proxies) = match (
        &overrides.trusted_proxies,
        &file.producer.trusted_proxies,
        file.producer.trust_forwarded_for,
    ) {
        (Some(text), _, _) => (
            "--trusted-proxies / L402_TRUSTED_PROXIES",
            split_proxies(text),
        ),
        (None, Some(_), Some(true)) => {
            return Err(err(
                source,
                "producer.trust_forwarded_for",
                "is deprecated and replaced by producer.trusted_proxies: keep only trusted_proxies \
                 (add \"127.0.0.1\", \"::1\" to it for a proxy on this host)",
            ));
        }
        (None, Some(list), _) => (source, list.entries()),
        (None, None, Some(true)) => {
            warnings.push(format!(
                "{source}: producer.trust_forwarded_for is deprecated: it trusts proxies on this \
                 host only; write producer.trusted_proxies = [\"127.0.0.0/8\", \"::1\"] instead \
                 (or the addresses of your proxies)"
            ));
            (
                source,
                LOOPBACK_PROXIES.iter().map(|p| (*p).to_owned()).collect(),
            )
        }
        (None, None, _) => (source, Vec::new()),
    };
    let mut trusted_proxies = Vec::with_capacity(proxies.len());
    for proxy in proxies {
        let proxy = proxy.trim();
        if proxy.is_empty() {
            return Err(err(
                proxies_src,
                "producer.trusted_proxies",
                "has an empty entry: list IP addresses or CIDR blocks (10.0.0.0/8)",
            ));
        }
        if let Err(e) = l402_producer::check_trusted_proxy(proxy) {
            return Err(err(proxies_src, "producer.trusted_proxies", e.to_string()));
        }
        trusted_proxies.push(proxy.to_owned());
    }

    Ok(Config {
        warnings,
        listen,
        backend,
        token_lifetime_secs,
        invoice_expiry_secs,
        demo,
        routes,
        store: Store {
            target,
            max_connections,
        },
        producer: Producer {
            enabled: file.producer.enabled.unwrap_or(remote.is_none()),
            rate_limit_per_minute: file.producer.rate_limit_per_minute.unwrap_or(20),
            max_price_sats,
            trusted_proxies,
            public_url,
        },
        remote,
    })
}

/// `text` as a public base URL without a trailing `/`, if it is one.
fn public_url(text: &str) -> Option<String> {
    let url = reqwest::Url::parse(text).ok()?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    ok.then(|| text.trim_end_matches('/').to_owned())
}

mod remote;
#[cfg(test)]
mod tests;

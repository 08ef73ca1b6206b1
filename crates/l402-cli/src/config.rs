//! The configuration of `l402 serve` (and the `[store]` that `l402 merchant`
//! reads): a TOML file, then environment variables, then flags. A bad
//! configuration names the file, the key and the reason, and the server does
//! not start.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::mcp::{Mcp, McpConfig};
pub use self::metrics::{Metrics, MetricsConfig};
pub use self::platform::{Passes, PassesFileConfig, Splits, SplitsFileConfig};
pub use self::producer::{Producer, ProducerConfig};
pub use self::remote::{Remote, RemoteConfig, RemoteOverrides};
pub(crate) use self::services::resolve_list as resolve_services;
pub use self::services::{ProxyFileConfig, ServiceConfig, ServiceSpec};
pub use self::store::{Store, StoreConfig, StoreTarget};
pub use self::telemetry::{Telemetry, TelemetryConfig};
pub use self::tls::{Tls, TlsConfig};
pub use self::webhooks::{DirectoryFileConfig, Webhooks, WebhooksConfig};
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
    /// `[webhooks]`: webhooks out and in.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// `[directory]`: the API directory.
    #[serde(default)]
    pub directory: DirectoryFileConfig,
    /// `[mcp]`: the MCP server at `/mcp`.
    #[serde(default)]
    pub mcp: McpConfig,
    /// `[[services]]`: upstreams proxied and sold.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// `[proxy]`: rules for services added at runtime.
    #[serde(default)]
    pub proxy: ProxyFileConfig,
    /// `[metrics]`: Prometheus metrics at `/metrics`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[tls]`: listen with TLS (HTTP/1.1 and HTTP/2).
    #[serde(default)]
    pub tls: TlsConfig,
    /// `[telemetry]`: OpenTelemetry spans over OTLP.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// `[splits]`: owners' shares paid to their Lightning Addresses.
    #[serde(default)]
    pub splits: SplitsFileConfig,
    /// `[passes]`: time-based access.
    #[serde(default)]
    pub passes: PassesFileConfig,
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
    /// Where the BTC price demo reads the price (default: a fixed demo price).
    pub price_url: Option<String>,
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
    /// Webhooks out and in, and the directory.
    pub webhooks: Webhooks,
    /// The MCP server at `/mcp`.
    pub mcp: Mcp,
    /// The proxied services, in matching order.
    pub services: Vec<ServiceSpec>,
    /// `[proxy] allow_private_upstreams`: merchants' proxies may target
    /// private and loopback addresses.
    pub allow_private_upstreams: bool,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// TLS on the main listener, when set.
    pub tls: Option<Tls>,
    /// OpenTelemetry spans.
    pub telemetry: Telemetry,
    /// Splits.
    pub splits: Splits,
    /// Passes.
    pub passes: Passes,
    /// The BTC price demo's price source, if any.
    pub demo_price_url: Option<String>,
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
    /// `--aperture-config`: an Aperture YAML whose services are added.
    pub aperture: Option<PathBuf>,
    /// `--tls-cert` / `L402_TLS_CERT_FILE`, `--tls-key` / `L402_TLS_KEY_FILE`.
    pub tls_cert: Option<PathBuf>,
    /// See `tls_cert`.
    pub tls_key: Option<PathBuf>,
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
    if path == l402_server::discovery::WELL_KNOWN_PATH || path == "/metrics" {
        return Err(format!(
            "{path:?} is reserved: the server answers it (discovery document, metrics)"
        ));
    }
    if demo && (path == "/api/demo" || path.starts_with("/api/demo/")) && path != DEMO_PATH {
        return Err(format!(
            "{path:?} is reserved: the demo serves /api/demo (turn it off with \
             [demo] enabled = false, or --no-demo)"
        ));
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
    let demo_price_url = demo::price_url(source, file.demo.price_url)?;
    let metrics = metrics::resolve(source, file.metrics, listen)?;
    let tls = tls::resolve(
        source,
        file.tls,
        overrides.tls_cert.as_deref(),
        overrides.tls_key.as_deref(),
        base_dir,
    )?;
    let telemetry = telemetry::resolve(source, file.telemetry, &|k| std::env::var(k).ok())?;
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

    let store = store::resolve(source, file.store, overrides)?;
    let webhooks = webhooks::resolve(source, file.webhooks, file.directory, base_dir)?;
    let secret = std::env::var(platform::SPLIT_SECRET_ENV).ok();
    let (splits, passes) = platform::resolve(source, file.splits, file.passes, secret, base_dir)?;
    let (producer, mut warnings) =
        producer::resolve(source, file.producer, overrides, remote.is_none())?;
    let mcp = mcp::resolve(source, file.mcp, listen, producer.enabled)?;
    let (services, notes) = services::resolve(
        source,
        file.services,
        overrides.aperture.as_deref(),
        base_dir,
    )?;
    warnings.extend(notes);

    Ok(Config {
        warnings,
        listen,
        backend,
        token_lifetime_secs,
        invoice_expiry_secs,
        demo,
        routes,
        store,
        producer,
        remote,
        webhooks,
        mcp,
        services,
        allow_private_upstreams: file.proxy.allow_private_upstreams.unwrap_or(false),
        metrics,
        tls,
        telemetry,
        splits,
        passes,
        demo_price_url,
    })
}

mod demo;
mod mcp;
mod metrics;
mod platform;
mod producer;
mod remote;
mod services;
mod store;
mod telemetry;
#[cfg(test)]
mod tests;
mod tls;
mod webhooks;

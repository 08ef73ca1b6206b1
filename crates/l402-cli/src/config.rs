//! The configuration of `l402 serve` (and the `[store]` that `l402 merchant`
//! reads): a TOML file, then environment variables, then flags. A bad
//! configuration names the file, the key and the reason, and the server does
//! not start.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::backend::{Backend, BackendConfig};
pub use self::demo::DemoConfig;
pub use self::mcp::{Mcp, McpConfig};
pub use self::metrics::{Metrics, MetricsConfig};
pub use self::platform::{Passes, PassesFileConfig, Splits, SplitsFileConfig};
pub use self::producer::{Producer, ProducerConfig};
pub use self::remote::{Remote, RemoteConfig, RemoteOverrides};
pub use self::routes::{Route, RouteConfig};
pub(crate) use self::services::resolve_list as resolve_services;
pub use self::services::{ProxyFileConfig, ServiceConfig, ServiceSpec};
pub use self::store::{Store, StoreConfig, StoreTarget};
pub use self::telemetry::{Telemetry, TelemetryConfig};
pub use self::tls::{Tls, TlsConfig};
pub use self::tokens::TokensConfig;
pub use self::webhooks::{DirectoryFileConfig, Webhooks, WebhooksConfig};
// What the unit tests (config/tests.rs) read through `use super::*`.
#[cfg(test)]
use {self::routes::check_route_path, crate::node::NodeSpec, crate::serve::DEMO_PATH};

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
    /// `[proxy] merchant_ca_file`: what merchants' `https` upstreams must
    /// chain to (none: the system's roots).
    pub merchant_trust: Option<l402_proxy::UpstreamTrust>,
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
    let backend = backend::resolve(source, file.backend, overrides, base_dir)?;

    let (token_lifetime_secs, invoice_expiry_secs) = tokens::resolve(source, &file.tokens)?;

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
    let routes = routes::resolve(source, file.routes, demo, base_dir)?;

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
    let merchant_trust =
        services::upstream::merchant_trust(file.proxy.merchant_ca_file.as_deref(), base_dir)
            .map_err(|reason| err(source, "proxy.merchant_ca_file", reason))?;

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
        merchant_trust,
        metrics,
        tls,
        telemetry,
        splits,
        passes,
        demo_price_url,
    })
}

mod backend;
mod demo;
mod mcp;
mod metrics;
mod platform;
mod producer;
mod remote;
mod routes;
mod services;
mod store;
mod telemetry;
#[cfg(test)]
mod tests;
mod tls;
mod tokens;
mod webhooks;

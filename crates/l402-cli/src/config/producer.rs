//! `[producer]`: the producer API (`/api/l402/...`, `/api/invoice`,
//! `/api/verify`, `/api/admin/...`) and who may speak for a client's address.

use serde::Deserialize;

use super::{ConfigError, Overrides, err};

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

/// `[producer]` with `--trusted-proxies` applied, checked; and the warnings
/// for deprecated keys. Served by default unless the server sells through a
/// remote producer (`default_enabled`).
pub(super) fn resolve(
    source: &str,
    file: ProducerConfig,
    overrides: &Overrides,
    default_enabled: bool,
) -> Result<(Producer, Vec<String>), ConfigError> {
    let max_price_sats = file.max_price_sats.unwrap_or(100_000_000);
    if !(1..=2_100_000_000_000_000).contains(&max_price_sats) {
        return Err(err(
            source,
            "producer.max_price_sats",
            "must be between 1 and 2100000000000000",
        ));
    }

    let public_url = match file.public_url.as_deref().map(str::trim) {
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
        &file.trusted_proxies,
        file.trust_forwarded_for,
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
    let producer = Producer {
        enabled: file.enabled.unwrap_or(default_enabled),
        rate_limit_per_minute: file.rate_limit_per_minute.unwrap_or(20),
        max_price_sats,
        trusted_proxies,
        public_url,
    };
    Ok((producer, warnings))
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

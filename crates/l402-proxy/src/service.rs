//! A proxied service as configured: what it matches, where it forwards,
//! what it costs.

use std::fmt;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery};
use regex::Regex;

use crate::limit::RateLimit;

/// The default time an upstream has to send its response headers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default largest request body forwarded (10 MiB); larger ones get 413.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;

/// How the proxy speaks to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 in clear text (websocket upgrades pass through).
    Http,
    /// HTTP/2 in clear text with prior knowledge (h2c): gRPC upstreams.
    H2c,
    /// TLS, then HTTP/1.1 or HTTP/2 as ALPN decides (gRPC asks for h2).
    /// The certificate is checked as [`ServiceBuilder::trust`] says.
    Https,
}

impl Protocol {
    /// `http` or `h2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::H2c => "h2c",
            Protocol::Https => "https",
        }
    }
}

/// Who may pass without paying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Every request pays (Aperture's `on`, the default).
    On,
    /// Nothing is sold: every request is forwarded.
    Off,
    /// `N` requests without a credential are forwarded free per client
    /// network (IPv4 /24, IPv6 /48), then each pays.
    Freebie(u32),
}

/// Why a [`Service`] cannot be built; the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The name is empty or not a plain identifier.
    #[error("name: {0:?} must be 1-64 letters, digits, '-' or '_'")]
    Name(String),
    /// The upstream address is not `host:port`.
    #[error("address: {0:?} is not host:port")]
    Address(String),
    /// A pattern is not a valid regular expression.
    #[error("{key}: {pattern:?} is not a regular expression: {reason}")]
    Pattern {
        /// The setting.
        key: &'static str,
        /// The pattern as given.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A header name or value cannot be sent.
    #[error("headers: {0:?} is not a valid header")]
    Header(String),
    /// The rewrite prefix is not a plain absolute path.
    #[error("rewrite.prefix: {0:?} must be an absolute path without a query")]
    Rewrite(String),
    /// A capability holds a comma or is empty.
    #[error("capabilities: {0:?} must be a non-empty word without commas or spaces")]
    Capability(String),
    /// A duration or size is zero.
    #[error("{0}: must be more than zero")]
    Zero(&'static str),
    /// The upstream's TLS settings are unusable (or set for a clear-text
    /// upstream).
    #[error("{key}: {reason}")]
    Tls {
        /// The setting (`ca_file`, `pinned_cert`, `protocol`).
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// The pricer's settings are unusable.
    #[error("price: {0}")]
    Pricer(String),
    /// The realm is not a plain identifier.
    #[error("realm: {0:?} must be 1-64 letters, digits, '-' or '_'")]
    Realm(String),
    /// Two rate limits count by the same thing.
    #[error("rate_limits: more than one limit per {0}")]
    RateLimits(&'static str),
}

/// A service behind the proxy: which requests it takes (host and path
/// patterns), where it forwards them, and what they cost. Built with
/// [`Service::builder`].
///
/// ```
/// use std::time::Duration;
/// use l402_proxy::{Auth, Protocol, Service};
///
/// let service = Service::builder("weather", "127.0.0.1:8080", Protocol::Http)
///     .path_regexp("^/weather/")
///     .price_sats(21)
///     .free_path("^/weather/health$")
///     .header("x-api-key", "upstream-secret")
///     .rewrite_prefix("/v2")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(service.name(), "weather");
/// assert_eq!(service.auth(), Auth::On);
/// # Ok::<(), l402_proxy::ServiceError>(())
/// ```
#[derive(Clone)]
pub struct Service {
    pub(crate) name: String,
    pub(crate) host: Option<Regex>,
    pub(crate) path: Option<Regex>,
    pub(crate) authority: Authority,
    pub(crate) protocol: Protocol,
    pub(crate) price_sats: u64,
    pub(crate) auth: Auth,
    pub(crate) free_paths: Vec<Regex>,
    pub(crate) no_invoice_paths: Vec<Regex>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) rewrite_prefix: Option<String>,
    pub(crate) token_lifetime: Option<Duration>,
    pub(crate) capabilities: Vec<String>,
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: u64,
    pub(crate) forward_authorization: bool,
    pub(crate) shadow: bool,
    /// The pooled client of an `https` upstream.
    pub(crate) https: Option<crate::tls::HttpsClient>,
    pub(crate) pricer: Option<std::sync::Arc<crate::pricer::Pricer>>,
    pub(crate) realm: Option<String>,
    pub(crate) rate_limits: Vec<RateLimit>,
}

impl fmt::Debug for Service {
    // Injected header values are secrets: names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("host", &self.host.as_ref().map(Regex::as_str))
            .field("path", &self.path.as_ref().map(Regex::as_str))
            .field("upstream", &self.authority)
            .field("protocol", &self.protocol)
            .field("price_sats", &self.price_sats)
            .field("auth", &self.auth)
            .field("shadow", &self.shadow)
            .field("realm", &self.realm)
            .field("rate_limits", &self.rate_limits)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Starts a service named `name` forwarding to `address` (`host:port`).
    pub fn builder(
        name: impl Into<String>,
        address: impl Into<String>,
        protocol: Protocol,
    ) -> ServiceBuilder {
        ServiceBuilder {
            name: name.into(),
            address: address.into(),
            protocol,
            host: None,
            path: None,
            price_sats: 1,
            auth: Auth::On,
            free_paths: Vec::new(),
            no_invoice_paths: Vec::new(),
            headers: Vec::new(),
            rewrite_prefix: None,
            token_lifetime: None,
            capabilities: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            forward_authorization: false,
            shadow: false,
            trust: None,
            connect_to: None,
            pricer: None,
            realm: None,
            rate_limits: Vec::new(),
        }
    }

    /// The realm whose tokens this service accepts (see
    /// [`ServiceBuilder::realm`]), if any.
    pub fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    /// The rate limits (see [`ServiceBuilder::rate_limit`]).
    pub fn rate_limits(&self) -> &[RateLimit] {
        &self.rate_limits
    }

    /// What its tokens are sold as: the `services=` caveat and the resource.
    /// A realm's is `realm.<name>` (a service name holds no `.`, so the two
    /// never meet).
    pub(crate) fn sold_as(&self) -> String {
        match &self.realm {
            Some(realm) => format!("realm.{realm}"),
            None => self.name.clone(),
        }
    }

    /// The service's name (also its `services=` caveat and the resource its
    /// tokens are good for).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The price of a request, in sats.
    pub fn price_sats(&self) -> u64 {
        self.price_sats
    }

    /// Who may pass without paying.
    pub fn auth(&self) -> Auth {
        self.auth
    }

    /// The upstream's `host:port`.
    pub fn address(&self) -> &str {
        self.authority.as_str()
    }

    /// How the upstream is spoken to.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The service's pricer, when its prices are dynamic.
    pub fn pricer(&self) -> Option<&crate::pricer::Pricer> {
        self.pricer.as_deref()
    }

    /// Whether the service runs in shadow mode (see
    /// [`ServiceBuilder::shadow`]).
    pub fn is_shadow(&self) -> bool {
        self.shadow
    }

    /// How long a bought token stays valid, when the service sets it.
    pub fn token_lifetime(&self) -> Option<Duration> {
        self.token_lifetime
    }

    /// The capabilities written into its tokens.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    /// Whether this service takes a request for `host` (the `Host` header
    /// or `:authority`) and `path`.
    pub fn matches(&self, host: &str, path: &str) -> bool {
        self.host.as_ref().is_none_or(|re| re.is_match(host))
            && self.path.as_ref().is_none_or(|re| re.is_match(path))
    }

    /// Whether `path` is free (forwarded without a credential).
    pub fn is_free(&self, path: &str) -> bool {
        self.free_paths.iter().any(|re| re.is_match(path))
    }

    /// Whether `path` never gets an invoice (401 instead of 402).
    pub fn is_no_invoice(&self, path: &str) -> bool {
        self.no_invoice_paths.iter().any(|re| re.is_match(path))
    }

    /// The path sent upstream: the rewrite prefix, then the request's path
    /// and query.
    pub(crate) fn upstream_path(&self, path_and_query: &str) -> String {
        match &self.rewrite_prefix {
            Some(prefix) => format!("{}{path_and_query}", prefix.trim_end_matches('/')),
            None => path_and_query.to_owned(),
        }
    }
}

/// Configures a [`Service`]; [`ServiceBuilder::build`] checks everything.
#[must_use]
pub struct ServiceBuilder {
    name: String,
    address: String,
    protocol: Protocol,
    host: Option<String>,
    path: Option<String>,
    price_sats: u64,
    auth: Auth,
    free_paths: Vec<String>,
    no_invoice_paths: Vec<String>,
    headers: Vec<(String, String)>,
    rewrite_prefix: Option<String>,
    token_lifetime: Option<Duration>,
    capabilities: Vec<String>,
    timeout: Duration,
    max_body_bytes: u64,
    forward_authorization: bool,
    shadow: bool,
    trust: Option<crate::tls::UpstreamTrust>,
    connect_to: Option<std::net::SocketAddr>,
    pricer: Option<crate::pricer::Pricer>,
    realm: Option<String>,
    rate_limits: Vec<RateLimit>,
}

impl fmt::Debug for ServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn pattern(key: &'static str, text: &str) -> Result<Regex, ServiceError> {
    Regex::new(text).map_err(|e| ServiceError::Pattern {
        key,
        pattern: text.to_owned(),
        reason: e.to_string(),
    })
}

impl ServiceBuilder {
    /// Only requests whose `Host` matches this regular expression (Aperture's
    /// `hostregexp`; default: any host).
    pub fn host_regexp(mut self, pattern: impl Into<String>) -> Self {
        self.host = Some(pattern.into());
        self
    }

    /// Only requests whose path matches this regular expression (Aperture's
    /// `pathregexp`; default: any path).
    pub fn path_regexp(mut self, pattern: impl Into<String>) -> Self {
        self.path = Some(pattern.into());
        self
    }

    /// The price of a request in sats (default 1; 0 forwards for free).
    pub fn price_sats(mut self, sats: u64) -> Self {
        self.price_sats = sats;
        self
    }

    /// Who may pass without paying (default [`Auth::On`]).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Paths matching this regular expression are forwarded free.
    pub fn free_path(mut self, pattern: impl Into<String>) -> Self {
        self.free_paths.push(pattern.into());
        self
    }

    /// Paths matching this regular expression never get an invoice: a
    /// request without a valid credential gets 401 (streaming endpoints).
    pub fn no_invoice_path(mut self, pattern: impl Into<String>) -> Self {
        self.no_invoice_paths.push(pattern.into());
        self
    }

    /// A header set on every request toward the upstream, replacing the
    /// client's. The value is never logged.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A path prefix put in front of the request's path toward the
    /// upstream (Aperture's `rewrite.prefix`).
    pub fn rewrite_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.rewrite_prefix = Some(prefix.into());
        self
    }

    /// How long a bought token stays valid (default: the layer's).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = Some(lifetime);
        self
    }

    /// A capability written into the tokens (`<name>_capabilities=`).
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.capabilities.push(capability.into());
        self
    }

    /// How long the upstream has to send its response headers (default
    /// 30 s; a streamed body may take longer); 504 past it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest request body forwarded (default 10 MiB); 413 past it.
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Forward the client's `L402`/`LSAT` `Authorization` upstream too
    /// (default: removed; other schemes always pass).
    pub fn forward_authorization(mut self, on: bool) -> Self {
        self.forward_authorization = on;
        self
    }

    /// Shadow mode: price and mint as usual, but forward every request,
    /// with `x-l402-shadow` (`paid`, `challenge`, `reject` or `error`)
    /// and `x-l402-shadow-price-sats` saying what would have happened. A
    /// seller tries prices on live traffic this way.
    pub fn shadow(mut self, on: bool) -> Self {
        self.shadow = on;
        self
    }

    /// One payment covers the realm: a token bought on any service of
    /// realm `name` is accepted by all of them (its caveats name the realm,
    /// `services=realm.<name>:0`, instead of the service). A token is good
    /// where the price is what was paid, so give a realm's services one
    /// price.
    pub fn realm(mut self, name: impl Into<String>) -> Self {
        self.realm = Some(name.into());
        self
    }

    /// A rate limit (at most one per [`LimitBy`](crate::LimitBy)): `429`
    /// with `Retry-After` past it. See [`RateLimit`].
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limits.push(limit);
        self
    }

    /// Which certificate an [`Protocol::Https`] upstream must present
    /// (default [`UpstreamTrust::SystemRoots`](crate::UpstreamTrust)). A
    /// certificate refused is a 502 `upstream_tls`: nothing is sent.
    pub fn trust(mut self, trust: crate::tls::UpstreamTrust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Connects an [`Protocol::Https`] upstream at `addr` whatever its host
    /// resolves to; the host still names the server (SNI) and its
    /// certificate must be for it. For an upstream whose address was
    /// checked once (merchants' proxies: a public one).
    pub fn connect_to(mut self, addr: std::net::SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }

    /// Prices each request with `pricer` (see [`Pricer`](crate::Pricer))
    /// instead of the fixed price.
    pub fn pricer(mut self, pricer: crate::pricer::Pricer) -> Self {
        self.pricer = Some(pricer);
        self
    }

    /// Checks every setting and builds the service.
    ///
    /// # Errors
    /// The first [`ServiceError`].
    pub fn build(self) -> Result<Service, ServiceError> {
        if !identifier(&self.name) {
            return Err(ServiceError::Name(self.name));
        }
        if let Some(realm) = self.realm.as_ref().filter(|r| !identifier(r)) {
            return Err(ServiceError::Realm(realm.clone()));
        }
        for (i, limit) in self.rate_limits.iter().enumerate() {
            if let Some(key) = limit.zero_setting() {
                return Err(ServiceError::Zero(key));
            }
            if self.rate_limits[..i].iter().any(|l| l.by() == limit.by()) {
                return Err(ServiceError::RateLimits(limit.by().as_str()));
            }
        }
        let authority: Authority = self
            .address
            .parse()
            .ok()
            .filter(|a: &Authority| a.port_u16().is_some() && !a.as_str().contains('@'))
            .ok_or_else(|| ServiceError::Address(self.address.clone()))?;
        let host = self
            .host
            .as_deref()
            .map(|p| pattern("hostregexp", p))
            .transpose()?;
        let path = self
            .path
            .as_deref()
            .map(|p| pattern("pathregexp", p))
            .transpose()?;
        let free_paths = self
            .free_paths
            .iter()
            .map(|p| pattern("free_paths", p))
            .collect::<Result<_, _>>()?;
        let no_invoice_paths = self
            .no_invoice_paths
            .iter()
            .map(|p| pattern("no_invoice_paths", p))
            .collect::<Result<_, _>>()?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ServiceError::Header(name.clone()))?;
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| ServiceError::Header(name.to_string()))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        if let Some(prefix) = &self.rewrite_prefix {
            let plain = prefix.starts_with('/')
                && prefix.parse::<PathAndQuery>().is_ok()
                && !prefix.contains(['?', '#']);
            if !plain {
                return Err(ServiceError::Rewrite(prefix.clone()));
            }
        }
        if let Some(bad) = self
            .capabilities
            .iter()
            .find(|c| c.is_empty() || c.contains([',', ' ']))
        {
            return Err(ServiceError::Capability(bad.clone()));
        }
        if self.timeout.is_zero() {
            return Err(ServiceError::Zero("timeout"));
        }
        if self.token_lifetime.is_some_and(|t| t.is_zero()) {
            return Err(ServiceError::Zero("token_lifetime"));
        }
        if self.max_body_bytes == 0 {
            return Err(ServiceError::Zero("max_body_bytes"));
        }
        let https = match (self.protocol, &self.trust) {
            (Protocol::Https, trust) => {
                let config = trust.clone().unwrap_or_default().client_config()?;
                Some(crate::tls::https_client(config, self.connect_to))
            }
            _ if self.connect_to.is_some() => {
                return Err(ServiceError::Tls {
                    key: "protocol",
                    reason: "connect_to is for protocol https".to_owned(),
                });
            }
            (_, Some(_)) => {
                return Err(ServiceError::Tls {
                    key: "protocol",
                    reason: "a CA or a pinned certificate needs protocol https".to_owned(),
                });
            }
            (_, None) => None,
        };
        Ok(Service {
            name: self.name,
            host,
            path,
            authority,
            protocol: self.protocol,
            price_sats: self.price_sats,
            auth: self.auth,
            free_paths,
            no_invoice_paths,
            headers,
            rewrite_prefix: self.rewrite_prefix,
            token_lifetime: self.token_lifetime,
            capabilities: self.capabilities,
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            forward_authorization: self.forward_authorization,
            shadow: self.shadow,
            https,
            pricer: self.pricer.map(std::sync::Arc::new),
            realm: self.realm,
            rate_limits: self.rate_limits,
        })
    }
}

/// 1-64 letters, digits, `-` or `_`.
fn identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checks_each_setting() {
        let ok = || Service::builder("a", "127.0.0.1:1", Protocol::Http);
        assert!(ok().build().is_ok());
        assert_eq!(
            Service::builder("a b", "127.0.0.1:1", Protocol::Http)
                .build()
                .unwrap_err(),
            ServiceError::Name("a b".into())
        );
        assert!(matches!(
            Service::builder("a", "127.0.0.1", Protocol::Http).build(),
            Err(ServiceError::Address(_))
        ));
        assert!(matches!(
            ok().path_regexp("(").build(),
            Err(ServiceError::Pattern {
                key: "pathregexp",
                ..
            })
        ));
        assert!(matches!(
            ok().header("bad name", "v").build(),
            Err(ServiceError::Header(_))
        ));
        assert!(matches!(
            ok().rewrite_prefix("v2").build(),
            Err(ServiceError::Rewrite(_))
        ));
        assert!(matches!(
            ok().capability("a,b").build(),
            Err(ServiceError::Capability(_))
        ));
        assert_eq!(
            ok().timeout(Duration::ZERO).build().unwrap_err(),
            ServiceError::Zero("timeout")
        );
        assert_eq!(
            ok().realm("a.b").build().unwrap_err(),
            ServiceError::Realm("a.b".into())
        );
        let limit = |by| RateLimit::new(by, 1, Duration::from_secs(1));
        assert_eq!(
            ok().rate_limit(limit(crate::LimitBy::Token))
                .rate_limit(limit(crate::LimitBy::Token))
                .build()
                .unwrap_err(),
            ServiceError::RateLimits("token")
        );
        assert_eq!(
            ok().rate_limit(limit(crate::LimitBy::Network).burst(0))
                .build()
                .unwrap_err(),
            ServiceError::Zero("rate_limits.burst")
        );
        let realm = ok().realm("paid-api").build().unwrap();
        assert_eq!(realm.sold_as(), "realm.paid-api");
        assert_eq!(ok().build().unwrap().sold_as(), "a");
    }

    #[test]
    fn matches_host_and_path_and_rewrites() {
        let s = Service::builder("a", "127.0.0.1:1", Protocol::Http)
            .host_regexp("^api\\.example\\.com(:\\d+)?$")
            .path_regexp("^/v1/")
            .rewrite_prefix("/base/")
            .header("x-key", "secret")
            .build()
            .unwrap();
        assert!(s.matches("api.example.com:8080", "/v1/x"));
        assert!(!s.matches("other.example.com", "/v1/x"));
        assert!(!s.matches("api.example.com", "/v2/x"));
        assert_eq!(s.upstream_path("/v1/x?q=1"), "/base/v1/x?q=1");
        let debug = format!("{s:?}");
        assert!(
            debug.contains("x-key") && !debug.contains("secret"),
            "{debug}"
        );
    }
}

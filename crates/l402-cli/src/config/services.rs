//! `[[services]]`: upstream services `l402 serve` proxies and sells, in
//! Aperture's shape (matched in order; requests no route of the server
//! takes are matched against them).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use l402_proxy::{Auth, Protocol, Service};
use serde::Deserialize;

use super::{ConfigError, err};

pub mod aperture;
pub mod limits;
pub mod upstream;

/// The most `[[services]]`.
const MAX_SERVICES: usize = 256;

/// `[[services]]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's name (its tokens' `services=` caveat).
    pub name: String,
    /// What it sells, for the discovery document (`/.well-known/l402.json`).
    pub description: Option<String>,
    /// A regular expression the `Host` must match (default: any).
    pub hostregexp: Option<String>,
    /// An exact host (port ignored); shorthand for a `hostregexp`.
    pub host: Option<String>,
    /// A regular expression the path must match (default: any).
    pub pathregexp: Option<String>,
    /// The upstream, `host:port`.
    pub address: String,
    /// `http` (default), `h2c` (HTTP/2 without TLS: gRPC) or `https`
    /// (HTTP/1.1 or HTTP/2 by ALPN).
    pub protocol: Option<String>,
    /// `https`: a PEM file of the CAs the upstream's certificate must chain
    /// to (default: the system's roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// `https`: trust exactly this certificate: a PEM file, or its SHA-256
    /// fingerprint (64 hex digits, colons allowed).
    pub pinned_cert: Option<String>,
    /// A dynamic price: `{ pricer = "http://...", timeout_ms, fallback_sats }`
    /// (instead of `price_sats`).
    pub price: Option<upstream::PriceConfig>,
    /// The price of a request in sats (default 1, as Aperture).
    pub price_sats: Option<i64>,
    /// `on` (default), `off` or `freebie N`.
    pub auth: Option<String>,
    /// Paths (regular expressions) forwarded free.
    #[serde(default)]
    pub free_paths: Vec<String>,
    /// Paths (regular expressions) that never get an invoice: 401 instead.
    #[serde(default)]
    pub no_invoice_paths: Vec<String>,
    /// Headers set toward the upstream: a value, `${VAR}` from the
    /// environment, or `!file:`, `!file+hex:`, `!file+base64:` a file.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// `[services.rewrite] prefix = "/v2"`: put in front of the path.
    #[serde(default)]
    pub rewrite: RewriteConfig,
    /// How long a bought token is valid (default: `[tokens] lifetime_secs`).
    pub token_lifetime_secs: Option<u64>,
    /// Capabilities written into the tokens.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Seconds the upstream has to send its response headers (default 30).
    pub timeout_secs: Option<u64>,
    /// The largest request body forwarded (default 10 MiB).
    pub max_body_bytes: Option<u64>,
    /// Forward the client's L402 `Authorization` too (default false).
    pub forward_authorization: Option<bool>,
    /// Shadow mode: price and mint, but forward everything, with
    /// `x-l402-shadow` headers saying what would have happened.
    pub shadow: Option<bool>,
    /// One payment covers the realm: a token bought on any service with
    /// this realm is accepted by all of them.
    pub realm: Option<String>,
    /// `[{ per = "token" | "network", requests, per_secs, burst }]`: 429
    /// with `Retry-After` past them.
    #[serde(default)]
    pub rate_limits: Vec<limits::RateLimitConfig>,
}

/// `[proxy]`: rules for services added at runtime (the admin API,
/// Lightning Enable's `POST /api/proxy`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyFileConfig {
    /// Merchants' proxies may target private, loopback and link-local
    /// addresses (default false).
    pub allow_private_upstreams: Option<bool>,
    /// A PEM file of CA certificates merchants' `https` upstreams may
    /// chain to, besides the system's roots (relative to the config file).
    pub merchant_ca_file: Option<std::path::PathBuf>,
}

/// `[services.rewrite]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// The path prefix.
    pub prefix: Option<String>,
}

/// A service, resolved (header values read, everything checked).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Name.
    pub name: String,
    /// What it sells (discovery).
    pub description: Option<String>,
    /// Host pattern.
    pub hostregexp: Option<String>,
    /// Path pattern.
    pub pathregexp: Option<String>,
    /// Upstream `host:port`.
    pub address: String,
    /// `http`, `h2c` or `https`.
    pub protocol: Protocol,
    /// An `https` upstream's trust and a dynamic price.
    pub upstream: upstream::UpstreamSpec,
    /// Price in sats.
    pub price_sats: u64,
    /// Who may pass without paying.
    pub auth: Auth,
    /// Free paths.
    pub free_paths: Vec<String>,
    /// Paths that never get an invoice.
    pub no_invoice_paths: Vec<String>,
    /// Headers toward the upstream (values are secrets: never printed).
    pub headers: Vec<(String, String)>,
    /// Path prefix.
    pub rewrite_prefix: Option<String>,
    /// Token lifetime in seconds, when the service sets one.
    pub token_lifetime_secs: Option<u64>,
    /// Capabilities.
    pub capabilities: Vec<String>,
    /// Timeout in seconds.
    pub timeout_secs: u64,
    /// Body limit.
    pub max_body_bytes: u64,
    /// Forward the L402 `Authorization`.
    pub forward_authorization: bool,
    /// Shadow mode.
    pub shadow: bool,
    /// Realm and rate limits.
    pub limits: limits::LimitsSpec,
}

impl fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceSpec")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("price_sats", &self.price_sats)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ServiceSpec {
    /// The proxy's [`Service`].
    ///
    /// # Errors
    /// What [`l402_proxy::ServiceBuilder::build`] refuses.
    pub fn build(&self) -> Result<Service, l402_proxy::ServiceError> {
        let mut b = Service::builder(&self.name, &self.address, self.protocol)
            .price_sats(self.price_sats)
            .auth(self.auth)
            .timeout(Duration::from_secs(self.timeout_secs))
            .max_body_bytes(self.max_body_bytes)
            .forward_authorization(self.forward_authorization)
            .shadow(self.shadow);
        if let Some(p) = &self.hostregexp {
            b = b.host_regexp(p);
        }
        if let Some(p) = &self.pathregexp {
            b = b.path_regexp(p);
        }
        for p in &self.free_paths {
            b = b.free_path(p);
        }
        for p in &self.no_invoice_paths {
            b = b.no_invoice_path(p);
        }
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        if let Some(prefix) = &self.rewrite_prefix {
            b = b.rewrite_prefix(prefix);
        }
        if let Some(secs) = self.token_lifetime_secs {
            b = b.token_lifetime(Duration::from_secs(secs));
        }
        for c in &self.capabilities {
            b = b.capability(c);
        }
        b = self.upstream.apply(b)?;
        b = self.limits.apply(b);
        b.build()
    }
}

/// `auth = "on" | "off" | "freebie N"`.
pub fn parse_auth(text: &str) -> Result<Auth, String> {
    let text = text.trim();
    match text.to_ascii_lowercase().as_str() {
        "on" | "" => Ok(Auth::On),
        "off" => Ok(Auth::Off),
        other => other
            .strip_prefix("freebie")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|_| other.starts_with("freebie "))
            .map(Auth::Freebie)
            .ok_or_else(|| format!("{text:?} is not \"on\", \"off\" or \"freebie N\"")),
    }
}

/// `protocol = "http" | "h2c" | "https"`.
pub fn parse_protocol(text: &str) -> Result<Protocol, String> {
    match text {
        "http" => Ok(Protocol::Http),
        "h2c" => Ok(Protocol::H2c),
        "https" => Ok(Protocol::Https),
        other => Err(format!("{other:?} is not \"http\", \"h2c\" or \"https\"")),
    }
}

/// A header value as configured: `${VAR}` substituted from `env`, or
/// `!file:` / `!file+hex:` / `!file+base64:` read from a file (relative to
/// the config file), as Aperture's `headers`.
pub fn header_value(
    text: &str,
    base_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if let Some(rest) = text.strip_prefix("!file") {
        let (encoding, path) = rest
            .split_once(':')
            .ok_or_else(|| "write !file:PATH, !file+hex:PATH or !file+base64:PATH".to_owned())?;
        let path = base_dir.map_or(Path::new(path).to_path_buf(), |d| d.join(path));
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return match encoding {
            "" => String::from_utf8(bytes)
                .map(|s| s.trim().to_owned())
                .map_err(|_| format!("{} is not text: use !file+hex:", path.display())),
            "+hex" => Ok(hex::encode(bytes)),
            "+base64" => {
                use base64::Engine as _;
                Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            other => Err(format!(
                "!file{other}: the encodings are !file:, !file+hex: and !file+base64:"
            )),
        };
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "an unclosed ${ in the value".to_owned())?;
        let name = &after[..end];
        let value = env(name).ok_or_else(|| format!("the variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The longest service description (discovery).
const MAX_DESCRIPTION_CHARS: usize = 1000;

/// The longest token lifetime a service may set (10 years).
const MAX_TOKEN_LIFETIME_SECS: u64 = 10 * 365 * 86_400;

/// `[[services]]`, then the services of an Aperture configuration
/// (`--aperture-config`), checked; with a note per Aperture key not
/// honoured. A name may be used once across both.
pub(super) fn resolve(
    source: &str,
    services: Vec<ServiceConfig>,
    aperture: Option<&Path>,
    base_dir: Option<&Path>,
) -> Result<(Vec<ServiceSpec>, Vec<String>), ConfigError> {
    let env = |k: &str| std::env::var(k).ok();
    let mut specs = resolve_list(source, services, base_dir, &env)?;
    let mut notes = Vec::new();
    if let Some(path) = aperture {
        let src = path.display().to_string();
        let text = read_bounded(path).map_err(|e| err(&src, "(file)", e))?;
        let read = aperture::read(&text).map_err(|reason| {
            let (key, why) = reason.split_once(": ").unwrap_or(("(file)", &reason));
            err(&src, key, why)
        })?;
        notes.extend(read.notes.into_iter().map(|n| format!("{src}: {n}")));
        for spec in resolve_list(&src, read.services, path.parent(), &env)? {
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(err(
                    &src,
                    "services.name",
                    format!("{:?} is also a [[services]] name in {source}", spec.name),
                ));
            }
            specs.push(spec);
        }
    }
    Ok((specs, notes))
}

fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut text = String::new();
    let limit = aperture::MAX_APERTURE_CONFIG_BYTES as u64;
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if text.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(text)
}

/// One list of services checked: each names its key in `services[i].<key>`.
pub(crate) fn resolve_list(
    source: &str,
    services: Vec<ServiceConfig>,
    base_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ServiceSpec>, ConfigError> {
    if services.len() > MAX_SERVICES {
        return Err(err(
            source,
            "services",
            format!("at most {MAX_SERVICES} services"),
        ));
    }
    let mut out: Vec<ServiceSpec> = Vec::with_capacity(services.len());
    for (i, s) in services.into_iter().enumerate() {
        let key = |k: &str| format!("services[{i}].{k}");
        if out.iter().any(|o| o.name == s.name) {
            return Err(err(
                source,
                &key("name"),
                format!("{:?} is configured twice", s.name),
            ));
        }
        let hostregexp = match (s.hostregexp, s.host) {
            (Some(_), Some(_)) => {
                return Err(err(
                    source,
                    &key("host"),
                    "set host or hostregexp, not both",
                ));
            }
            (Some(re), None) => Some(re),
            (None, Some(host)) => Some(format!("^{}(:[0-9]+)?$", regex::escape(&host))),
            (None, None) => None,
        };
        let protocol = parse_protocol(s.protocol.as_deref().unwrap_or("http"))
            .map_err(|r| err(source, &key("protocol"), r))?;
        if s.price.is_some() && s.price_sats.is_some() {
            return Err(err(
                source,
                &key("price"),
                "set price_sats or price (a pricer), not both",
            ));
        }
        let upstream = upstream::UpstreamSpec::resolve(
            protocol,
            s.ca_file.as_deref(),
            s.pinned_cert.as_deref(),
            s.price,
            base_dir,
        )
        .map_err(|(k, r)| err(source, &key(k), r))?;
        let price_sats = match s.price_sats {
            None => 1,
            Some(p) => u64::try_from(p)
                .ok()
                .filter(|p| *p <= 21_000_000 * 100_000_000)
                .ok_or_else(|| err(source, &key("price_sats"), format!("{p} is not a price")))?,
        };
        let auth = parse_auth(s.auth.as_deref().unwrap_or("on"))
            .map_err(|r| err(source, &key("auth"), r))?;
        let mut headers = Vec::with_capacity(s.headers.len());
        for (name, value) in s.headers {
            let value = header_value(&value, base_dir, env)
                .map_err(|r| err(source, &key(&format!("headers.{name}")), r))?;
            headers.push((name, value));
        }
        if let Some(secs) = s.token_lifetime_secs
            && !(1..=MAX_TOKEN_LIFETIME_SECS).contains(&secs)
        {
            return Err(err(
                source,
                &key("token_lifetime_secs"),
                format!("must be between 1 and {MAX_TOKEN_LIFETIME_SECS}"),
            ));
        }
        let timeout_secs = s.timeout_secs.unwrap_or(30);
        if !(1..=3600).contains(&timeout_secs) {
            return Err(err(
                source,
                &key("timeout_secs"),
                "must be between 1 and 3600",
            ));
        }
        if let Some(d) = &s.description
            && d.chars().count() > MAX_DESCRIPTION_CHARS
        {
            return Err(err(
                source,
                &key("description"),
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        let spec = ServiceSpec {
            name: s.name,
            description: s.description,
            hostregexp,
            pathregexp: s.pathregexp,
            address: s.address,
            protocol,
            upstream,
            price_sats,
            auth,
            free_paths: s.free_paths,
            no_invoice_paths: s.no_invoice_paths,
            headers,
            rewrite_prefix: s.rewrite.prefix,
            token_lifetime_secs: s.token_lifetime_secs,
            capabilities: s.capabilities,
            timeout_secs,
            max_body_bytes: s
                .max_body_bytes
                .unwrap_or(l402_proxy::DEFAULT_MAX_BODY_BYTES),
            forward_authorization: s.forward_authorization.unwrap_or(false),
            shadow: s.shadow.unwrap_or(false),
            limits: limits::LimitsSpec::resolve(s.realm, s.rate_limits)
                .map_err(|(k, r)| err(source, &key(&k), r))?,
        };
        // The proxy's own checks (patterns, address, header names...),
        // named by the key they are about.
        spec.build().map_err(|e| {
            let k = match &e {
                l402_proxy::ServiceError::Name(_) => "name".to_owned(),
                l402_proxy::ServiceError::Address(_) => "address".to_owned(),
                l402_proxy::ServiceError::Pattern { key: k, .. } => (*k).to_owned(),
                l402_proxy::ServiceError::Header(_) => "headers".to_owned(),
                l402_proxy::ServiceError::Rewrite(_) => "rewrite.prefix".to_owned(),
                l402_proxy::ServiceError::Capability(_) => "capabilities".to_owned(),
                l402_proxy::ServiceError::Zero(k) => (*k).to_owned(),
                l402_proxy::ServiceError::Tls { key: k, .. } => (*k).to_owned(),
                l402_proxy::ServiceError::Pricer(_) => "price".to_owned(),
                l402_proxy::ServiceError::Realm(_) => "realm".to_owned(),
                l402_proxy::ServiceError::RateLimits(_) => "rate_limits".to_owned(),
                _ => "(service)".to_owned(),
            };
            let reason = e.to_string();
            let reason = reason
                .split_once(": ")
                .map_or(reason.clone(), |(_, r)| r.to_owned());
            err(source, &key(&k), reason)
        })?;
        out.push(spec);
    }
    let realms: Vec<_> = out
        .iter()
        .map(|s| (s.limits.realm.as_deref(), s.name.as_str(), s.price_sats))
        .collect();
    limits::check_realm_prices(&realms)
        .map_err(|(i, why)| err(source, &format!("services[{i}].realm"), why))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<Vec<ServiceSpec>, ConfigError> {
        #[derive(Deserialize)]
        struct F {
            services: Vec<ServiceConfig>,
        }
        let f: F = toml::from_str(text).unwrap();
        let env = |k: &str| (k == "UPSTREAM_KEY").then(|| "s3cret".to_owned());
        resolve_list("test.toml", f.services, None, &env)
    }

    #[test]
    fn a_full_service() {
        let s = parse(
            r#"
            [[services]]
            name = "weather"
            host = "api.example.com"
            pathregexp = "^/weather"
            address = "127.0.0.1:8080"
            protocol = "h2c"
            price_sats = 21
            auth = "freebie 3"
            free_paths = ["^/weather/health$"]
            no_invoice_paths = ["^/weather/stream"]
            headers = { "x-api-key" = "Bearer ${UPSTREAM_KEY}" }
            rewrite = { prefix = "/v2" }
            token_lifetime_secs = 60
            capabilities = ["read"]
            timeout_secs = 5
            max_body_bytes = 1024
            "#,
        )
        .unwrap();
        let s = &s[0];
        assert_eq!(s.auth, Auth::Freebie(3));
        assert_eq!(s.protocol, Protocol::H2c);
        assert_eq!(s.headers, [("x-api-key".into(), "Bearer s3cret".into())]);
        assert!(!format!("{s:?}").contains("s3cret"));
        let built = s.build().unwrap();
        assert!(built.matches("api.example.com:8402", "/weather/x"));
        assert!(!built.matches("evil.com", "/weather/x"));
    }

    #[test]
    fn each_error_names_its_key() {
        let cases = [
            (
                r#"name = "a"
                address = "127.0.0.1:1"
                auth = "sometimes""#,
                "services[0].auth",
            ),
            (
                r#"name = "a"
                address = "nowhere""#,
                "services[0].address",
            ),
            (
                r#"name = "a"
                address = "127.0.0.1:1"
                pathregexp = "(""#,
                "services[0].pathregexp",
            ),
            (
                r#"name = "a"
                address = "127.0.0.1:1"
                protocol = "gopher""#,
                "services[0].protocol",
            ),
            (
                r#"name = "a"
                address = "127.0.0.1:1"
                headers = { "x-key" = "${NOT_SET_ANYWHERE}" }"#,
                "services[0].headers.x-key",
            ),
            (
                r#"name = "a"
                address = "127.0.0.1:1"
                price_sats = -1"#,
                "services[0].price_sats",
            ),
            (
                r#"name = "a"
                address = "127.0.0.1:1"
                timeout_secs = 0"#,
                "services[0].timeout_secs",
            ),
            (
                r#"name = "a b"
                address = "127.0.0.1:1""#,
                "services[0].name",
            ),
        ];
        for (body, key) in cases {
            let e = parse(&format!("[[services]]\n{body}")).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
        let twice = "[[services]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n".repeat(2);
        assert_eq!(parse(&twice).unwrap_err().key, "services[1].name");
    }

    #[test]
    fn header_values_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mac"), [0xde, 0xad]).unwrap();
        std::fs::write(dir.path().join("key.txt"), "abc\n").unwrap();
        let none = |_: &str| None;
        let v = |t: &str| header_value(t, Some(dir.path()), &none);
        assert_eq!(v("!file+hex:mac").unwrap(), "dead");
        assert_eq!(v("!file+base64:mac").unwrap(), "3q0=");
        assert_eq!(v("!file:key.txt").unwrap(), "abc");
        assert!(v("!file+rot13:mac").is_err());
        assert!(v("!file:missing").unwrap_err().contains("cannot read"));
        assert_eq!(v("plain").unwrap(), "plain");
    }
}

//! What a seller sells, for agents and directories: a [`Catalog`] of paid
//! endpoints (path, method, price, description) and the discovery document
//! served at [`WELL_KNOWN_PATH`].
//!
//! The document is one JSON object read by the two kinds of client there
//! are: l402kit's `/.well-known/l402.json` keys (`protocol`, `version`,
//! `provider`, `demo_endpoint`, `price_sats`, `docs`, `sdk`) and the
//! manifest keys Lightning Enable's `discover_api` tool reads from the same
//! path (`service`, `l402`, `endpoints[]` with `path`, `method`, `summary`,
//! `l402_enabled`, `pricing.base_price_sats`).
//!
//! ```
//! use l402_server::discovery::{Catalog, Endpoint};
//!
//! let catalog = Catalog::new("weather-co")
//!     .description("Weather reports, paid per request")
//!     .endpoint(Endpoint::new("GET", "/api/report", 21).description("one report"))
//!     .endpoint(Endpoint::new("GET", "/api/demo/btc-price", 1).demo(true));
//! let doc = catalog.document();
//! assert_eq!(doc["protocol"], "l402");
//! assert_eq!(doc["demo_endpoint"], "/api/demo/btc-price");
//! assert_eq!(doc["endpoints"][0]["pricing"]["base_price_sats"], 21);
//! assert_eq!(doc["endpoints"][0]["method"], "GET");
//! ```

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Value, json};

/// Where the discovery document is served.
pub const WELL_KNOWN_PATH: &str = "/.well-known/l402.json";

/// The document's `version` (l402kit's).
pub const DOCUMENT_VERSION: &str = "1.0";

/// One paid endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Endpoint {
    /// The HTTP method (`GET`).
    pub method: String,
    /// The path, as routed (a pattern such as `/users/{id}` for a family).
    pub path: String,
    /// The price of one request in sats.
    pub price_sats: u64,
    /// What it sells.
    pub description: Option<String>,
    /// A demo endpoint (l402kit's `demo_endpoint`).
    pub demo: bool,
    /// Tags (categories) for directories.
    pub tags: Vec<String>,
    /// The proxied service it belongs to (`[[services]]` name), if any.
    pub service: Option<String>,
    /// The regular expression the paths it covers match (a proxied
    /// service's `pathregexp`); `path` is then an example.
    pub path_pattern: Option<String>,
    /// The regular expression the `Host` must match, if any.
    pub host_pattern: Option<String>,
}

impl Endpoint {
    /// `method path` for `price_sats`.
    pub fn new(method: impl Into<String>, path: impl Into<String>, price_sats: u64) -> Self {
        Endpoint {
            method: method.into().to_ascii_uppercase(),
            path: path.into(),
            price_sats,
            description: None,
            demo: false,
            tags: Vec::new(),
            service: None,
            path_pattern: None,
            host_pattern: None,
        }
    }

    /// Names the proxied service this endpoint is (listed as `service`).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// The regular expressions the paths (and hosts) it covers match
    /// (listed as `path_pattern`, `host_pattern`).
    pub fn patterns(mut self, path: Option<String>, host: Option<String>) -> Self {
        self.path_pattern = path;
        self.host_pattern = host;
        self
    }

    /// What it sells.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Marks a demo endpoint.
    pub fn demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    fn json(&self) -> Value {
        let id = format!("{} {}", self.method, self.path);
        let mut entry = json!({
            "id": id,
            "method": self.method,
            "path": self.path,
            "price_sats": self.price_sats,
            "l402_enabled": true,
            "pricing": {"model": "per_request", "base_price_sats": self.price_sats},
        });
        if let Some(d) = &self.description {
            entry["summary"] = json!(d);
            entry["description"] = json!(d);
        }
        if !self.tags.is_empty() {
            entry["tags"] = json!(self.tags);
        }
        if self.demo {
            entry["demo"] = json!(true);
        }
        if let Some(service) = &self.service {
            entry["service"] = json!(service);
        }
        if let Some(pattern) = &self.path_pattern {
            entry["path_pattern"] = json!(pattern);
        }
        if let Some(pattern) = &self.host_pattern {
            entry["host_pattern"] = json!(pattern);
        }
        entry
    }
}

/// The paid endpoints of a seller, and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Catalog {
    provider: String,
    description: Option<String>,
    base_url: Option<String>,
    docs: Option<String>,
    categories: Vec<String>,
    endpoints: Vec<Endpoint>,
}

impl Catalog {
    /// An empty catalog of `provider`.
    pub fn new(provider: impl Into<String>) -> Self {
        Catalog {
            provider: provider.into(),
            description: None,
            base_url: None,
            docs: None,
            categories: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// What the seller offers, in a sentence.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The public base URL (`https://api.example.com`); paths stay relative
    /// without one.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Where the documentation is.
    pub fn docs(mut self, url: impl Into<String>) -> Self {
        self.docs = Some(url.into());
        self
    }

    /// Adds a category (`data`, `ai`, `finance`, `weather`, `compute`,
    /// `storage`, `other`).
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.categories.push(category.into());
        self
    }

    /// Adds an endpoint.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.push(endpoint);
        self
    }

    /// Adds an endpoint in place.
    pub fn push(&mut self, endpoint: Endpoint) {
        self.endpoints.push(endpoint);
    }

    /// The endpoints, in the order added.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The discovery document (see the [module docs](self)).
    pub fn document(&self) -> Value {
        let demo = self.endpoints.iter().find(|e| e.demo);
        let lowest = self.endpoints.iter().map(|e| e.price_sats).min();
        let price = demo.map(|e| e.price_sats).or(lowest);
        let mut service = json!({
            "name": self.provider,
            "categories": self.categories,
        });
        if let Some(d) = &self.description {
            service["description"] = json!(d);
        }
        if let Some(url) = &self.base_url {
            service["base_url"] = json!(url);
        }
        if let Some(url) = &self.docs {
            service["documentation_url"] = json!(url);
        }
        json!({
            "protocol": "l402",
            "version": DOCUMENT_VERSION,
            "provider": self.provider,
            "demo_endpoint": demo.map(|e| e.path.as_str()),
            "price_sats": price,
            "docs": self.docs,
            "sdk": {"cli": "l402 get <url>"},
            "service": service,
            "l402": {
                "default_price_sats": price,
                "payment_flow": "l402",
                "capabilities": {
                    "preimage_in_response": false,
                    "supported_currencies": ["BTC"],
                },
            },
            "endpoints": self.endpoints.iter().map(Endpoint::json).collect::<Vec<_>>(),
        })
    }

    /// The document as an HTTP response: JSON, readable from any origin,
    /// cacheable for five minutes.
    pub fn response(&self) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from(self.document().to_string()));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        response
    }
}

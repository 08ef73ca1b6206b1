//! Routes and services: what this server sells (its paid routes and the
//! services its proxy fronts), their prices, shadow mode and freebies, and
//! the ready `curl` (see the 402 challenge) and `l402 get` (pay and fetch)
//! lines to try each. The data comes from `l402 serve`'s configuration,
//! through [`DashboardBuilder::offers`](crate::DashboardBuilder::offers).

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};

use crate::html::escape;
use crate::{Shared, signed_in, signed_in_page};

/// A paid route or a proxied service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferKind {
    /// A route `l402 serve` answers itself (`[[routes]]`, the demo).
    Route,
    /// A service the proxy forwards to (`[[services]]`).
    Service,
}

/// One thing this server sells, as the routes page shows it.
///
/// ```
/// use l402_dashboard::Offer;
/// let route = Offer::route("/api/report", 21).description("the daily report");
/// let service = Offer::service("weather", "/weather/today", 5)
///     .pattern("^/weather/.*")
///     .freebies(3)
///     .shadow(true);
/// assert_eq!(route.price_sats, 21);
/// assert_eq!(service.freebies, Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Route or service.
    pub kind: OfferKind,
    /// The route's path, or the service's name.
    pub name: String,
    /// A path to try it with.
    pub path: String,
    /// The `Host` to send (a service matched by host), if any.
    pub host: Option<String>,
    /// Its host and path patterns (a service), as configured.
    pub pattern: Option<String>,
    /// The price in sats.
    pub price_sats: u64,
    /// What it sells.
    pub description: Option<String>,
    /// Shadow mode: challenges are counted, every request is forwarded.
    pub shadow: bool,
    /// Requests forwarded free per client network before each pays.
    pub freebies: Option<u32>,
    /// Nothing is sold (`auth = "off"`): every request is forwarded.
    pub free: bool,
}

impl Offer {
    /// A paid route at `path`.
    pub fn route(path: impl Into<String>, price_sats: u64) -> Self {
        let path = path.into();
        Self {
            kind: OfferKind::Route,
            name: path.clone(),
            path,
            host: None,
            pattern: None,
            price_sats,
            description: None,
            shadow: false,
            freebies: None,
            free: false,
        }
    }

    /// A proxied service `name`, tried at `path`.
    pub fn service(name: impl Into<String>, path: impl Into<String>, price_sats: u64) -> Self {
        Self {
            kind: OfferKind::Service,
            name: name.into(),
            path: path.into(),
            ..Self::route("", price_sats)
        }
    }

    /// What it sells.
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// The `Host` header to send.
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The configured patterns, shown as they are.
    #[must_use]
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }

    /// Shadow mode.
    #[must_use]
    pub fn shadow(mut self, on: bool) -> Self {
        self.shadow = on;
        self
    }

    /// Free requests per client network.
    #[must_use]
    pub fn freebies(mut self, n: u32) -> Self {
        self.freebies = Some(n);
        self
    }

    /// Nothing sold.
    #[must_use]
    pub fn free(mut self, on: bool) -> Self {
        self.free = on;
        self
    }
}

/// `text` as one POSIX shell word: single-quoted, a `'` inside as `'\''`.
///
/// ```
/// assert_eq!(l402_dashboard::shell_quote("http://h/a b"), "'http://h/a b'");
/// assert_eq!(l402_dashboard::shell_quote("it's"), "'it'\\''s'");
/// ```
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The `curl` and `l402 get` lines of an offer at `base`.
fn lines(o: &Offer, base: &str) -> (String, String) {
    let url = shell_quote(&format!("{base}{}", o.path));
    let host = o
        .host
        .as_deref()
        .map(|h| format!(" -H {}", shell_quote(&format!("Host: {h}"))))
        .unwrap_or_default();
    (
        format!("curl -i{host} {url}"),
        format!("l402 get --max-sats {}{host} {url}", o.price_sats.max(1)),
    )
}

/// `GET /dashboard/routes`.
pub(crate) async fn page(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let (_, session) = match signed_in(&inner, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // The lines name the public URL, or the address this page was asked at.
    let base = inner.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!("http://{host}")
    });
    let mut body = format!(
        "<h1>Routes and services</h1><section><p>What this server sells (merchant 0's routes): \
         <b id=\"offers-count\">{}</b>. <code>curl -i</code> shows the 402 challenge; \
         <code>l402 get</code> pays it (at most the price) and fetches the answer.</p></section>",
        inner.offers.len()
    );
    if inner.offers.is_empty() {
        body.push_str(
            "<section><p id=\"no-offers\">No paid routes or services are configured \
             (<code>[[routes]]</code>, <code>[[services]]</code> in l402.toml).</p></section>",
        );
    }
    for o in &inner.offers {
        let (curl, get) = lines(o, &base);
        let kind = match o.kind {
            OfferKind::Route => "route",
            OfferKind::Service => "service",
        };
        let mut tags = Vec::new();
        if o.free {
            tags.push("<span class=\"tag\">free: auth off</span>".to_owned());
        }
        if o.shadow {
            tags.push(
                "<span class=\"tag\" data-shadow=\"on\">shadow mode: counted, not charged</span>"
                    .to_owned(),
            );
        }
        if let Some(n) = o.freebies {
            tags.push(format!(
                "<span class=\"tag\" data-freebies=\"{n}\">{n} free per client network</span>"
            ));
        }
        body.push_str(&format!(
            "<section class=\"offer\" data-offer=\"{name}\"><h2>{name} <small>{kind}</small></h2>\
             <p><b class=\"price\">{} sats</b> {}</p>{}{}\
             <pre class=\"cmd\" data-cmd=\"curl\">{}</pre><pre class=\"cmd\" data-cmd=\"l402\">{}</pre></section>",
            o.price_sats,
            tags.join(" "),
            o.description
                .as_deref()
                .map(|d| format!("<p>{}</p>", escape(d)))
                .unwrap_or_default(),
            o.pattern
                .as_deref()
                .map(|p| format!("<p class=\"hint\">Matches <code>{}</code></p>", escape(p)))
                .unwrap_or_default(),
            escape(&curl),
            escape(&get),
            name = escape(&o.name),
        ));
    }
    signed_in_page(&inner, &session, "Routes", "routes", body, StatusCode::OK).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_the_url_and_the_host() {
        let o = Offer::service("w", "/it's", 5).host("w.example");
        let (curl, get) = lines(&o, "http://127.0.0.1:8080");
        assert_eq!(
            curl,
            "curl -i -H 'Host: w.example' 'http://127.0.0.1:8080/it'\\''s'"
        );
        assert_eq!(
            get,
            "l402 get --max-sats 5 -H 'Host: w.example' 'http://127.0.0.1:8080/it'\\''s'"
        );
    }
}

//! # l402-dashboard: the merchant web page over the producer
//!
//! `/dashboard`, served by `l402 serve` beside the producer API: pages
//! rendered on the server (HTML, SVG charts), assets embedded in the
//! binary, a few lines of same-origin script for live updates, no
//! JavaScript framework and no Node build.
//!
//! | Path | What |
//! |---|---|
//! | `GET /dashboard/login`, `POST /dashboard/login` | sign in with an API key (a merchant) or the admin token (the operator, who can switch merchants) |
//! | `GET /dashboard/login/lnurl`, `GET /dashboard/login/lnurl/poll` | sign in by LNURL-auth: the producer's `/api/lnurl-auth` as a QR code, polled until a wallet signs |
//! | `GET /dashboard` | overview: revenue over 1d/7d/30d/1y/all (SVG), 7-day trend, success rate, revenue by route, recent payments (live) |
//! | `GET /dashboard/recent.json` | the live part of the overview |
//! | `GET /dashboard/payments`, `GET /dashboard/payments.csv` | the payments table: route, state and date filters, pages, CSV |
//! | `GET /dashboard/keys`, `POST /dashboard/keys`, `POST /dashboard/keys/revoke` | API keys: create (shown once), revoke, through the producer's admin API |
//! | `GET /dashboard/routes` | the paid routes and proxied services: prices, shadow mode, freebies, ready `curl` and `l402 get` lines |
//! | `GET /dashboard/webhooks`, `POST /dashboard/webhooks`, `POST /dashboard/webhooks/remove`, `POST /dashboard/webhooks/test` | webhook endpoints (the signing secret shown once), recent deliveries, a test event |
//! | `GET /dashboard/directory` | the merchant's directory listings and whether each is verified |
//! | `GET /dashboard/danger`, `POST /dashboard/danger/erase` | erase the merchant's data (`/api/delete-data`), after typing a confirmation |
//! | `POST /dashboard/merchant`, `POST /dashboard/logout` | the operator switches merchant; sign out |
//!
//! Security: sessions are random ids in `HttpOnly; SameSite=Strict;
//! Path=/dashboard` cookies, stored as their SHA-256, expiring and bounded
//! ([`session::MAX_SESSIONS`]); every POST carries the session's CSRF token,
//! derived from the session id under the server's secret
//! ([`session::csrf_token`]) (403 without it); every answer carries a strict [`CSP`](html::CSP),
//! `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`; every value is
//! escaped ([`escape`]); a new API key or webhook secret is shown once and
//! never again; refused sign-ins are limited per client network
//! ([`limit`]).
//! Sessions live in this process: behind several instances, pin a client to
//! one (or sign in again).
//!
//! Stats are the producer's own numbers, read from rollups (the store's
//! [`StatsStore::activity`](l402_store::StatsStore::activity) per day,
//! [`PaymentsQuery::revenue_by_route`] per route and day,
//! [`PaymentsQuery::challenges_since`] per day), never every payment; keys
//! are created and revoked by the producer's admin routes, and webhooks and
//! erasure go through the merchant routes as an
//! [`ActingMerchant`](l402_producer::ActingMerchant), all called in process.

// Handlers answer early with a ready response (a redirect, a 403); the
// response is the error type on purpose, as in the dev node's HTTP API.
#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod chart;
mod csv;
mod danger;
mod directory;
mod html;
mod keys;
pub mod limit;
mod offers;
mod overview;
mod payments;
pub mod session;
mod signin;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, Request, StatusCode, header};
use l402_producer::Producer;
use l402_store::{DirectoryStore, PaymentsQuery, ProducerStore};
use serde_json::Value;
use tower::ServiceExt;

pub use csv::csv_cell;
pub use html::{CSP, escape};
pub use offers::{Offer, OfferKind, shell_quote};
use session::{Session, Sessions};

/// What the dashboard reads: the producer's store, its payments table and
/// the directory.
pub trait DashboardStore: ProducerStore + PaymentsQuery + DirectoryStore {}
impl<T: ProducerStore + PaymentsQuery + DirectoryStore> DashboardStore for T {}

/// The dashboard, ready to be merged into a router. Cheap to clone.
#[derive(Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) producer: Producer,
    pub(crate) api: Router,
    pub(crate) store: Arc<dyn DashboardStore>,
    pub(crate) admin_token: Option<String>,
    pub(crate) sessions: Sessions,
    pub(crate) secure_cookies: bool,
    pub(crate) public_url: Option<String>,
    pub(crate) offers: Vec<Offer>,
    pub(crate) login_limit: limit::LoginLimit,
}

type Shared = Arc<Inner>;

/// Configures a [`Dashboard`].
#[must_use]
pub struct DashboardBuilder {
    producer: Producer,
    store: Arc<dyn DashboardStore>,
    admin_token: Option<String>,
    session_ttl: Duration,
    max_sessions: usize,
    secure_cookies: bool,
    public_url: Option<String>,
    offers: Vec<Offer>,
    login_failures: (u32, Duration),
    max_login_networks: usize,
    secret: Option<[u8; 32]>,
}

impl std::fmt::Debug for DashboardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardBuilder")
            .field("session_ttl", &self.session_ttl)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

impl DashboardBuilder {
    /// The producer's admin token: the operator signs in with it, and keys
    /// are created and revoked through the admin API with it (without one,
    /// the keys page is read-only).
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// How long a session lasts (12 hours by default).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The most sessions kept at once ([`session::MAX_SESSIONS`] by default).
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// Marks cookies `Secure` (when served over HTTPS).
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// The server's public base URL (`https://api.example.com`): the
    /// `curl` and `l402 get` lines of the routes page use it, and the
    /// directory page its host (the merchant's `user@host` addresses).
    /// Without one, the lines use the request's `Host`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into().trim_end_matches('/').to_owned();
        self.public_url = Some(url).filter(|u| !u.is_empty());
        self
    }

    /// The paid routes and proxied services the routes page lists.
    pub fn offers(mut self, offers: Vec<Offer>) -> Self {
        self.offers = offers;
        self
    }

    /// Refused sign-ins allowed per client network (IPv4 /24, IPv6 /48) in
    /// `window` before `POST /dashboard/login` answers 429
    /// ([`limit::DEFAULT_MAX_FAILURES`] in [`limit::DEFAULT_WINDOW`] by default).
    pub fn login_limit(mut self, failures: u32, window: Duration) -> Self {
        self.login_failures = (failures, window);
        self
    }

    /// The most client networks the sign-in limit tracks
    /// ([`limit::DEFAULT_MAX_NETWORKS`] by default).
    pub fn max_login_networks(mut self, n: usize) -> Self {
        self.max_login_networks = n;
        self
    }

    /// The secret the sessions' CSRF tokens are derived under
    /// ([`session::csrf_token`]): instances that share it accept each
    /// other's tokens. Without one, a random secret of this process.
    pub fn secret(mut self, secret: [u8; 32]) -> Self {
        self.secret = Some(secret);
        self
    }

    /// The dashboard.
    pub fn build(self) -> Dashboard {
        let secret = self.secret.unwrap_or_else(session::random_secret);
        Dashboard {
            inner: Arc::new(Inner {
                api: self.producer.router(),
                producer: self.producer,
                store: self.store,
                admin_token: self.admin_token,
                sessions: Sessions::new(self.session_ttl, self.max_sessions, secret),
                secure_cookies: self.secure_cookies,
                public_url: self.public_url,
                offers: self.offers,
                login_limit: limit::LoginLimit::new(
                    self.login_failures.0,
                    self.login_failures.1,
                    self.max_login_networks,
                ),
            }),
        }
    }
}

impl Dashboard {
    /// A dashboard over `producer`, reading `store` (the producer's own).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use l402::Keyring;
    /// # use l402_lightning::dev::DevNode;
    /// # use l402_producer::Producer;
    /// # use l402_store::Store;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let store = Arc::new(Store::sqlite(dir.path().join("s.sqlite")).await?);
    /// # let node = DevNode::builder().in_memory().open().await?;
    /// # let receiver = Arc::new(node.wallet("m").await?);
    /// let producer = Producer::builder(store.clone(), receiver, Keyring::new(1, [7; 32]))
    ///     .admin_token("admin")
    ///     .build();
    /// let dashboard = l402_dashboard::Dashboard::builder(producer.clone(), store)
    ///     .admin_token("admin")
    ///     .build();
    /// let router = producer.router().merge(dashboard.router());
    /// # let _ = router;
    /// # Ok(()) }
    /// ```
    pub fn builder(producer: Producer, store: Arc<dyn DashboardStore>) -> DashboardBuilder {
        DashboardBuilder {
            producer,
            store,
            admin_token: None,
            session_ttl: session::DEFAULT_SESSION_TTL,
            max_sessions: session::MAX_SESSIONS,
            secure_cookies: false,
            public_url: None,
            offers: Vec::new(),
            login_failures: (limit::DEFAULT_MAX_FAILURES, limit::DEFAULT_WINDOW),
            max_login_networks: limit::DEFAULT_MAX_NETWORKS,
            secret: None,
        }
    }

    /// The dashboard's routes, all under `/dashboard`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/dashboard", get(overview::page))
            .route("/dashboard/", get(|| async { Redirect::to("/dashboard") }))
            .route("/dashboard/recent.json", get(overview::recent))
            .route("/dashboard/payments", get(payments::page))
            .route("/dashboard/payments.csv", get(payments::csv))
            .route("/dashboard/keys", get(keys::page).post(keys::create))
            .route("/dashboard/keys/revoke", post(keys::revoke))
            .route("/dashboard/routes", get(offers::page))
            .route(
                "/dashboard/webhooks",
                get(webhooks::page).post(webhooks::create),
            )
            .route("/dashboard/webhooks/remove", post(webhooks::remove))
            .route("/dashboard/webhooks/test", post(webhooks::test))
            .route("/dashboard/directory", get(directory::page))
            .route("/dashboard/danger", get(danger::page))
            .route("/dashboard/danger/erase", post(danger::erase))
            .route("/dashboard/login", get(signin::page).post(signin::login))
            .route("/dashboard/login/lnurl", get(signin::lnurl))
            .route("/dashboard/login/lnurl/poll", get(signin::poll))
            .route("/dashboard/logout", post(signin::logout))
            .route("/dashboard/merchant", post(signin::switch))
            .route("/dashboard/assets/{name}", get(asset))
            .with_state(self.inner.clone())
    }

    /// Sessions kept now.
    pub fn sessions(&self) -> usize {
        self.inner.sessions.len()
    }
}

const STYLE: &str = include_str!("assets/style.css");
const LIVE: &str = include_str!("assets/live.js");
const LNURL: &str = include_str!("assets/lnurl.js");

/// The embedded assets: name, content type, bytes.
pub const ASSETS: [(&str, &str, &str); 3] = [
    ("style.css", "text/css; charset=utf-8", STYLE),
    ("live.js", "text/javascript; charset=utf-8", LIVE),
    ("lnurl.js", "text/javascript; charset=utf-8", LNURL),
];

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => html::secure(
            (
                [
                    (header::CONTENT_TYPE, *kind),
                    (header::CACHE_CONTROL, "public, max-age=300"),
                ],
                *body,
            )
                .into_response(),
        ),
        None => error(StatusCode::NOT_FOUND, "not_found", "no such asset"),
    }
}

/// A JSON error in the API's shape.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": message, "code": code, "message": message});
    html::secure((status, axum::Json(body)).into_response())
}

/// The session of a request, or a redirect to the sign-in page.
pub(crate) fn signed_in(inner: &Inner, headers: &HeaderMap) -> Result<(String, Session), Response> {
    inner
        .sessions
        .of(headers)
        .ok_or_else(|| html::secure(Redirect::to("/dashboard/login").into_response()))
}

/// A session whose form carried its CSRF token (403 otherwise).
pub(crate) fn checked(
    inner: &Inner,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<(String, Session), Response> {
    let Some((id, session)) = inner.sessions.of(headers) else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "not_signed_in",
            "sign in first: this form needs a dashboard session",
        ));
    };
    match csrf {
        Some(t) if session::same(t, &session.csrf) => Ok((id, session)),
        _ => Err(error(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "the form's csrf token is missing or wrong; reload the page and try again",
        )),
    }
}

/// Calls one of the producer's routes in process; its status and JSON.
pub(crate) async fn call_api(
    inner: &Inner,
    method: http::Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(StatusCode, Value), Response> {
    call_api_as(inner, None, method, uri, headers, body).await
}

/// The merchant a session shows, as the producer's merchant routes see an
/// authenticated merchant: `Ok(None)` for merchant 0 (the server's own
/// paid routes, no merchant record) or an unknown id.
pub(crate) async fn acting(
    inner: &Inner,
    session: &Session,
) -> Result<Option<l402_producer::ActingMerchant>, Response> {
    if session.merchant_id == 0 {
        return Ok(None);
    }
    match inner.store.merchant(session.merchant_id).await {
        Ok(Some(merchant)) => Ok(Some(l402_producer::ActingMerchant(
            l402_store::Authenticated {
                merchant,
                key_id: "dashboard".to_owned(),
            },
        ))),
        Ok(None) => Ok(None),
        Err(_) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database is unavailable; try again shortly",
        )),
    }
}

/// [`call_api`], acting for a merchant (the merchant routes).
pub(crate) async fn call_api_as(
    inner: &Inner,
    merchant: Option<&l402_producer::ActingMerchant>,
    method: http::Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(StatusCode, Value), Response> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(m) = merchant {
        request = request.extension(m.clone());
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let request = request.body(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "cannot build the API request",
        )
    })?;
    let response = inner
        .api
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| match e {})?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|_| {
            error(
                StatusCode::BAD_GATEWAY,
                "api_failed",
                "the API's answer was too long",
            )
        })?;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, value))
}

/// The signed-in header's merchant label or switcher.
pub(crate) async fn nav_parts(inner: &Inner, session: &Session) -> (String, Option<String>) {
    let label = format!("merchant {}", session.merchant_id);
    if !session.admin {
        return (label, None);
    }
    let Some(token) = &inner.admin_token else {
        return (label, None);
    };
    let auth = format!("Bearer {token}");
    let merchants = match call_api(
        inner,
        http::Method::GET,
        "/api/admin/merchants",
        &[("authorization", &auth)],
        None,
    )
    .await
    {
        Ok((StatusCode::OK, v)) => v["merchants"].as_array().cloned().unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut select = String::from("<select name=\"merchant\" aria-label=\"merchant\">");
    let mut ids: Vec<(i64, String)> = vec![(0, "0 · paid routes".to_owned())];
    for m in &merchants {
        if let Some(id) = m["id"].as_i64() {
            ids.push((id, format!("{id} · {}", m["name"].as_str().unwrap_or(""))));
        }
    }
    for (id, name) in ids {
        let sel = if id == session.merchant_id {
            " selected"
        } else {
            ""
        };
        select.push_str(&format!(
            "<option value=\"{id}\"{sel}>{}</option>",
            escape(&name)
        ));
    }
    select.push_str("</select><button class=\"quiet\" type=\"submit\" formaction=\"/dashboard/merchant\">Switch</button>");
    (label, Some(select))
}

/// A signed-in page with its header (merchant label or switcher).
pub(crate) async fn signed_in_page(
    inner: &Inner,
    session: &Session,
    title: &str,
    tab: &str,
    body: String,
    status: StatusCode,
) -> Response {
    let (merchant, switch) = nav_parts(inner, session).await;
    html::Page {
        title,
        tab,
        nav: Some(html::Nav {
            merchant,
            csrf: &session.csrf,
            switch,
        }),
        scripts: &[],
        body,
    }
    .render(status)
}

/// The page shown for merchant 0 (this server's own paid routes) where a
/// page needs a merchant record.
pub(crate) async fn no_merchant_page(
    inner: &Inner,
    session: &Session,
    title: &str,
    tab: &str,
) -> Response {
    let body = format!(
        "<h1>{}</h1><section><p id=\"no-merchant\">Merchant {} is this server's own paid routes: \
         it has no merchant record. Switch to a merchant to manage this.</p></section>",
        escape(title),
        session.merchant_id
    );
    signed_in_page(inner, session, title, tab, body, StatusCode::OK).await
}

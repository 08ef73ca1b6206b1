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
//! | `POST /dashboard/merchant`, `POST /dashboard/logout` | the operator switches merchant; sign out |
//!
//! Security: sessions are random ids in `HttpOnly; SameSite=Strict;
//! Path=/dashboard` cookies, stored as their SHA-256, expiring and bounded
//! ([`session::MAX_SESSIONS`]); every POST carries the session's CSRF token
//! (403 without it); every answer carries a strict [`CSP`](html::CSP),
//! `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`; every value is
//! escaped ([`escape`]); a new API key is shown once and never again.
//! Sessions live in this process: behind several instances, pin a client to
//! one (or sign in again).
//!
//! Stats are the producer's own numbers (the store's
//! [`StatsStore::activity`](l402_store::StatsStore::activity) rollup and
//! [`PaymentStore::stats`](l402_store::PaymentStore::stats)); keys are
//! created and revoked by the producer's admin routes, called in process.

// Handlers answer early with a ready response (a redirect, a 403); the
// response is the error type on purpose, as in the dev node's HTTP API.
#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod chart;
mod csv;
mod html;
mod keys;
mod overview;
mod payments;
pub mod session;
mod signin;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, Request, StatusCode, header};
use l402_producer::Producer;
use l402_store::{PaymentsQuery, ProducerStore};
use serde_json::Value;
use tower::ServiceExt;

pub use csv::csv_cell;
pub use html::{CSP, escape};
use session::{Session, Sessions};

/// What the dashboard reads: the producer's store and its payments table.
pub trait DashboardStore: ProducerStore + PaymentsQuery {}
impl<T: ProducerStore + PaymentsQuery> DashboardStore for T {}

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

    /// The dashboard.
    pub fn build(self) -> Dashboard {
        Dashboard {
            inner: Arc::new(Inner {
                api: self.producer.router(),
                producer: self.producer,
                store: self.store,
                admin_token: self.admin_token,
                sessions: Sessions::new(self.session_ttl, self.max_sessions),
                secure_cookies: self.secure_cookies,
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
    let mut request = Request::builder().method(method).uri(uri);
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

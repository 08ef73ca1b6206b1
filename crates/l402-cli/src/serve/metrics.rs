//! `/metrics` in `l402 serve` (`[metrics]`): one [`Metrics`] registry that
//! every paid route's layer reports to (requests by route and outcome,
//! challenges, verifications, invoice latency and errors), that the
//! settlement stream feeds (payments settled and revenue by route, see
//! [`super::settlements`]) and that a backend probe keeps current
//! (`l402_backend_up`). Served on its own listener (`[metrics] listen`, no
//! authentication: bind it privately), or on the main listener behind the
//! admin token (`Authorization: Bearer <admin token>`, compared in constant
//! time).
//!
//! Payments and revenue come from the node's settlement stream, not from
//! paid requests: a token used many times is one payment, and money is
//! counted when the node says it arrived. A backend that pushes no
//! settlements (LNbits) leaves them at 0; requests with outcome `paid`
//! still count the paid traffic.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use l402_lightning::{BackendError, PaymentHash, ReceiveError, Receiver};
use l402_metrics::{Format, Metrics};
use l402_server::ErrorBody;
use l402_server::observe::backend_label;
use subtle::ConstantTimeEq;

/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// How often the backend is probed for `l402_backend_up`.
pub const PROBE_EVERY: Duration = Duration::from_secs(30);

/// The proxy's reports (`[[services]]`: upstream latency, rate-limited
/// requests) into the registry.
pub struct ProxyMetrics(pub Arc<Metrics>);

impl l402_proxy::observe::Observer for ProxyMetrics {
    fn upstream(&self, service: &str, elapsed: Duration, _status: Option<u16>) {
        self.0.upstream(service, elapsed);
    }

    fn rate_limited(&self, service: &str) {
        self.0.rate_limited(service);
    }
}

/// The registry of this server.
pub fn registry(receiver: Option<&Arc<dyn Receiver>>) -> Arc<Metrics> {
    let backend = receiver.map_or("remote", |r| backend_label(r.backend()));
    Arc::new(Metrics::builder().backend(backend).build())
}

/// `/metrics` with no authentication, for a listener of its own.
pub fn open_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(METRICS_PATH, get(open).with_state(metrics))
}

/// `/metrics` behind the admin token, for the main listener.
pub fn admin_router(metrics: Arc<Metrics>, admin_token: String) -> Router {
    let state = Arc::new((metrics, admin_token));
    Router::new().route(METRICS_PATH, get(guarded).with_state(state))
}

/// Serves [`open_router`] on `listener` until `shutdown`.
pub fn spawn_listener(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        let served = axum::serve(listener, open_router(metrics))
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the metrics listener stopped");
        }
    });
}

/// Probes the backend every [`PROBE_EVERY`] for `l402_backend_up`: up when
/// it answers a lookup at all (an unknown invoice is an answer), down when
/// it cannot be reached, times out or refuses the credentials.
pub fn spawn_probe(receiver: Arc<dyn Receiver>, metrics: Arc<Metrics>) {
    let label = backend_label(receiver.backend());
    tokio::spawn(async move {
        loop {
            let up = match receiver.lookup_invoice(&PaymentHash([0; 32])).await {
                Ok(_) => true,
                Err(ReceiveError::Backend(e)) => !matches!(
                    e,
                    BackendError::Unreachable { .. }
                        | BackendError::Interrupted { .. }
                        | BackendError::Timeout { .. }
                        | BackendError::Unauthorized { .. }
                        | BackendError::Storage { .. }
                ),
                Err(_) => true,
            };
            metrics.backend_up(label, up);
            tokio::time::sleep(PROBE_EVERY).await;
        }
    });
}

async fn open(State(metrics): State<Arc<Metrics>>, headers: HeaderMap) -> Response {
    render(&metrics, &headers)
}

async fn guarded(State(state): State<Arc<(Arc<Metrics>, String)>>, headers: HeaderMap) -> Response {
    let (metrics, token) = &*state;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let allowed = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.as_bytes())));
    if !allowed {
        let message = if presented.is_some() {
            "invalid admin token"
        } else {
            "/metrics needs the admin token (Authorization: Bearer <token>)"
        };
        let body = ErrorBody::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            .field("Authorization");
        let (parts, body) = body.response().into_parts();
        return Response::from_parts(parts, axum::body::Body::from(body));
    }
    render(metrics, &headers)
}

fn render(metrics: &Metrics, headers: &HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let mut response = metrics.render_as(format).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

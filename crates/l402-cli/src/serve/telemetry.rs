//! Logs, and `[telemetry]`'s OpenTelemetry spans, of `l402 serve`.
//!
//! Logs go to stderr, filtered by `L402_LOG` (default `warn`). With an OTLP
//! endpoint configured, spans are also exported over OTLP/HTTP (protobuf,
//! batched on a thread of their own): one server span per request
//! ([`instrument`]) with OpenTelemetry's HTTP names (`http.request.method`,
//! `url.path`, `http.route` when the route has a pattern,
//! `http.response.status_code`, `server.address`, `server.port`) and what L402
//! made of it (`l402.outcome`: free, challenged, paid, rejected,
//! unavailable; `l402.service` for a proxied service), and under it the
//! proxy's client span of each upstream call (l402-proxy). Never a payment
//! hash, a preimage, a credential, a query string or a header value.
//!
//! W3C trace context (`traceparent`, `tracestate`) when spans are exported:
//! an incoming `traceparent` is the parent of the server span, and the
//! upstream request of a proxied service carries its client span's
//! ([`W3c`], the proxy's [`Propagate`]).
//!
//! Without an endpoint no span is recorded, no header is read or added,
//! and the request path pays nothing for them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use l402_proxy::observe::Propagate;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::Telemetry;

/// Whose spans are exported (at `info` and above): this binary's (`l402`)
/// and the l402 crates' (`l402_proxy`...). Spans only: log events stay on
/// stderr.
const SPAN_TARGET_PREFIX: &str = "l402";

/// Exports what is left when dropped or [shut down](Guard::shutdown).
#[must_use]
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Guard {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// What writes the upstream call's trace context into proxied
    /// requests: [`W3c`] when spans are exported, else nothing.
    pub fn propagator(&self) -> Option<Arc<dyn Propagate>> {
        self.exporting()
            .then(|| Arc::new(W3c) as Arc<dyn Propagate>)
    }

    /// Exports the spans still buffered and stops the exporter (off the
    /// async workers: the export blocks).
    pub async fn shutdown(mut self) {
        if let Some(provider) = self.provider.take() {
            let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = done {
                eprintln!("warning: [telemetry]: the last spans were not exported: {e}");
            }
        }
    }
}

/// Starts logging to stderr and, when `telemetry` names an endpoint, the
/// OTLP span exporter. An exporter that cannot be built is a warning: the
/// server runs without it.
pub fn init(telemetry: &Telemetry) -> Guard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("L402_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let provider = telemetry.traces_url.as_deref().and_then(|url| {
        match provider(url, &telemetry.service_name) {
            Ok(provider) => Some(provider),
            Err(e) => {
                eprintln!("warning: [telemetry]: spans will not be exported: {e}");
                None
            }
        }
    });
    let spans = provider.as_ref().map(|provider| {
        let ours = tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span()
                && meta.target().starts_with(SPAN_TARGET_PREFIX)
                && *meta.level() <= tracing::Level::INFO
        });
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("l402"))
            .with_filter(ours)
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
    Guard { provider }
}

fn provider(url: &str, service_name: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    // Batched and sent on the tokio runtime (reqwest's async client).
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build())
}

/// Wraps every route of `router` (and its fallback: the proxied services)
/// in a server span, when spans are exported; else returns it as it is.
pub fn instrument(router: Router, guard: &Guard, listen: SocketAddr) -> Router {
    if !guard.exporting() {
        return router;
    }
    router.layer(axum::middleware::from_fn(move |request, next| {
        request_span(request, next, listen)
    }))
}

async fn request_span(request: Request, next: Next, listen: SocketAddr) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host).to_owned())
        .unwrap_or_else(|| listen.ip().to_string());
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        url.path = request.uri().path(),
        url.scheme = "http",
        http.route = route.as_deref(),
        server.address = %host,
        server.port = listen.port(),
        http.response.status_code = tracing::field::Empty,
        l402.outcome = tracing::field::Empty,
        l402.service = tracing::field::Empty,
    );
    // A caller's trace continues here (a malformed traceparent is ignored).
    let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// W3C trace context: writes a span's `traceparent` (and `tracestate`)
/// into the proxy's upstream requests.
pub struct W3c;

impl Propagate for W3c {
    fn inject(&self, span: &tracing::Span, headers: &mut HeaderMap) {
        TraceContextPropagator::new().inject_context(&span.context(), &mut HeadersMut(headers));
    }
}

/// Request headers as OpenTelemetry's propagators read them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Request headers as OpenTelemetry's propagators write them.
struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            return;
        };
        // An empty `tracestate`: none (and not the caller's, stale).
        if value.is_empty() {
            self.0.remove(name);
            return;
        }
        if let Ok(value) = HeaderValue::from_str(&value) {
            self.0.insert(name, value);
        }
    }
}

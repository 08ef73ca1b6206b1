//! The forwarding service: one request to the upstream and its response
//! back, streamed both ways (nothing is buffered), over a pooled hyper
//! client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service as TowerService;
use tracing::Instrument;

use crate::error::ProxyError;
use crate::h1::{H1Error, H1Pool};
use crate::headers;
use crate::observe::{Observer, Propagate};
use crate::service::{Protocol, Service};
use crate::upgrade;

/// Any error a body can carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of responses sent back.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// The body of requests sent upstream.
pub(crate) type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long an idle upstream connection is kept in the pool.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(90);

/// The most idle connections kept per upstream (per thread for plain
/// HTTP/1.1, see [`crate::h1`]).
pub(crate) const POOL_MAX_IDLE_PER_HOST: usize = 256;

/// The hyper clients every service shares: one per protocol, pooled (plain
/// HTTP/1.1 without an upgrade goes through the service's [`H1Pool`]).
#[derive(Clone)]
pub(crate) struct Clients {
    http1: Client<HttpConnector, UpstreamBody>,
    h2c: Client<HttpConnector, UpstreamBody>,
}

impl Clients {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let http1 = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(connector.clone());
        let h2c = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .http2_only(true)
            .build(connector);
        Clients { http1, h2c }
    }
}

/// A tower service that forwards each request to one [`Service`]'s
/// upstream and streams the answer back. Upstream failures become JSON
/// errors (502 `upstream_unreachable` / `upstream_failed`, 504
/// `upstream_timeout`, 413 `body_too_large`), or `grpc-status` for gRPC
/// clients; it never fails as a service. `X-Forwarded-Proto` is `https`
/// when the request's URI is (HTTP/2) or it carries the
/// [`Scheme::HTTPS`](http::uri::Scheme::HTTPS) extension (a TLS listener's
/// mark), else `http`.
#[derive(Clone)]
pub struct Forward {
    /// One reference count per clone (a clone is made per request).
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    service: Arc<Service>,
    clients: Clients,
    /// Plain HTTP/1.1 upstreams' own pool (see [`crate::h1`]).
    h1: Option<H1Pool>,
    observer: Option<Arc<dyn Observer>>,
    propagate: Option<Arc<dyn Propagate>>,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

impl Forward {
    /// A forwarder to `service`'s upstream with its own connection pool.
    pub fn new(service: Service) -> Self {
        Forward::with_clients(Arc::new(service), Clients::new(), None)
    }

    pub(crate) fn with_clients(
        service: Arc<Service>,
        clients: Clients,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        let h1 = (service.protocol == Protocol::Http)
            .then(|| H1Pool::new(service.authority.clone(), POOL_MAX_IDLE_PER_HOST, POOL_IDLE));
        let inner = Inner {
            service,
            clients,
            h1,
            observer,
            propagate: None,
        };
        Forward {
            inner: Arc::new(inner),
        }
    }

    /// Writes each upstream call's trace context into its request.
    pub(crate) fn propagating(self, propagate: Option<Arc<dyn Propagate>>) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.propagate = propagate;
        Forward {
            inner: Arc::new(inner),
        }
    }

    /// The service it forwards to.
    pub fn service(&self) -> &Service {
        &self.inner.service
    }
}

/// Whether a request is gRPC (its errors are then gRPC statuses).
pub(crate) fn is_grpc<B>(request: &Request<B>) -> bool {
    is_grpc_head(request.headers())
}

fn is_grpc_head(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A body-limit error somewhere in `error`'s chain.
fn over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

impl<B> TowerService<Request<B>> for Forward
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let grpc = is_grpc(&request);
            Ok(match this.forward(request).await {
                Ok(response) => response,
                Err(e) => {
                    tracing::debug!(service = %this.inner.service.name, error = %e, cause = ?std::error::Error::source(&e), "proxy: not forwarded");
                    e.response(grpc).map(full)
                }
            })
        })
    }
}

/// A complete body as a [`ProxyBody`].
pub(crate) fn full(bytes: Bytes) -> ProxyBody {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed()
}

impl Forward {
    async fn forward<B>(&self, mut request: Request<B>) -> Result<Response<ProxyBody>, ProxyError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let service = &self.inner.service;
        let limit = service.max_body_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ProxyError::BodyTooLarge(limit));
        }
        let wants_upgrade = headers::is_upgrade(request.headers());
        let client_upgrade = if wants_upgrade {
            // h2c has no HTTP/1.1 upgrade; https sends it over HTTP/1.1.
            if service.protocol == Protocol::H2c
                || request
                    .extensions()
                    .get::<hyper::upgrade::OnUpgrade>()
                    .is_none()
            {
                return Err(ProxyError::BadUpgrade(
                    "this service cannot switch protocols (an HTTP/1.1 websocket upgrade is needed)",
                ));
            }
            Some(hyper::upgrade::on(&mut request))
        } else {
            None
        };
        let client_ip = request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let (mut parts, body) = request.into_parts();
        let host = parts.headers.get(header::HOST).cloned().or_else(|| {
            let authority = parts.uri.authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        // TLS in: an https URI (h2's :scheme), or the listener's mark.
        let https = parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS)
            || parts.extensions.get::<http::uri::Scheme>() == Some(&http::uri::Scheme::HTTPS);
        // Plain HTTP/1.1 without an upgrade: the pool driven on this task
        // (origin-form URI, `Host` from the pool); the rest: hyper's client.
        let pooled = self.inner.h1.as_ref().filter(|_| !wants_upgrade);
        parts.uri = upstream_uri(service, &parts.uri, pooled.is_none())?;
        let headers = &mut parts.headers;
        headers::strip_hop_by_hop(headers, wants_upgrade);
        if !service.forward_authorization {
            headers::strip_l402_credential(headers);
        }
        let proto = if https { "https" } else { "http" };
        headers::add_forwarded(headers, client_ip, host, proto);
        headers.remove(header::HOST);
        for (name, value) in &service.headers {
            headers.insert(name.clone(), value.clone());
        }
        parts.version = match service.protocol {
            Protocol::Http => Version::HTTP_11,
            Protocol::H2c => Version::HTTP_2,
            // ALPN decides, but gRPC needs h2.
            Protocol::Https if is_grpc_head(&parts.headers) => Version::HTTP_2,
            Protocol::Https => Version::HTTP_11,
        };
        let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).boxed_unsync();
        let mut upstream = Request::from_parts(parts, body);
        // OpenTelemetry's HTTP client span (disabled, and free, unless a
        // subscriber wants it): no query string, no header values.
        let span = tracing::info_span!(
            "upstream",
            otel.name = %upstream.method(),
            otel.kind = "client",
            http.request.method = %upstream.method(),
            url.path = upstream.uri().path(),
            server.address = service.authority.host(),
            server.port = service.authority.port_u16(),
            l402.service = %service.name,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        if let Some(propagate) = &self.inner.propagate {
            propagate.inject(&span, upstream.headers_mut());
        }
        let exchange = async {
            match pooled {
                Some(pool) => match pool.send(upstream).await {
                    Ok(mut response) => {
                        headers::strip_hop_by_hop(response.headers_mut(), false);
                        Ok(response.map(|body| body.map_err(BoxError::from).boxed()))
                    }
                    Err(H1Error::Connect(e)) => Err(ProxyError::Unreachable(e)),
                    Err(H1Error::Exchange(e)) if over_limit(&e) => {
                        Err(ProxyError::BodyTooLarge(limit))
                    }
                    Err(H1Error::Exchange(e)) => Err(ProxyError::Upstream(Box::new(e))),
                },
                None => self.via_client(upstream, client_upgrade).await,
            }
        };
        let timeout = service.timeout;
        let started = std::time::Instant::now();
        let answered = tokio::time::timeout(timeout, exchange)
            .instrument(span.clone())
            .await
            .unwrap_or(Err(ProxyError::Timeout(timeout.as_secs())));
        let status = answered.as_ref().ok().map(|r| r.status().as_u16());
        match (status, &answered) {
            (Some(status), _) => span.record("http.response.status_code", status),
            (None, Err(ProxyError::Timeout(_))) => span.record("error.type", "timeout"),
            (None, _) => span.record("error.type", "upstream_failed"),
        };
        if let Some(observer) = &self.inner.observer {
            observer.upstream(&service.name, started.elapsed(), status);
        }
        answered
    }

    /// Sends through hyper's pooled clients (h2c, https, upgrades), and
    /// tunnels an accepted upgrade.
    async fn via_client(
        &self,
        upstream: Request<UpstreamBody>,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let service = &self.inner.service;
        let sent = match (service.protocol, &service.https) {
            (Protocol::Http, _) => self.inner.clients.http1.request(upstream),
            (Protocol::H2c, _) => self.inner.clients.h2c.request(upstream),
            (Protocol::Https, Some(https)) => https.request(upstream, client_upgrade.is_some()),
            // Never sent in clear text instead.
            (Protocol::Https, None) => {
                return Err(ProxyError::UpstreamTls(
                    "no TLS client is configured".into(),
                ));
            }
        };
        let mut response = match sent.await {
            Ok(response) => response,
            Err(e) if over_limit(&e) => {
                return Err(ProxyError::BodyTooLarge(service.max_body_bytes));
            }
            Err(e) if e.is_connect() => {
                return Err(match crate::tls::failure(&e) {
                    Some(reason) => ProxyError::UpstreamTls(reason),
                    None => ProxyError::Unreachable(Box::new(e)),
                });
            }
            Err(e) => return Err(ProxyError::Upstream(Box::new(e))),
        };
        let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
        if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            upgrade::tunnel(client_upgrade, upstream_upgrade, service.name.clone());
        } else {
            headers::strip_hop_by_hop(response.headers_mut(), false);
        }
        Ok(response.map(|body| body.map_err(BoxError::from).boxed()))
    }
}

/// The URI sent upstream: the request's path and query (under the
/// service's rewrite prefix), in absolute form for hyper's client
/// (`absolute`), else in origin form.
fn upstream_uri(service: &Service, uri: &Uri, absolute: bool) -> Result<Uri, ProxyError> {
    let bad = |e: http::Error| ProxyError::Upstream(Box::new(e));
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(match (&service.rewrite_prefix, uri.path_and_query()) {
        (None, Some(path)) => path.clone(),
        (_, path) => {
            let path = path.map_or("/", |p| p.as_str());
            http::uri::PathAndQuery::try_from(service.upstream_path(path))
                .map_err(|e| bad(e.into()))?
        }
    });
    if absolute {
        parts.scheme = Some(match service.protocol {
            Protocol::Https => http::uri::Scheme::HTTPS,
            Protocol::Http | Protocol::H2c => http::uri::Scheme::HTTP,
        });
        parts.authority = Some(service.authority.clone());
    }
    Uri::from_parts(parts).map_err(|e| bad(e.into()))
}

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
use http::header;
use http::{Request, Response, Uri, Version};
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service as TowerService;

use crate::error::ProxyError;
use crate::headers;
use crate::service::{Protocol, Service};
use crate::upgrade;

/// Any error a body can carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of responses sent back.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// The body of requests sent upstream.
type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long an idle upstream connection is kept in the pool.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The most idle connections kept per upstream.
const POOL_MAX_IDLE_PER_HOST: usize = 256;

/// The hyper clients every service shares: one per protocol, pooled.
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
/// clients; it never fails as a service.
#[derive(Clone)]
pub struct Forward {
    service: Arc<Service>,
    clients: Clients,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Forward {
    /// A forwarder to `service`'s upstream with its own connection pool.
    pub fn new(service: Service) -> Self {
        Forward::with_clients(Arc::new(service), Clients::new())
    }

    pub(crate) fn with_clients(service: Arc<Service>, clients: Clients) -> Self {
        Forward { service, clients }
    }

    /// The service it forwards to.
    pub fn service(&self) -> &Service {
        &self.service
    }
}

/// Whether a request is gRPC (its errors are then gRPC statuses).
pub(crate) fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
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
                    tracing::debug!(service = %this.service.name, error = %e, cause = ?std::error::Error::source(&e), "proxy: not forwarded");
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
        let service = &self.service;
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
            if service.protocol != Protocol::Http
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
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = Uri::builder()
            .scheme("http")
            .authority(service.authority.clone())
            .path_and_query(service.upstream_path(path))
            .build()
            .map_err(|e| ProxyError::Upstream(Box::new(e)))?;
        parts.uri = uri;
        let headers = &mut parts.headers;
        headers::strip_hop_by_hop(headers, wants_upgrade);
        if !service.forward_authorization {
            headers::strip_l402_credential(headers);
        }
        headers::add_forwarded(headers, client_ip, host.as_deref(), "http");
        headers.remove(header::HOST);
        for (name, value) in &service.headers {
            headers.insert(name.clone(), value.clone());
        }
        let client = match service.protocol {
            Protocol::Http => {
                parts.version = Version::HTTP_11;
                &self.clients.http1
            }
            Protocol::H2c => {
                parts.version = Version::HTTP_2;
                &self.clients.h2c
            }
        };
        let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).boxed_unsync();
        let upstream = Request::from_parts(parts, body);
        let timeout = service.timeout;
        let mut response = match tokio::time::timeout(timeout, client.request(upstream)).await {
            Err(_) => return Err(ProxyError::Timeout(timeout.as_secs())),
            Ok(Err(e)) if over_limit(&e) => return Err(ProxyError::BodyTooLarge(limit)),
            Ok(Err(e)) if e.is_connect() => return Err(ProxyError::Unreachable(Box::new(e))),
            Ok(Err(e)) => return Err(ProxyError::Upstream(Box::new(e))),
            Ok(Ok(response)) => response,
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

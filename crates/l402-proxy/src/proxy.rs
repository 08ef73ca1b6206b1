//! The proxy: services matched in order, each sold through its own
//! [`L402Layer`] in front of a [`Forward`].

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use l402::Caveat;
use l402_server::{ErrorBody, L402Layer, L402LayerBuilder, L402Service, ResponseBody};
use tower_service::Service as TowerService;

use crate::error::ProxyError;
use crate::forward::{BoxError, Clients, Forward, ProxyBody, is_grpc};
use crate::freebie::{DEFAULT_MAX_TRACKED_NETWORKS, Freebies};
use crate::service::{Auth, Service};
use crate::shadow::{self, Passed};

/// The request body every service receives (the client's, boxed once).
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

/// The proxy's response.
pub type ProxyResponse = Response<ResponseBody<ProxyBody>>;

/// The proxy's response future.
pub type ProxyFuture = Pin<Box<dyn Future<Output = Result<ProxyResponse, Infallible>> + Send>>;

/// Starts every service's layer: the seller (a local receiver and keyring,
/// or a remote producer) and the settings all services share (invoice
/// expiry, recorder...). The proxy adds each service's price, name,
/// resource, lifetime and capabilities.
pub type LayerFactory = Box<dyn Fn() -> L402LayerBuilder>;

struct Route {
    service: Arc<Service>,
    forward: Forward,
    /// The layer selling the service (none when nothing is sold).
    paid: Option<L402Service<Forward>>,
    /// The same, answering 401 instead of a challenge (paths that never
    /// get an invoice).
    no_invoice: Option<L402Service<Forward>>,
    freebies: Option<Freebies>,
    /// The layer judging a shadow service's requests (which all pass).
    shadow: Option<L402Service<Passed>>,
}

/// A tower service routing each request to the first [`Service`] whose
/// host and path patterns match, through that service's [`L402Layer`],
/// to its upstream. A request no service takes gets 404 `no_service`.
///
/// ```
/// use std::sync::Arc;
/// use l402_lightning::dev::DevNode;
/// use l402_proxy::{Protocol, Proxy, Service};
/// use l402_server::{Keyring, L402Layer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let receiver = Arc::new(node.wallet("merchant").await?);
/// let keys = Keyring::new(1, [7; 32]);
/// let proxy = Proxy::builder(move || L402Layer::builder(receiver.clone(), keys.clone()))
///     .service(
///         Service::builder("weather", "127.0.0.1:8080", Protocol::Http)
///             .path_regexp("^/weather")
///             .price_sats(21)
///             .build()?,
///     )
///     .build();
/// // In axum: Router::new().fallback_service(proxy)
/// assert_eq!(proxy.services().count(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Proxy {
    routes: Arc<[Route]>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|r| &r.service))
            .finish()
    }
}

/// Configures a [`Proxy`].
#[must_use]
pub struct ProxyBuilder {
    layer: LayerFactory,
    services: Vec<Service>,
    max_tracked_networks: usize,
}

impl std::fmt::Debug for ProxyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyBuilder")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Starts a proxy whose services are sold through layers `layer`
    /// starts (see [`LayerFactory`]).
    pub fn builder(layer: impl Fn() -> L402LayerBuilder + 'static) -> ProxyBuilder {
        ProxyBuilder {
            layer: Box::new(layer),
            services: Vec::new(),
            max_tracked_networks: DEFAULT_MAX_TRACKED_NETWORKS,
        }
    }

    /// The services, in matching order.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.routes.iter().map(|r| r.service.as_ref())
    }
}

impl ProxyBuilder {
    /// Adds a service; services are matched in the order added.
    pub fn service(mut self, service: Service) -> Self {
        self.services.push(service);
        self
    }

    /// The most client networks a `freebie N` service tracks (default
    /// [`DEFAULT_MAX_TRACKED_NETWORKS`]).
    pub fn max_tracked_networks(mut self, max: usize) -> Self {
        self.max_tracked_networks = max;
        self
    }

    /// Builds the proxy: one layer per service that sells.
    pub fn build(self) -> Proxy {
        let clients = Clients::new();
        let routes: Vec<Route> = self
            .services
            .into_iter()
            .map(|service| {
                let service = Arc::new(service);
                let forward = Forward::with_clients(service.clone(), clients.clone());
                let sells = service.auth != Auth::Off && service.price_sats > 0;
                let layer = || {
                    let mut b = (self.layer)()
                        .price_sats(service.price_sats)
                        .service(service.name.clone())
                        .resource(service.name.clone());
                    if let Some(lifetime) = service.token_lifetime {
                        b = b.token_lifetime(lifetime);
                    }
                    if !service.capabilities.is_empty() {
                        let caps = service.capabilities.iter().map(String::as_str);
                        b = b.caveat(Caveat::capabilities(&service.name, caps));
                    }
                    b
                };
                let shadow = (sells && service.shadow)
                    .then(|| tower_layer::Layer::layer(&layer().build(), Passed));
                let sells = sells && !service.shadow;
                let paid =
                    sells.then(|| tower_layer::Layer::layer(&layer().build(), forward.clone()));
                let no_invoice = (sells && !service.no_invoice_paths.is_empty()).then(|| {
                    let l: L402Layer = layer()
                        .on_rejection(|rejection| {
                            Some(
                                ErrorBody::new(
                                    StatusCode::UNAUTHORIZED,
                                    rejection.code(),
                                    rejection.reason.to_string(),
                                )
                                .response(),
                            )
                        })
                        .build();
                    tower_layer::Layer::layer(&l, forward.clone())
                });
                let freebies = match service.auth {
                    Auth::Freebie(n) if sells => Some(Freebies::new(n, self.max_tracked_networks)),
                    _ => None,
                };
                Route {
                    service,
                    forward,
                    paid,
                    no_invoice,
                    freebies,
                    shadow,
                }
            })
            .collect();
        Proxy {
            routes: routes.into(),
        }
    }
}

/// The host a request is for: `Host`, else the URI's authority (HTTP/2).
fn host_of<B>(request: &Request<B>) -> &str {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// Whether a request presents an L402 credential (an `L402`/`LSAT`
/// `Authorization`, or Aperture's gRPC macaroon metadata).
fn presents_credential(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| crate::headers::is_l402(v.as_bytes()))
        || headers.contains_key("grpc-metadata-macaroon")
        || headers.contains_key("macaroon")
}

fn client_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn answer(error: &ProxyError, grpc: bool) -> ProxyFuture {
    let response = error.response(grpc).map(ResponseBody::full);
    Box::pin(std::future::ready(Ok(response)))
}

impl<B> TowerService<Request<B>> for Proxy
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = ProxyResponse;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ProxyFuture {
        let request: Request<RequestBody> =
            request.map(|body| body.map_err(Into::into).boxed_unsync());
        let grpc = is_grpc(&request);
        let path = request.uri().path();
        let host = host_of(&request);
        let Some(route) = self.routes.iter().find(|r| r.service.matches(host, path)) else {
            return answer(&ProxyError::NoService, grpc);
        };
        let service = &route.service;
        if let Some(judge) = &route.shadow
            && !service.is_free(path)
        {
            let refused = service.is_no_invoice(path) && !presents_credential(request.headers());
            let judge = (!refused).then(|| judge.clone());
            return forward_shadow(judge, &route.forward, request, service.price_sats);
        }
        let Some(paid) = route.paid.as_ref().filter(|_| !service.is_free(path)) else {
            return forward_free(&route.forward, request);
        };
        let no_invoice = service.is_no_invoice(path);
        if !presents_credential(request.headers()) {
            if let Some(freebies) = &route.freebies
                && client_ip(&request).is_some_and(|ip| freebies.take(ip))
            {
                return forward_free(&route.forward, request);
            }
            if no_invoice {
                return answer(&ProxyError::NoInvoice(service.name.clone()), grpc);
            }
        }
        let mut layer = match (&route.no_invoice, no_invoice) {
            (Some(layer), true) => layer.clone(),
            _ => paid.clone(),
        };
        let future = layer.call(request);
        Box::pin(future)
    }
}

/// Shadow mode: the layer judges a copy of the request's head (`None`:
/// refused without asking it), the request is forwarded whatever it says.
fn forward_shadow(
    judge: Option<L402Service<Passed>>,
    forward: &Forward,
    request: Request<RequestBody>,
    price_sats: u64,
) -> ProxyFuture {
    let (parts, body) = request.into_parts();
    let judged = judge.map(|mut judge| {
        let empty: RequestBody = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        judge.call(Request::from_parts(parts.clone(), empty))
    });
    let mut forward = forward.clone();
    Box::pin(async move {
        let verdict = match judged {
            Some(judged) => {
                let Ok(answer) = judged.await;
                shadow::verdict(answer.status())
            }
            None => "reject",
        };
        let Ok(mut response) = forward.call(Request::from_parts(parts, body)).await;
        shadow::mark(&mut response, verdict, price_sats);
        Ok(response.map(ResponseBody::inner))
    })
}

fn forward_free(forward: &Forward, request: Request<RequestBody>) -> ProxyFuture {
    let future = forward.clone().call(request);
    Box::pin(async move {
        let Ok(response) = future.await;
        Ok(response.map(ResponseBody::inner))
    })
}

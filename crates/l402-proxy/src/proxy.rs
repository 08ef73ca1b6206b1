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

use crate::counters::SharedCounters;
use crate::error::ProxyError;
use crate::forward::{BoxError, Clients, Forward, ProxyBody, is_grpc};
use crate::freebie::{DEFAULT_MAX_TRACKED_NETWORKS, Freebies};
use crate::gate::{Gate, limited};
use crate::limit::{DEFAULT_MAX_TRACKED_KEYS, LimitBy, LimitKey, Limiter};
use crate::observe::{Observer, Propagate};
use crate::pricer::{self, ServicePrice};
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
    /// The layer selling the service (none when nothing is sold), in
    /// front of the per-token rate limit.
    paid: Option<L402Service<Gate, ServicePrice>>,
    /// The same, answering 401 instead of a challenge (paths that never
    /// get an invoice).
    no_invoice: Option<L402Service<Gate, ServicePrice>>,
    freebies: Option<Freebies>,
    /// The per-network rate limit, checked first.
    per_network: Option<Arc<Limiter>>,
    /// The layer judging a shadow service's requests (which all pass).
    shadow: Option<L402Service<Passed, ServicePrice>>,
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
    observer: Option<Arc<dyn Observer>>,
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
    observer: Option<Arc<dyn Observer>>,
    max_tracked_keys: usize,
    shared: Option<Arc<dyn SharedCounters>>,
    propagate: Option<Arc<dyn Propagate>>,
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
            observer: None,
            max_tracked_keys: DEFAULT_MAX_TRACKED_KEYS,
            shared: None,
            propagate: None,
        }
    }

    /// The services, in matching order.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.routes.iter().map(|r| r.service.as_ref())
    }

    /// The observer told of upstream calls and rate-limited requests
    /// ([`ProxyBuilder::observer`]), if any.
    pub fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.observer.as_ref()
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

    /// Reports upstream latency and rate-limited requests to `observer`
    /// (see [`crate::observe`]). The layers' own observer (requests,
    /// verifications, challenges) is set by the [`LayerFactory`].
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The most keys (tokens or client networks) each rate limit tracks
    /// in memory (default [`DEFAULT_MAX_TRACKED_KEYS`]).
    pub fn max_tracked_keys(mut self, max: usize) -> Self {
        self.max_tracked_keys = max;
        self
    }

    /// Writes each upstream call's trace context into its request
    /// (see [`Propagate`]).
    pub fn propagate(mut self, propagate: Arc<dyn Propagate>) -> Self {
        self.propagate = Some(propagate);
        self
    }

    /// Counts freebies and rate limits in `counters`, shared with every
    /// proxy using the same store, instead of in memory.
    pub fn shared_counters(mut self, counters: Arc<dyn SharedCounters>) -> Self {
        self.shared = Some(counters);
        self
    }

    /// Builds the proxy: one layer per service that sells.
    pub fn build(self) -> Proxy {
        let clients = Clients::new();
        let observer = self.observer.clone();
        let routes: Vec<Route> = self
            .services
            .into_iter()
            .map(|service| {
                let service = Arc::new(service);
                let forward =
                    Forward::with_clients(service.clone(), clients.clone(), observer.clone())
                        .propagating(self.propagate.clone());
                let sells = service.auth != Auth::Off
                    && (service.price_sats > 0 || service.pricer.is_some());
                let limiter = |by| {
                    let limit = service.rate_limits.iter().find(|l| l.by() == by)?;
                    let (max, shared) = (self.max_tracked_keys, self.shared.clone());
                    Some(Arc::new(Limiter::new(&service.name, *limit, max, shared)))
                };
                let gate = Gate {
                    forward: forward.clone(),
                    per_token: limiter(LimitBy::Token),
                    observer: observer.clone(),
                };
                let sold_as = service.sold_as();
                let layer = || {
                    let mut b = (self.layer)()
                        .pricing(ServicePrice(service.price_sats))
                        .service(sold_as.clone())
                        .resource(sold_as.clone())
                        .route_label(service.name.clone());
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
                let paid = sells.then(|| tower_layer::Layer::layer(&layer().build(), gate.clone()));
                let no_invoice = (sells && !service.no_invoice_paths.is_empty()).then(|| {
                    let l: L402Layer<ServicePrice> = layer()
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
                    tower_layer::Layer::layer(&l, gate.clone())
                });
                let freebies = match service.auth {
                    Auth::Freebie(n) if sells => {
                        let f = Freebies::new(n, self.max_tracked_networks);
                        Some(match &self.shared {
                            Some(shared) => f.shared(&service.name, shared.clone()),
                            None => f,
                        })
                    }
                    _ => None,
                };
                let per_network = limiter(LimitBy::Network);
                Route {
                    service,
                    forward,
                    paid,
                    no_invoice,
                    freebies,
                    per_network,
                    shadow,
                }
            })
            .collect();
        Proxy {
            routes: routes.into(),
            observer,
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
        self.route(request)
    }
}

impl Proxy {
    /// Routes `request` as [`TowerService::call`] does, from a shared
    /// reference (nothing is cloned to call it).
    pub(crate) fn route<B>(&self, request: Request<B>) -> ProxyFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let request: Request<RequestBody> =
            request.map(|body| body.map_err(Into::into).boxed_unsync());
        let grpc = is_grpc(&request);
        let path = request.uri().path();
        let host = host_of(&request);
        let Some(index) = self
            .routes
            .iter()
            .position(|r| r.service.matches(host, path))
        else {
            return answer(&ProxyError::NoService, grpc);
        };
        let route = &self.routes[index];
        if route.service.rewrite_prefix.is_some() && crate::path::has_dot_segment(path) {
            return answer(&ProxyError::BadPath, grpc);
        }
        // The server's request span, if it declares the field (telemetry).
        tracing::Span::current().record("l402.service", route.service.name.as_str());
        let shared_freebie = route.freebies.as_ref().is_some_and(Freebies::is_shared);
        if route.per_network.is_none() && !shared_freebie {
            // In memory, without waiting.
            let free = freebie_ip(route, &request)
                .zip(route.freebies.as_ref())
                .is_some_and(|(ip, freebies)| freebies.take(ip));
            return dispatch(route, request, grpc, free);
        }
        let routes = self.routes.clone();
        let observer = self.observer.clone();
        Box::pin(async move {
            let route = &routes[index];
            if let Some(limiter) = &route.per_network
                && let Some(ip) = client_ip(&request)
                && let Err(wait) = limiter.take(LimitKey::network(ip)).await
            {
                let answer = limited(&route.service.name, wait, grpc, observer.as_ref());
                return Ok(answer.map(ResponseBody::full));
            }
            let free = match (freebie_ip(route, &request), &route.freebies) {
                (Some(ip), Some(freebies)) => freebies.take_shared(ip).await,
                _ => false,
            };
            dispatch(route, request, grpc, free).await
        })
    }
}

/// The client's address, when a request to `route` would use a freebie
/// (a sold, non-free path, asked without a credential).
fn freebie_ip(route: &Route, request: &Request<RequestBody>) -> Option<IpAddr> {
    let sold = route.paid.is_some() && !route.service.is_free(request.uri().path());
    (route.freebies.is_some() && sold && !presents_credential(request.headers()))
        .then(|| client_ip(request))
        .flatten()
}

/// Routes a request within its service; `free`: a freebie was granted.
fn dispatch(route: &Route, request: Request<RequestBody>, grpc: bool, free: bool) -> ProxyFuture {
    let path = request.uri().path();
    let service = &route.service;
    if let Some(judge) = &route.shadow
        && !service.is_free(path)
    {
        let refused = service.is_no_invoice(path) && !presents_credential(request.headers());
        let judge = (!refused).then(|| judge.clone());
        if let Some(pricer) = service.pricer.clone() {
            let forward = route.forward.clone();
            return pricer::priced(pricer, &service.name, request, grpc, move |r, price| {
                forward_shadow(judge, &forward, r, price)
            });
        }
        return forward_shadow(judge, &route.forward, request, service.price_sats);
    }
    let Some(paid) = route.paid.as_ref().filter(|_| !service.is_free(path)) else {
        return forward_free(&route.forward, request);
    };
    if free {
        return forward_free(&route.forward, request);
    }
    let no_invoice = service.is_no_invoice(path);
    if no_invoice && !presents_credential(request.headers()) {
        return answer(&ProxyError::NoInvoice(service.name.clone()), grpc);
    }
    let mut layer = match (&route.no_invoice, no_invoice) {
        (Some(layer), true) => layer.clone(),
        _ => paid.clone(),
    };
    if let Some(pricer) = service.pricer.clone() {
        return pricer::priced(pricer, &service.name, request, grpc, move |r, _| {
            Box::pin(layer.call(r))
        });
    }
    Box::pin(layer.call(request))
}

/// Shadow mode: the layer judges a copy of the request's head (`None`:
/// refused without asking it), the request is forwarded whatever it says.
fn forward_shadow(
    judge: Option<L402Service<Passed, ServicePrice>>,
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

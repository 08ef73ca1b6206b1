//! A ready-made paid API: the demo endpoints and paid routes from
//! configuration, as `l402 serve` runs them, with the discovery document
//! that lists them (`/.well-known/l402.json`) and, when set, an observer
//! (metrics) on every paid route.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use l402::Keyring;
use l402_lightning::Receiver;
use serde_json::json;

use l402_server::discovery::{Catalog, Endpoint, WELL_KNOWN_PATH};
use l402_server::observe::Observer;
use l402_server::{L402Layer, L402LayerBuilder, Paid, RemoteProducer, SalesRecorder};

use super::demo::{self, Demo, DemoSettings};

/// The demo endpoint's path.
pub const DEMO_PATH: &str = "/api/demo/joke";
/// The demo endpoint's price.
pub const DEMO_PRICE_SATS: u64 = 21;

const JOKES: &[&str] = &[
    "Why did the Lightning node break up with the blockchain? It wanted something off-chain.",
    "A macaroon walks into a bar. The bartender says: sorry, we only serve caveats.",
    "HTTP 402 waited 27 years for a payment. Now it settles in milliseconds.",
];

/// A route that serves fixed content after payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidRoute {
    /// The path (`/api/report`).
    pub path: String,
    /// Its price in sats (at least 1).
    pub price_sats: u64,
    /// The invoice description (default `GET <path>`).
    pub description: Option<String>,
    /// The content served after payment.
    pub body: Bytes,
    /// Its content type.
    pub content_type: String,
}

/// Assembles an axum [`Router`] with paid routes behind [`L402Layer`]s.
#[must_use]
pub struct App {
    seller: Seller,
    routes: Vec<PaidRoute>,
    demo: bool,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    recorder: Option<Arc<dyn SalesRecorder>>,
    observer: Option<Arc<dyn Observer>>,
    demo_settings: DemoSettings,
    services: ServiceEndpoints,
}

/// The proxied services' entries in the discovery document, replaced
/// whenever the service set changes (admin API, merchants' proxies,
/// SIGHUP, another instance's change): the document is assembled from them
/// on each request. Cheap to clone: clones share the list.
#[derive(Clone, Debug, Default)]
pub struct ServiceEndpoints(Arc<RwLock<Arc<Vec<Endpoint>>>>);

impl ServiceEndpoints {
    /// Lists `endpoints` from now on.
    pub fn set(&self, endpoints: Vec<Endpoint>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(endpoints);
    }

    /// The endpoints listed now.
    pub fn get(&self) -> Arc<Vec<Endpoint>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Who mints and verifies: this process, or a remote producer API.
enum Seller {
    Local {
        receiver: Arc<dyn Receiver>,
        keys: Keyring,
    },
    Remote(RemoteProducer),
}

impl App {
    /// An app minting with `receiver` and signing with `keys`.
    pub fn new(receiver: Arc<dyn Receiver>, keys: Keyring) -> Self {
        Self::with(Seller::Local { receiver, keys })
    }

    /// An app whose routes are sold through a remote producer API (one
    /// client, shared by every route). Token lifetime, invoice expiry and
    /// the recorder are then the producer's.
    pub fn remote(producer: RemoteProducer) -> Self {
        Self::with(Seller::Remote(producer))
    }

    fn with(seller: Seller) -> Self {
        App {
            seller,
            routes: Vec::new(),
            demo: true,
            token_lifetime: Duration::from_secs(3600),
            invoice_expiry: Duration::from_secs(600),
            recorder: None,
            observer: None,
            demo_settings: DemoSettings::default(),
            services: ServiceEndpoints::default(),
        }
    }

    /// Reports every paid route's requests, challenges, verifications and
    /// invoices to `observer` (the metrics), labelled with the route's path.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The demo's settings (its price source).
    pub fn demo_settings(mut self, settings: DemoSettings) -> Self {
        self.demo_settings = settings;
        self
    }

    /// Lists the proxied services' endpoints held by `services` (read on
    /// each request for the discovery document).
    pub fn service_endpoints(mut self, services: ServiceEndpoints) -> Self {
        self.services = services;
        self
    }

    /// The discovery catalog without the proxied services' endpoints
    /// (added per request): the demo's paid endpoints (while it is on),
    /// then the paid routes.
    fn fixed_catalog(&self) -> Catalog {
        let mut catalog = Catalog::new("l402")
            .description("Paid HTTP endpoints: pay per request over Lightning (L402)");
        if self.demo {
            catalog.push(
                Endpoint::new("GET", demo::BTC_PRICE_PATH, demo::BTC_PRICE_SATS)
                    .description("l402 demo: the BTC price")
                    .demo(true),
            );
            catalog.push(
                Endpoint::new("GET", DEMO_PATH, DEMO_PRICE_SATS).description("l402 demo: one joke"),
            );
        }
        for route in &self.routes {
            let description = route
                .description
                .clone()
                .unwrap_or_else(|| format!("GET {}", route.path));
            catalog
                .push(Endpoint::new("GET", &route.path, route.price_sats).description(description));
        }
        catalog
    }

    /// Records every route's sales (see [`SalesRecorder`]).
    pub fn recorder(mut self, recorder: Arc<dyn SalesRecorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Serve the demo endpoint at [`DEMO_PATH`] (default on).
    pub fn demo(mut self, on: bool) -> Self {
        self.demo = on;
        self
    }

    /// Adds a paid route.
    pub fn route(mut self, route: PaidRoute) -> Self {
        self.routes.push(route);
        self
    }

    /// How long paid tokens stay valid.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How long invoices stay payable.
    pub fn invoice_expiry(mut self, expiry: Duration) -> Self {
        self.invoice_expiry = expiry;
        self
    }

    fn layer(&self, price: u64, path: &str) -> L402LayerBuilder {
        self.layer_observed(price, path, self.observer.clone())
    }

    fn layer_observed(
        &self,
        price: u64,
        path: &str,
        observer: Option<Arc<dyn Observer>>,
    ) -> L402LayerBuilder {
        let layer = match &self.seller {
            Seller::Local { receiver, keys } => L402Layer::builder(receiver.clone(), keys.clone()),
            Seller::Remote(producer) => L402Layer::remote(producer.clone()),
        };
        let mut layer = layer
            .price_sats(price)
            .token_lifetime(self.token_lifetime)
            .invoice_expiry(self.invoice_expiry)
            .route_label(path);
        if let Some(observer) = observer {
            layer = layer.observer(observer);
        }
        match &self.recorder {
            Some(recorder) => layer.recorder(recorder.clone()),
            None => layer,
        }
    }

    /// The router.
    pub fn build(self) -> Router {
        let mut index = Vec::new();
        let mut router = Router::new();
        if self.demo {
            index.push(json!({"path": DEMO_PATH, "price_sats": DEMO_PRICE_SATS, "demo": true}));
            index.push(json!({
                "path": demo::BTC_PRICE_PATH,
                "price_sats": demo::BTC_PRICE_SATS,
                "demo": true,
            }));
            router = router.route(
                DEMO_PATH,
                get(joke).layer(
                    self.layer(DEMO_PRICE_SATS, DEMO_PATH)
                        .description("l402 demo: one joke")
                        .build(),
                ),
            );
            let receiver = match &self.seller {
                Seller::Local { receiver, .. } => Some(receiver.clone()),
                Seller::Remote(_) => None,
            };
            let demo = Arc::new(Demo::new(&self.demo_settings, receiver));
            let observer = demo.observer(self.observer.clone());
            let btc_price = get(demo::btc_price).layer(
                self.layer_observed(demo::BTC_PRICE_SATS, demo::BTC_PRICE_PATH, Some(observer))
                    .description("l402 demo: the BTC price")
                    .build(),
            );
            router = router.merge(demo.router(btc_price));
        }
        for route in &self.routes {
            index.push(json!({"path": route.path, "price_sats": route.price_sats}));
            let mut layer = self.layer(route.price_sats, &route.path);
            if let Some(d) = &route.description {
                layer = layer.description(d.clone());
            }
            let content = Arc::new(route.clone());
            router = router.route(
                &route.path,
                get(fixed_content).with_state(content).layer(layer.build()),
            );
        }
        let index = Arc::new(json!({
            "name": "l402",
            "protocol": "L402",
            "routes": index,
            "discovery": WELL_KNOWN_PATH,
        }));
        let fixed = Arc::new(self.fixed_catalog());
        let services = self.services.clone();
        router = router.route(
            WELL_KNOWN_PATH,
            get(move || {
                let mut catalog = (*fixed).clone();
                for endpoint in services.get().iter() {
                    catalog.push(endpoint.clone());
                }
                async move {
                    let (parts, body) = catalog.response().into_parts();
                    Response::from_parts(parts, axum::body::Body::from(body))
                }
            }),
        );
        router.route(
            "/",
            get(move || {
                let index = index.clone();
                async move { axum::Json((*index).clone()) }
            }),
        )
    }
}

async fn joke(paid: Paid) -> axum::Json<serde_json::Value> {
    let pick = usize::from(paid.payment_hash.0[0]) % JOKES.len();
    axum::Json(json!({
        "joke": JOKES[pick],
        "paid": {
            "resource": paid.resource,
            "amount_sats": paid.amount_sats,
            "payment_hash": paid.payment_hash.to_string(),
            "valid_until": paid.valid_until,
        }
    }))
}

async fn fixed_content(State(route): State<Arc<PaidRoute>>, _paid: Paid) -> Response {
    let mut response = route.body.clone().into_response();
    if let Ok(value) = HeaderValue::from_str(&route.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

//! # l402-metrics: Prometheus metrics for L402 sellers
//!
//! [`Metrics`] is a registry (the official `prometheus-client`) that
//! implements l402-server's [`Observer`]: set it on the layers and it counts
//! requests by route and outcome, challenges, verification results by reason,
//! invoice creation latency and errors by backend; feed it the node's
//! settlements ([`Metrics::settled`]) and it counts payments and revenue by
//! the route that sold them. A proxy reports rate-limited requests and
//! upstream latency by service ([`Metrics::rate_limited`],
//! [`Metrics::upstream`]); a health probe the backend's state
//! ([`Metrics::backend_up`]). [`Metrics::render`] writes the Prometheus text
//! format (or OpenMetrics); serving it over HTTP is the caller's.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `l402_build_info` | gauge (1) | `version`, `backend` |
//! | `l402_requests_total` | counter | `route`, `outcome` (`free`, `challenged`, `paid`, `rejected`, `unavailable`) |
//! | `l402_challenges_issued_total` | counter | `route` |
//! | `l402_credentials_verified_total` | counter | `result` (`ok` or a `VerifyError::code`) |
//! | `l402_invoice_create_duration_seconds` | histogram | `backend` |
//! | `l402_invoice_create_errors_total` | counter | `backend`, `reason` |
//! | `l402_payments_settled_total` | counter | `route` |
//! | `l402_revenue_sats_total` | counter | `route` |
//! | `l402_rate_limited_total` | counter | `service` |
//! | `l402_upstream_request_duration_seconds` | histogram | `service` |
//! | `l402_backend_up` | gauge | `backend` |
//!
//! No label is ever a raw path, payment hash, token id or client address.
//! Routes and services are bounded: past [`DEFAULT_MAX_ROUTES`] distinct
//! names the rest share the series `other`. Challenges waiting for their
//! settlement are remembered (payment hash → route) up to
//! [`DEFAULT_MAX_PENDING`], the oldest forgotten first; a settlement nobody
//! remembers (issued before a restart, or by the producer API) is counted
//! under the route `unattributed`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use l402_metrics::Metrics;
//! use l402_server::observe::{Observer, Outcome};
//!
//! let metrics = Arc::new(Metrics::builder().backend("dev").build());
//! metrics.request("/api/report", Outcome::Challenged);
//! metrics.invoice("dev", Duration::from_millis(3), Ok(()));
//! let text = metrics.render();
//! assert!(text.contains(r#"l402_requests_total{route="/api/report",outcome="challenged"} 1"#));
//! assert!(text.contains("# TYPE l402_requests_total counter"));
//! ```

mod labels;
mod pending;
mod routes;
mod text;

use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use l402::PaymentHash;
use l402_server::IssuedChallenge;
use l402_server::observe::{Observer, Outcome};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use labels::{BackendLabels, BackendReasonLabels, BuildLabels, ResultLabels, ServiceLabels};
use pending::{Pending, Settle};
use routes::{RouteFamilies, RouteTable};

pub use routes::OTHER_ROUTE;
pub use text::{Format, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};

/// The most routes (and, separately, services) with series of their own.
pub const DEFAULT_MAX_ROUTES: usize = 256;

/// The most issued challenges remembered until their settlement (about 100
/// bytes each).
pub const DEFAULT_MAX_PENDING: usize = 100_000;

/// The route a settlement is counted under when no remembered challenge
/// names one.
pub const UNATTRIBUTED_ROUTE: &str = "unattributed";

type DurationFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Histogram buckets for backend and upstream calls: 5 ms to about 10 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// The metrics of one seller (see the [crate docs](crate)). Share it in an
/// `Arc`.
pub struct Metrics {
    registry: Registry,
    routes: RouteTable,
    pending: Pending,
    verified: Family<ResultLabels, Counter>,
    invoice_duration: DurationFamily<BackendLabels>,
    invoice_errors: Family<BackendReasonLabels, Counter>,
    rate_limited: Family<ServiceLabels, Counter>,
    upstream_duration: DurationFamily<ServiceLabels>,
    backend_up: Family<BackendLabels, Gauge>,
    services: RwLock<HashSet<Box<str>>>,
    max_routes: usize,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("routes", &self.routes.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Configures [`Metrics`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsBuilder {
    version: String,
    backend: String,
    max_routes: usize,
    max_pending: usize,
}

impl Metrics {
    /// Starts the metrics of a seller.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: "none".to_owned(),
            max_routes: DEFAULT_MAX_ROUTES,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }

    /// The Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        self.render_as(Format::Prometheus)
    }

    /// The exposition in `format`.
    pub fn render_as(&self, format: Format) -> String {
        let mut openmetrics = String::new();
        // Writing to a String cannot fail; an error would leave it partial.
        if prometheus_client::encoding::text::encode(&mut openmetrics, &self.registry).is_err() {
            openmetrics.clear();
        }
        match format {
            Format::OpenMetrics => openmetrics,
            Format::Prometheus => text::to_prometheus(&openmetrics),
        }
    }

    /// An invoice was paid (from the node's settlement stream): one payment
    /// and its amount (whole sats) for the route that issued it, else
    /// [`UNATTRIBUTED_ROUTE`]. A settlement delivered again (the stream is
    /// at least once after a reconnect) is counted once: the last
    /// [`DEFAULT_MAX_PENDING`] settled hashes are remembered.
    pub fn settled(&self, payment_hash: &PaymentHash, amount_msat: u64) {
        let route = match self.pending.settle(payment_hash) {
            Settle::Route(route) => route,
            Settle::Duplicate => return,
            Settle::Unknown => self.routes.get(UNATTRIBUTED_ROUTE),
        };
        route.settled.inc();
        route.revenue_sats.inc_by(amount_msat / 1000);
    }

    /// A request to `service` was refused by a rate limit (429).
    pub fn rate_limited(&self, service: &str) {
        let labels = self.service_labels(service);
        self.rate_limited.get_or_create(&labels).inc();
    }

    /// A request to `service`'s upstream took `elapsed`.
    pub fn upstream(&self, service: &str, elapsed: Duration) {
        let labels = self.service_labels(service);
        self.upstream_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Whether the Lightning backend (its kind, `dev`, `lnd`...) answers.
    pub fn backend_up(&self, backend: &'static str, up: bool) {
        self.backend_up
            .get_or_create(&BackendLabels { backend })
            .set(i64::from(up));
    }

    /// How many challenges wait for their settlement, and how many settled
    /// payment hashes are remembered (each at most the bound).
    pub fn pending_settlements(&self) -> (usize, usize) {
        self.pending.len()
    }

    /// How many routes have series of their own (at most the bound).
    pub fn routes(&self) -> usize {
        self.routes.len()
    }

    /// A service's label: its name while there is room, else `other`.
    fn service_labels(&self, service: &str) -> ServiceLabels {
        let known = self
            .services
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(service);
        if !known {
            let mut services = self
                .services
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if services.len() >= self.max_routes {
                return ServiceLabels {
                    service: OTHER_ROUTE.to_owned(),
                };
            }
            services.insert(service.into());
        }
        ServiceLabels {
            service: service.to_owned(),
        }
    }
}

impl Observer for Metrics {
    fn request(&self, route: &str, outcome: Outcome) {
        self.routes.get(route).outcome(outcome).inc();
    }

    fn verification(&self, _route: &str, result: Result<(), &'static str>) {
        let result = match result {
            Ok(()) => "ok",
            Err(code) => code,
        };
        self.verified.get_or_create(&ResultLabels { result }).inc();
    }

    fn challenge_issued(&self, route: &str, issued: &IssuedChallenge) {
        let counters = self.routes.get(route);
        counters.challenges.inc();
        self.pending.insert(issued.payment_hash, counters);
    }

    fn invoice(&self, backend: &'static str, elapsed: Duration, result: Result<(), &'static str>) {
        let labels = BackendLabels { backend };
        self.invoice_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Err(reason) = result {
            self.invoice_errors
                .get_or_create(&BackendReasonLabels { backend, reason })
                .inc();
        }
    }
}

impl MetricsBuilder {
    /// The backend kind for `l402_build_info` (`dev`, `lnd`...).
    pub fn backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = backend.into();
        self
    }

    /// The version for `l402_build_info` (default: this crate's).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The most routes, and services, with series of their own (default
    /// [`DEFAULT_MAX_ROUTES`]).
    pub fn max_routes(mut self, max: usize) -> Self {
        self.max_routes = max;
        self
    }

    /// The most challenges remembered until their settlement (default
    /// [`DEFAULT_MAX_PENDING`]).
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// Builds the registry.
    pub fn build(self) -> Metrics {
        let mut registry = Registry::with_prefix("l402");
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: self.version,
                backend: self.backend,
            })
            .set(1);
        registry.register("build_info", "Build of this server, always 1", build_info);
        let families = RouteFamilies::default();
        registry.register(
            "requests",
            "Requests that reached a paid route, by route pattern and outcome",
            families.requests.clone(),
        );
        registry.register(
            "challenges_issued",
            "New L402 challenges (invoice and macaroon) issued, by route",
            families.challenges.clone(),
        );
        let verified = Family::<ResultLabels, Counter>::default();
        registry.register(
            "credentials_verified",
            "Credential checks: ok once per newly verified token, else the refusal code",
            verified.clone(),
        );
        let invoice_duration: DurationFamily<BackendLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "invoice_create_duration",
            "Time the Lightning backend took to create an invoice",
            Unit::Seconds,
            invoice_duration.clone(),
        );
        let invoice_errors = Family::<BackendReasonLabels, Counter>::default();
        registry.register(
            "invoice_create_errors",
            "Invoices the Lightning backend did not create, by reason",
            invoice_errors.clone(),
        );
        registry.register(
            "payments_settled",
            "Invoices paid, as the node reported them, by the route that sold them",
            families.settled.clone(),
        );
        registry.register(
            "revenue_sats",
            "Sats received in settled invoices, by the route that sold them",
            families.revenue_sats.clone(),
        );
        let rate_limited = Family::<ServiceLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit (429), by service",
            rate_limited.clone(),
        );
        let upstream_duration: DurationFamily<ServiceLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "upstream_request_duration",
            "Time an upstream took to answer a proxied request, by service",
            Unit::Seconds,
            upstream_duration.clone(),
        );
        let backend_up = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "backend_up",
            "Whether the Lightning backend answered its last call (1) or not (0)",
            backend_up.clone(),
        );
        Metrics {
            registry,
            routes: RouteTable::new(families, self.max_routes),
            pending: Pending::new(self.max_pending),
            verified,
            invoice_duration,
            invoice_errors,
            rate_limited,
            upstream_duration,
            backend_up,
            services: RwLock::new(HashSet::new()),
            max_routes: self.max_routes,
        }
    }
}

#[cfg(test)]
mod tests;

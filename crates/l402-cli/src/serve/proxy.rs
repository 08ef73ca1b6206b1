//! `l402 serve` with `[[services]]`: the reverse proxy (l402-proxy) as the
//! server's fallback, so the demo, the paid routes, the dev node and the
//! producer API answer first and every other request is matched against
//! the services in order. Each service sells through an `L402Layer` built
//! like the paid routes' (same receiver, keys, invoice expiry, recorder),
//! with the service's price, name, lifetime and capabilities.

use std::sync::Arc;
use std::time::Duration;

use l402::Keyring;
use l402_lightning::Receiver;
use l402_proxy::Proxy;
use l402_proxy::counters::SharedCounters;
use l402_proxy::observe::Propagate;
use l402_server::discovery::Endpoint;
use l402_server::{L402Layer, L402LayerBuilder, RemoteProducer, SalesRecorder};
use serde_json::{Value, json};

use super::metrics::ProxyMetrics;
use crate::config::{Config, ServiceSpec};
use l402_metrics::Metrics;

/// What every proxy `l402 serve` builds sells and counts with, handed
/// explicitly to each build (at start, on SIGHUP, after an admin API or
/// merchant change): the backend's receiver, the keys that sign tokens,
/// where sales are recorded, the metrics, and the freebie and rate-limit
/// counters shared across instances (PostgreSQL), so a rebuilt proxy keeps
/// the counts.
#[derive(Clone)]
pub(super) struct ProxyContext {
    /// Issues and checks the invoices.
    pub(super) receiver: Arc<dyn Receiver>,
    /// Signs and verifies the tokens.
    pub(super) keys: Keyring,
    /// Records the sales (the producer's store), if any.
    pub(super) recorder: Option<Arc<dyn SalesRecorder>>,
    /// Counts requests, challenges and upstream calls, if `[metrics]` is on.
    pub(super) metrics: Option<Arc<Metrics>>,
    /// Freebies and rate limits shared with other instances, if any.
    pub(super) counters: Option<Arc<dyn SharedCounters>>,
    /// Writes trace context into upstream requests, when spans are
    /// exported.
    pub(super) propagate: Option<Arc<dyn Propagate>>,
}

impl ProxyContext {
    /// The same context, its sales recorded by `recorder` instead (a
    /// merchant's proxy sells for its merchant).
    pub(super) fn recording(&self, recorder: Option<Arc<dyn SalesRecorder>>) -> Self {
        ProxyContext {
            recorder,
            ..self.clone()
        }
    }
}

/// The proxy for `config`'s services, or `None` when there are none.
///
/// # Errors
/// A service the proxy refuses (already checked when the config was read).
pub(super) fn build(config: &Config, context: &ProxyContext) -> anyhow::Result<Option<Proxy>> {
    build_services(config, &config.services, context)
}

/// The proxy for `services` (the configuration's, or those added at
/// runtime: `serve/catalog.rs`), sold as [`build`]'s.
///
/// # Errors
/// A service the proxy refuses.
pub(super) fn build_services(
    config: &Config,
    services: &[ServiceSpec],
    context: &ProxyContext,
) -> anyhow::Result<Option<Proxy>> {
    let lifetime = Duration::from_secs(config.token_lifetime_secs);
    let expiry = Duration::from_secs(config.invoice_expiry_secs);
    let ProxyContext {
        receiver,
        keys,
        recorder,
        metrics,
        counters,
        propagate,
    } = context.clone();
    let observer = metrics.clone();
    let layers = move || {
        let mut layer = L402Layer::builder(receiver.clone(), keys.clone())
            .token_lifetime(lifetime)
            .invoice_expiry(expiry);
        if let Some(recorder) = &recorder {
            layer = layer.recorder(recorder.clone());
        }
        if let Some(metrics) = &observer {
            layer = layer.observer(metrics.clone());
        }
        layer
    };
    with_layers(services, layers, metrics, counters, propagate)
}

/// The proxy for `config`'s services sold through a remote producer API
/// (`[remote]`): challenges and verification are the producer's, as for
/// the paid routes; token lifetime and invoice expiry too.
///
/// # Errors
/// A service the proxy refuses (already checked when the config was read).
pub(super) fn build_remote(
    config: &Config,
    producer: RemoteProducer,
    propagate: Option<Arc<dyn Propagate>>,
) -> anyhow::Result<Option<Proxy>> {
    let layers = move || L402Layer::remote(producer.clone());
    with_layers(&config.services, layers, None, None, propagate)
}

fn with_layers(
    services: &[ServiceSpec],
    layers: impl Fn() -> L402LayerBuilder + 'static,
    metrics: Option<Arc<Metrics>>,
    counters: Option<Arc<dyn SharedCounters>>,
    propagate: Option<Arc<dyn Propagate>>,
) -> anyhow::Result<Option<Proxy>> {
    if services.is_empty() {
        return Ok(None);
    }
    let mut proxy = Proxy::builder(layers);
    if let Some(propagate) = propagate {
        proxy = proxy.propagate(propagate);
    }
    if let Some(counters) = counters {
        proxy = proxy.shared_counters(counters);
    }
    if let Some(metrics) = metrics {
        proxy = proxy.observer(Arc::new(ProxyMetrics(metrics)));
    }
    for spec in services {
        let service = spec
            .build()
            .map_err(|e| anyhow::anyhow!("services: {}: {e}", spec.name))?;
        proxy = proxy.service(service);
    }
    Ok(Some(proxy.build()))
}

/// The services as the discovery document lists them: one entry per
/// service that sells (any method; `path` the literal start of its path
/// pattern, `path_pattern` the pattern itself), with its name, price and
/// description. Free services (`auth = off`, price 0) are not listed.
pub(super) fn endpoints(services: &[ServiceSpec]) -> Vec<Endpoint> {
    services
        .iter()
        .filter(|s| s.auth != l402_proxy::Auth::Off && s.price_sats > 0)
        .map(|s| {
            let path = s
                .pathregexp
                .as_deref()
                .map_or("/".to_owned(), literal_start);
            let description = s
                .description
                .clone()
                .unwrap_or_else(|| format!("{} (proxied)", s.name));
            Endpoint::new("ANY", path, s.price_sats)
                .description(description)
                .service(s.name.clone())
                .patterns(s.pathregexp.clone(), s.hostregexp.clone())
        })
        .collect()
}

/// A merchant's proxy mounted at `<base><name>` as the discovery document
/// lists it: the path under the mount, the pattern anchored there (an
/// unanchored pattern is not listed: it matches anywhere after the mount).
pub(super) fn mounted_endpoints(base: &str, name: &str, spec: &ServiceSpec) -> Vec<Endpoint> {
    let mount = format!("{}/{name}", base.trim_end_matches('/'));
    endpoints(std::slice::from_ref(spec))
        .into_iter()
        .map(|mut e| {
            e.path = format!("{mount}{}", e.path);
            e.path_pattern = e.path_pattern.and_then(|p| {
                p.strip_prefix('^')
                    .map(|rest| format!("^{}{rest}", regex::escape(&mount)))
            });
            e
        })
        .collect()
}

/// The literal text a path pattern starts with (`^/api/v1/.*` -> `/api/v1/`),
/// `/` when it starts with none.
fn literal_start(pattern: &str) -> String {
    let rest = pattern.strip_prefix('^').unwrap_or(pattern);
    let literal: String = rest
        .chars()
        .take_while(|c| !"\\.+*?()|[]{}^$".contains(*c))
        .collect();
    if literal.starts_with('/') {
        literal
    } else {
        "/".to_owned()
    }
}

/// The services as the JSON announcement lists them (no header values).
pub(super) fn announced(services: &[ServiceSpec]) -> Vec<Value> {
    services
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "address": s.address,
                "protocol": s.protocol.as_str(),
                "price_sats": s.price_sats,
                "pricer": s.upstream.pricer.as_ref().map(|p| p.url.as_str()),
                "shadow": s.shadow,
                "auth": match s.auth {
                    l402_proxy::Auth::On => "on".to_owned(),
                    l402_proxy::Auth::Off => "off".to_owned(),
                    l402_proxy::Auth::Freebie(n) => format!("freebie {n}"),
                },
            })
        })
        .collect()
}

/// One line per service for the text banner.
pub(super) fn print_banner(services: &[ServiceSpec]) {
    for s in services {
        let matching = match (&s.hostregexp, &s.pathregexp) {
            (None, None) => "any request".to_owned(),
            (Some(h), None) => format!("host ~ {h}"),
            (None, Some(p)) => format!("path ~ {p}"),
            (Some(h), Some(p)) => format!("host ~ {h}, path ~ {p}"),
        };
        println!(
            "  service:  {} -> {}://{} ({matching}; {} sats)",
            s.name,
            s.protocol.as_str(),
            s.address,
            s.price_sats
        );
    }
}

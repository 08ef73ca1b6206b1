//! The proxy's services at runtime: the configuration file's
//! `[[services]]` (read-only, reloaded on SIGHUP) and those in the store
//! (added through the producer's admin API, or by merchants through
//! Lightning Enable's `POST /api/proxy`). [`Catalog`] implements the
//! producer's [`ProxyCatalog`]: definitions are checked with the same code
//! as the file's (`config::services::resolve_list`), and after each change
//! the whole set is rebuilt and swapped into the [`LiveProxy`] the router
//! falls back to; requests in flight finish on the set they started on.
//!
//! Merchants' proxies are mounted at `/l402/proxy/{proxyId}` and sell for
//! their merchant (the producer's `merchant_sales_recorder`). Their
//! upstream is resolved when the set is built, each address checked
//! public (unless `[proxy] allow_private_upstreams`), and the first
//! address allowed is the one connected to (the original host is sent as
//! `Host`; for an `https` upstream the host stays in the URI, naming the
//! TLS server, and the connection is pinned to that address), so a name
//! that later resolves elsewhere cannot reach an internal service.
//! Merchants' `https` upstreams are checked against the system's roots
//! plus `[proxy] merchant_ca_file`'s CA certificates, if set.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use l402_producer::{
    CatalogFuture, PROXY_MOUNT, Producer, ProxyCatalog, ServiceOwner, ServiceRejected,
};
use l402_proxy::{LiveProxy, Proxy, ProxySet};
use l402_store::{ProxyServiceStore, Store};
use serde_json::Value;

use super::app::ServiceEndpoints;
use super::proxy::ProxyContext;
use crate::config::{Config, ServiceConfig, ServiceSpec};

/// What a stored definition is called in errors and logs.
const SOURCE: &str = "admin API";

/// The services behind `l402 serve`'s proxy.
pub(super) struct Catalog {
    live: LiveProxy,
    /// The configuration (its `services` replaced on SIGHUP).
    config: RwLock<Config>,
    store: Option<Arc<Store>>,
    producer: Option<Producer>,
    /// What the proxies are built with (sales recorded by the producer's
    /// recorder; a merchant's by its merchant's).
    context: ProxyContext,
    /// The discovery document's services, replaced after each rebuild.
    discovery: ServiceEndpoints,
    /// The stored services the last rebuild read ([`fingerprint`]): what
    /// [`follow_store`] compares the store with.
    seen: std::sync::atomic::AtomicU64,
    /// What the last rebuild built (one rebuild at a time): an unchanged
    /// part is kept as it is, with its connection pool and its freebie
    /// counts (a merchant's new proxy does not reset the others').
    built: tokio::sync::Mutex<Built>,
}

/// The parts of the set in use, by the specs they were built from.
#[derive(Default)]
struct Built {
    main: Option<(Vec<ServiceSpec>, Option<Proxy>)>,
    mounts: HashMap<String, (i64, ServiceSpec, Proxy)>,
}

fn rejected(field: impl Into<String>, reason: impl Into<String>) -> ServiceRejected {
    ServiceRejected {
        field: field.into(),
        reason: reason.into(),
        private_upstream: false,
    }
}

impl Catalog {
    /// A catalog serving `config`'s services until [`Catalog::reload`]
    /// adds the store's.
    pub(super) fn new(
        config: &Config,
        initial: Option<Proxy>,
        producer: Option<(Producer, Arc<Store>)>,
        context: ProxyContext,
        discovery: ServiceEndpoints,
    ) -> Self {
        let (producer, store) = producer.unzip();
        Catalog {
            live: LiveProxy::new(ProxySet::new(initial.clone())),
            config: RwLock::new(config.clone()),
            store,
            producer,
            context,
            discovery,
            seen: std::sync::atomic::AtomicU64::new(0),
            built: tokio::sync::Mutex::new(Built {
                main: Some((config.services.clone(), initial)),
                mounts: HashMap::new(),
            }),
        }
    }

    /// The service the router falls back to.
    pub(super) fn live(&self) -> LiveProxy {
        self.live.clone()
    }

    fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A stored definition checked as the file's services are; `None`
    /// and the reason when it is refused.
    fn resolve(definition: &Value) -> Result<ServiceSpec, ServiceRejected> {
        let written: ServiceConfig = serde_json::from_value(definition.clone())
            .map_err(|e| rejected("(body)", e.to_string()))?;
        // Files on this machine are the operator's: not readable through
        // the API (`${VAR}` from the environment is).
        if let Some((name, _)) = written.headers.iter().find(|(_, v)| v.starts_with("!file")) {
            return Err(rejected(
                format!("headers.{name}"),
                "!file: values are for the configuration file only",
            ));
        }
        let env = |k: &str| std::env::var(k).ok();
        let mut specs = crate::config::resolve_services(SOURCE, vec![written], None, &env)
            .map_err(|e| {
                let field = e
                    .key
                    .strip_prefix("services[0].")
                    .unwrap_or(&e.key)
                    .to_owned();
                rejected(field, e.reason)
            })?;
        specs
            .pop()
            .ok_or_else(|| rejected("(body)", "no service in the definition"))
    }

    /// A merchant's service with its upstream resolved and checked: the
    /// address connected to is the first allowed one, the host sent as
    /// `Host`.
    async fn pin(&self, mut spec: ServiceSpec) -> Result<ServiceSpec, ServiceRejected> {
        let config = self.config();
        let allow_private = config.allow_private_upstreams;
        let (host, port) = spec
            .address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| rejected("address", "must be host:port"))?;
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let found: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|e| rejected("address", format!("{host} does not resolve: {e}")))?
            .collect();
        let Some(addr) = found
            .iter()
            .find(|a| allow_private || l402::address::is_public(a.ip()))
        else {
            return Err(ServiceRejected {
                field: "address".to_owned(),
                reason: format!(
                    "{host} resolves only to private, loopback or link-local addresses; \
                     merchants' proxies must reach public hosts"
                ),
                private_upstream: true,
            });
        };
        if spec.protocol == l402_proxy::Protocol::Https {
            // The host stays the TLS server's name (SNI, certificate); the
            // connection goes to the address checked here.
            spec.upstream.trust = config.merchant_trust.clone();
            spec.upstream.connect_to = Some(*addr);
            return Ok(spec);
        }
        let host_header = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        spec.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("host"));
        spec.headers.push(("host".to_owned(), host_header));
        spec.address = addr.to_string();
        Ok(spec)
    }

    /// The file's services changed (SIGHUP): what was added, removed and
    /// changed, then the set rebuilt.
    pub(super) async fn set_configured(&self, services: Vec<ServiceSpec>) -> String {
        let summary = {
            let mut config = self
                .config
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let summary = changes(&config.services, &services);
            config.services = services;
            summary
        };
        self.rebuild().await;
        summary
    }

    /// Builds the set from the file's services and the store's, and swaps
    /// it in. A stored service that no longer loads is left out (and
    /// logged); if the store cannot be read, the set in use is kept.
    pub(super) async fn rebuild(&self) {
        let mut built = self.built.lock().await;
        let config = self.config();
        let stored = match &self.store {
            Some(store) => match store.proxy_services().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!(
                        "warning: proxy: cannot read the stored services ({e}); the services in use are kept"
                    );
                    return;
                }
            },
            None => Vec::new(),
        };
        self.seen
            .store(fingerprint(&stored), std::sync::atomic::Ordering::Relaxed);
        let mut main = config.services.clone();
        let mut mounts = Vec::new();
        for row in stored {
            if config.services.iter().any(|s| s.name == row.name) {
                eprintln!(
                    "warning: proxy: stored service {:?} is left out: the configuration file has a service of that name",
                    row.name
                );
                continue;
            }
            let spec = serde_json::from_str::<Value>(&row.definition)
                .map_err(|e| rejected("(definition)", e.to_string()))
                .and_then(|d| Self::resolve(&d));
            let spec = match (spec, row.merchant_id) {
                (Ok(spec), Some(m)) => self.pin(spec).await.map(|s| (s, Some(m))),
                (Ok(spec), None) => Ok((spec, None)),
                (Err(e), _) => Err(e),
            };
            match spec {
                Ok((spec, None)) => main.push(spec),
                Ok((spec, Some(m))) => mounts.push((row.name, m, spec)),
                Err(e) => eprintln!(
                    "warning: proxy: stored service {:?} is left out: {}: {}",
                    row.name, e.field, e.reason
                ),
            }
        }
        let kept = match &built.main {
            Some((specs, proxy)) if *specs == main => Some(proxy.clone()),
            _ => None,
        };
        let main_proxy = match kept {
            Some(proxy) => proxy,
            None => match super::proxy::build_services(&config, &main, &self.context) {
                Ok(proxy) => proxy,
                Err(e) => {
                    eprintln!("warning: proxy: {e:#}; the services in use are kept");
                    return;
                }
            },
        };
        let mut set = ProxySet::new(main_proxy.clone()).mount_base(PROXY_MOUNT);
        let mut now = HashMap::new();
        for (name, merchant, spec) in mounts {
            let proxy = match built.mounts.remove(&name) {
                Some((m, s, proxy)) if m == merchant && s == spec => proxy,
                _ => {
                    let recorder = self
                        .producer
                        .as_ref()
                        .map(|p| p.merchant_sales_recorder(merchant));
                    let context = self.context.recording(recorder);
                    match super::proxy::build_services(
                        &config,
                        std::slice::from_ref(&spec),
                        &context,
                    ) {
                        Ok(Some(proxy)) => proxy,
                        Ok(None) => continue,
                        Err(e) => {
                            eprintln!("warning: proxy: stored service {name:?} is left out: {e:#}");
                            continue;
                        }
                    }
                }
            };
            set = set.mount(name.clone(), proxy.clone());
            now.insert(name, (merchant, spec, proxy));
        }
        self.live.replace(set);
        let mut endpoints = super::proxy::endpoints(&main);
        for (name, (_, spec, _)) in &now {
            endpoints.extend(super::proxy::mounted_endpoints(PROXY_MOUNT, name, spec));
        }
        self.discovery.set(endpoints);
        *built = Built {
            main: Some((main, main_proxy)),
            mounts: now,
        };
    }
}

/// A digest of the stored services' rows (names, owners, definitions):
/// another instance's change through the admin API or `POST /api/proxy`
/// changes it.
fn fingerprint(rows: &[l402_store::ProxyService]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    rows.len().hash(&mut hasher);
    for row in rows {
        (&row.name, row.merchant_id, &row.definition).hash(&mut hasher);
    }
    hasher.finish()
}

/// Every `every`, the store's services read and, when they differ from
/// those the set was last built from (another `l402 serve` on the same
/// PostgreSQL changed them), the set rebuilt and swapped in: no SIGHUP
/// needed. A store that cannot be read is tried again next time.
pub(super) fn follow_store(catalog: Arc<Catalog>, every: std::time::Duration) {
    let Some(store) = catalog.store.clone() else {
        return;
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Ok(rows) = store.proxy_services().await else {
                continue;
            };
            let seen = catalog.seen.load(std::sync::atomic::Ordering::Relaxed);
            if fingerprint(&rows) != seen {
                catalog.rebuild().await;
            }
        }
    });
}

/// On each SIGHUP: the configuration file read again and its services
/// swapped in (what changed is printed); a file that does not load keeps
/// the services in use, and says why.
pub(super) fn reload_on_sighup(
    catalog: Arc<Catalog>,
    file: Option<std::path::PathBuf>,
    overrides: crate::config::Overrides,
) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            eprintln!("warning: SIGHUP cannot be caught: the configuration is not reloaded on it");
            return;
        };
        while hangups.recv().await.is_some() {
            match crate::config::load(file.as_deref(), &overrides) {
                Ok(config) => {
                    let summary = catalog.set_configured(config.services).await;
                    eprintln!("l402 serve: SIGHUP: services reloaded: {summary}");
                }
                Err(e) => eprintln!(
                    "l402 serve: SIGHUP: configuration not reloaded, the services in use are kept: {e}"
                ),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (catalog, file, overrides);
}

/// `added a, b; removed c; changed d` (or `no change`).
fn changes(old: &[ServiceSpec], new: &[ServiceSpec]) -> String {
    let names = |list: &[ServiceSpec]| list.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let added: Vec<String> = names(new)
        .into_iter()
        .filter(|n| !old.iter().any(|o| &o.name == n))
        .collect();
    let removed: Vec<String> = names(old)
        .into_iter()
        .filter(|n| !new.iter().any(|s| &s.name == n))
        .collect();
    let changed: Vec<String> = new
        .iter()
        .filter(|s| old.iter().any(|o| o.name == s.name && o != *s))
        .map(|s| s.name.clone())
        .collect();
    let mut parts = Vec::new();
    for (what, list) in [("added", added), ("removed", removed), ("changed", changed)] {
        if !list.is_empty() {
            parts.push(format!("{what} {}", list.join(", ")));
        }
    }
    if parts.is_empty() {
        "no change".to_owned()
    } else {
        parts.join("; ")
    }
}

impl ProxyCatalog for Catalog {
    fn check<'a>(
        &'a self,
        definition: &'a Value,
        owner: ServiceOwner,
    ) -> CatalogFuture<'a, Result<(), ServiceRejected>> {
        Box::pin(async move {
            let spec = Self::resolve(definition)?;
            if let ServiceOwner::Merchant(_) = owner {
                self.pin(spec).await?;
            }
            Ok(())
        })
    }

    fn configured(&self) -> Vec<Value> {
        super::proxy::announced(&self.config().services)
    }

    fn reload(&self) -> CatalogFuture<'_, ()> {
        Box::pin(self.rebuild())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn definitions_are_checked_as_the_file_is() {
        let ok = Catalog::resolve(&json!({"name": "a", "address": "127.0.0.1:1", "price_sats": 3}));
        assert_eq!(ok.unwrap().price_sats, 3);
        let bad =
            Catalog::resolve(&json!({"name": "a", "address": "127.0.0.1:1", "auth": "maybe"}));
        assert_eq!(bad.unwrap_err().field, "auth");
        let unknown = Catalog::resolve(&json!({"name": "a", "address": "x:1", "nope": 1}));
        assert_eq!(unknown.unwrap_err().field, "(body)");
        let file = Catalog::resolve(
            &json!({"name": "a", "address": "127.0.0.1:1", "headers": {"k": "!file:/etc/passwd"}}),
        );
        assert_eq!(file.unwrap_err().field, "headers.k");
    }
}

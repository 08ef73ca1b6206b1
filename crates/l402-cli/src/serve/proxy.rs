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
use l402_server::{L402Layer, SalesRecorder};
use serde_json::{Value, json};

use crate::config::{Config, ServiceSpec};

/// The proxy for `config`'s services, or `None` when there are none.
///
/// # Errors
/// A service the proxy refuses (already checked when the config was read).
pub(super) fn build(
    config: &Config,
    receiver: Arc<dyn Receiver>,
    keys: Keyring,
    recorder: Option<Arc<dyn SalesRecorder>>,
) -> anyhow::Result<Option<Proxy>> {
    if config.services.is_empty() {
        return Ok(None);
    }
    let lifetime = Duration::from_secs(config.token_lifetime_secs);
    let expiry = Duration::from_secs(config.invoice_expiry_secs);
    let mut proxy = Proxy::builder(move || {
        let layer = L402Layer::builder(receiver.clone(), keys.clone())
            .token_lifetime(lifetime)
            .invoice_expiry(expiry);
        match &recorder {
            Some(recorder) => layer.recorder(recorder.clone()),
            None => layer,
        }
    });
    for spec in &config.services {
        let service = spec
            .build()
            .map_err(|e| anyhow::anyhow!("services: {}: {e}", spec.name))?;
        proxy = proxy.service(service);
    }
    Ok(Some(proxy.build()))
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

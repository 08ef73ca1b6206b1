//! `/dashboard` in `l402 serve` (with the producer): the merchant web page
//! of [`l402_dashboard`], over this server's producer and store, signing
//! the operator in with the same admin token as `/api/admin` (and managing
//! keys through those routes). Cookies are `Secure` when `[producer]
//! public_url` is https. The routes page lists this configuration's paid
//! routes (and the demo) and `[[services]]`, with their prices, shadow mode
//! and freebies.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use l402_dashboard::{Dashboard, Offer};
use l402_producer::Producer;
use l402_proxy::Auth;
use l402_store::Store;

use crate::config::Config;
use crate::config::ServiceSpec;
use crate::serve::DEMO_PATH;
use crate::serve::app::DEMO_PRICE_SATS;
use crate::state;

/// The literal text a pattern starts with (`^/weather/.*` → `/weather/`),
/// unescaping `\.`; `None` when that is empty.
fn literal_prefix(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.strip_prefix('^').unwrap_or(pattern).chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if !n.is_ascii_alphanumeric() => out.push(n),
                _ => break,
            },
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '$' | '^' => break,
            c => out.push(c),
        }
    }
    Some(out).filter(|o| !o.is_empty())
}

fn service_offer(s: &ServiceSpec) -> Offer {
    let path = s
        .pathregexp
        .as_deref()
        .and_then(literal_prefix)
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| "/".to_owned());
    let patterns: Vec<String> = [("host", &s.hostregexp), ("path", &s.pathregexp)]
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k} {v}")))
        .collect();
    let mut offer = Offer::service(&s.name, path, s.price_sats).shadow(s.shadow);
    if let Some(host) = s.hostregexp.as_deref().and_then(literal_prefix) {
        offer = offer.host(host);
    }
    if !patterns.is_empty() {
        offer = offer.pattern(patterns.join(", "));
    }
    if let Some(d) = &s.description {
        offer = offer.description(d);
    }
    match s.auth {
        Auth::Off => offer.free(true),
        Auth::Freebie(n) => offer.freebies(n),
        _ => offer,
    }
}

/// What the routes page lists: the demo, `[[routes]]`, `[[services]]`.
fn offers(config: &Config) -> Vec<Offer> {
    let mut out = Vec::new();
    if config.demo {
        out.push(Offer::route(DEMO_PATH, DEMO_PRICE_SATS).description("the demo joke"));
    }
    for r in &config.routes {
        let mut offer = Offer::route(&r.path, r.price_sats);
        if let Some(d) = &r.description {
            offer = offer.description(d);
        }
        out.push(offer);
    }
    out.extend(config.services.iter().map(service_offer));
    out
}

/// The dashboard's CSRF secret, derived from the server secret (the
/// keyring's current key, under a label no minted token id takes: token
/// ids are random after their key id): instances sharing the server secret
/// (`L402_SERVER_SECRET`) accept each other's forms.
fn csrf_secret(keyring: &l402::Keyring) -> anyhow::Result<[u8; 32]> {
    let mut label = [0u8; 32];
    label[..4].copy_from_slice(&keyring.current_key_id().to_be_bytes());
    let name = b"l402 dashboard csrf secret";
    label[4..4 + name.len()].copy_from_slice(name);
    keyring
        .root_key(&l402::TokenId(label))
        .map(|k| *k.as_bytes())
        .ok_or_else(|| anyhow::anyhow!("the keyring lacks its current key"))
}

/// The dashboard's routes.
pub fn router(
    producer: &Producer,
    store: Arc<Store>,
    data_dir: &Path,
    config: &Config,
) -> anyhow::Result<Router> {
    let (token, _) = state::admin_token(data_dir)?;
    let https = config
        .producer
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let mut dashboard = Dashboard::builder(producer.clone(), store)
        .secret(csrf_secret(&state::keyring(data_dir)?)?)
        .admin_token(token)
        .secure_cookies(https)
        .offers(offers(config));
    if let Some(url) = &config.producer.public_url {
        dashboard = dashboard.public_url(url);
    }
    Ok(dashboard.build().router())
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_give_a_path_to_try() {
        assert_eq!(
            super::literal_prefix("^/weather/.*").as_deref(),
            Some("/weather/")
        );
        assert_eq!(
            super::literal_prefix("^api\\.example\\.com$").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(super::literal_prefix(".*"), None);
    }
}

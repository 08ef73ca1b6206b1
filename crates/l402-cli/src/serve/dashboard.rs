//! `/dashboard` in `l402 serve` (with the producer): the merchant web page
//! of [`l402_dashboard`], over this server's producer and store, signing
//! the operator in with the same admin token as `/api/admin` (and managing
//! keys through those routes). Cookies are `Secure` when `[producer]
//! public_url` is https.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use l402_dashboard::Dashboard;
use l402_producer::Producer;
use l402_store::Store;

use crate::config::Config;
use crate::state;

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
    let dashboard = Dashboard::builder(producer.clone(), store)
        .admin_token(token)
        .secure_cookies(https)
        .build();
    Ok(dashboard.router())
}

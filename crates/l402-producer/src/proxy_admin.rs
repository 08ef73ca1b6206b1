//! Services behind the reverse proxy, changed at runtime: the admin API
//! (`/api/admin/services`, Aperture's shape) and Lightning Enable's proxy
//! mode (`POST /api/proxy` by a merchant, served under
//! `/l402/proxy/{proxyId}/...`).
//!
//! The producer authenticates, stores (the store's `proxy_services`) and
//! answers; the server that owns the proxy implements [`ProxyCatalog`]:
//! it checks a definition with the same code as its configuration file's
//! `[[services]]`, lists those (read-only, `source: "config"`), and loads
//! the stored set and swaps it in after each change.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use l402_store::{ProxyService, ServiceInserted, ServiceLimits, StoreError};
use serde_json::{Map, Value, json};

use super::decode::Fields;
use super::error::ApiError;
use super::extract::{Admin, Merchant};
use super::{Inner, Shared, json, read_body, store_unavailable};

/// A boxed future, as [`ProxyCatalog`] returns.
pub type CatalogFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The most services stored in all.
pub const MAX_STORED_SERVICES: u32 = 1_000;
/// The most proxies one merchant may create (`POST /api/proxy`).
pub const MAX_PROXIES_PER_MERCHANT: u32 = 20;

/// The path base merchant proxies are served under.
pub const PROXY_MOUNT: &str = "/l402/proxy/";

/// Who a service belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOwner {
    /// The operator (the admin API): any upstream.
    Operator,
    /// A merchant (`POST /api/proxy`): public upstreams only, unless the
    /// operator allows private ones.
    Merchant(i64),
}

/// Why a definition was refused: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRejected {
    /// The field (`price_sats`, `address`, `rewrite.prefix`...).
    pub field: String,
    /// Why, for the caller.
    pub reason: String,
    /// Whether the upstream was refused for being private (403 rather
    /// than 400).
    pub private_upstream: bool,
}

/// The proxy's services as the server that owns the proxy holds them.
pub trait ProxyCatalog: Send + Sync + 'static {
    /// Checks a definition (a JSON object in the shape of a `[[services]]`
    /// entry) as `owner` may write it.
    fn check<'a>(
        &'a self,
        definition: &'a Value,
        owner: ServiceOwner,
    ) -> CatalogFuture<'a, Result<(), ServiceRejected>>;
    /// The configuration file's services (read-only), each a JSON object
    /// with at least `name` (no header values).
    fn configured(&self) -> Vec<Value>;
    /// The stored set changed: load it and serve it. Services that no
    /// longer load are left out and logged, never the whole set.
    fn reload(&self) -> CatalogFuture<'_, ()>;
}

fn not_enabled() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "proxy_disabled",
        "this server runs no reverse proxy",
    )
}

fn catalog(inner: &Inner) -> Result<&Arc<dyn ProxyCatalog>, ApiError> {
    inner.proxy_catalog.get().ok_or_else(not_enabled)
}

fn store(e: &StoreError) -> ApiError {
    store_unavailable(e)
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "service_not_found",
        format!("no service named {name:?}"),
    )
}

fn read_only(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "service_read_only",
        format!("{name:?} comes from the configuration file: change it there (and send SIGHUP)"),
    )
}

fn rejected(r: ServiceRejected) -> ApiError {
    let status = if r.private_upstream {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    let code = if r.private_upstream {
        "private_upstream"
    } else {
        "invalid_service"
    };
    ApiError::new(status, code, format!("{}: {}", r.field, r.reason)).field_named(&r.field)
}

/// A definition without its header values (secrets).
fn redacted(definition: &Value) -> Value {
    let mut d = definition.clone();
    if let Some(headers) = d.get_mut("headers").and_then(Value::as_object_mut) {
        for v in headers.values_mut() {
            *v = Value::String("<set>".into());
        }
    }
    d
}

fn stored_json(s: &ProxyService) -> Value {
    let definition: Value = serde_json::from_str(&s.definition).unwrap_or(Value::Null);
    json!({
        "name": s.name,
        "source": if s.merchant_id.is_some() { "merchant" } else { "api" },
        "merchantId": s.merchant_id,
        "service": redacted(&definition),
        "createdAt": l402_server::rfc3339(s.created_at),
        "updatedAt": l402_server::rfc3339(s.updated_at),
    })
}

fn config_json(service: Value) -> Value {
    let name = service.get("name").cloned().unwrap_or(Value::Null);
    json!({"name": name, "source": "config", "service": service})
}

fn configured_names(catalog: &Arc<dyn ProxyCatalog>) -> Vec<String> {
    catalog
        .configured()
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// A request body as a JSON object (at most `MAX_BODY_BYTES`).
async fn object(request: Request) -> Result<Map<String, Value>, ApiError> {
    let body = read_body(request.into_body()).await?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::field(
            "malformed_json",
            "(body)",
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::field(
            "malformed_json",
            "(body)",
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}

fn path_name(name: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    name.map(|Path(n)| n)
        .map_err(|_| ApiError::field("invalid_field", "name", "name must be a service name"))
}

/// `GET /api/admin/services`
pub(super) async fn list(State(inner): State<Shared>, _: Admin) -> Result<Response, ApiError> {
    let catalog = catalog(&inner)?;
    let mut services: Vec<Value> = catalog.configured().into_iter().map(config_json).collect();
    let stored = inner.store.proxy_services().await.map_err(|e| store(&e))?;
    services.extend(stored.iter().map(stored_json));
    Ok(json(StatusCode::OK, json!({ "services": services })))
}

/// `POST /api/admin/services`
pub(super) async fn create(
    State(inner): State<Shared>,
    _: Admin,
    request: Request,
) -> Result<Response, ApiError> {
    let catalog = catalog(&inner)?.clone();
    let definition = Value::Object(object(request).await?);
    let name = definition
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::field("invalid_service", "name", "name is required"))?
        .to_owned();
    if configured_names(&catalog).contains(&name) {
        return Err(exists(&name));
    }
    catalog
        .check(&definition, ServiceOwner::Operator)
        .await
        .map_err(rejected)?;
    let stored = insert(&inner, &name, None, &definition, None).await?;
    catalog.reload().await;
    Ok(json(StatusCode::CREATED, stored_json(&stored)))
}

fn exists(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "service_exists",
        format!("a service named {name:?} exists"),
    )
}

async fn insert(
    inner: &Inner,
    name: &str,
    merchant: Option<i64>,
    definition: &Value,
    meta: Option<&Value>,
) -> Result<ProxyService, ApiError> {
    let limits = ServiceLimits {
        total: MAX_STORED_SERVICES,
        per_owner: if merchant.is_some() {
            MAX_PROXIES_PER_MERCHANT
        } else {
            MAX_STORED_SERVICES
        },
    };
    let meta = meta.map(Value::to_string);
    match inner
        .store
        .insert_proxy_service(
            name,
            merchant,
            &definition.to_string(),
            meta.as_deref(),
            limits,
        )
        .await
        .map_err(|e| store(&e))?
    {
        ServiceInserted::Stored(s) => Ok(s),
        ServiceInserted::Exists => Err(exists(name)),
        ServiceInserted::Full => Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_services",
            match merchant {
                Some(_) => format!(
                    "at most {MAX_PROXIES_PER_MERCHANT} proxies per merchant \
                     ({MAX_STORED_SERVICES} services in all)"
                ),
                None => format!("at most {MAX_STORED_SERVICES} services are stored"),
            },
        )),
    }
}

/// `GET /api/admin/services/{name}`
pub(super) async fn get_one(
    State(inner): State<Shared>,
    _: Admin,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path_name(name)?;
    let catalog = catalog(&inner)?;
    if let Some(s) = catalog
        .configured()
        .into_iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(name.as_str()))
    {
        return Ok(json(StatusCode::OK, config_json(s)));
    }
    let stored = inner
        .store
        .proxy_service(&name)
        .await
        .map_err(|e| store(&e))?
        .ok_or_else(|| not_found(&name))?;
    Ok(json(StatusCode::OK, stored_json(&stored)))
}

/// `PUT /api/admin/services/{name}`: the keys given replace the stored
/// ones (Aperture's partial update); `null` removes a key.
pub(super) async fn update(
    State(inner): State<Shared>,
    _: Admin,
    name: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let name = path_name(name)?;
    let catalog = catalog(&inner)?.clone();
    if configured_names(&catalog).contains(&name) {
        return Err(read_only(&name));
    }
    let changes = object(request).await?;
    if changes
        .get("name")
        .is_some_and(|n| n.as_str() != Some(name.as_str()))
    {
        return Err(ApiError::field(
            "invalid_service",
            "name",
            "a service cannot be renamed: delete it and add it anew",
        ));
    }
    let stored = inner
        .store
        .proxy_service(&name)
        .await
        .map_err(|e| store(&e))?
        .ok_or_else(|| not_found(&name))?;
    let Ok(Value::Object(mut definition)) = serde_json::from_str::<Value>(&stored.definition)
    else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt_service",
            format!("the stored definition of {name:?} is not a JSON object"),
        ));
    };
    for (k, v) in changes {
        if v.is_null() {
            definition.remove(&k);
        } else {
            definition.insert(k, v);
        }
    }
    let definition = Value::Object(definition);
    let owner = stored
        .merchant_id
        .map_or(ServiceOwner::Operator, ServiceOwner::Merchant);
    catalog.check(&definition, owner).await.map_err(rejected)?;
    let updated = inner
        .store
        .update_proxy_service(&name, &definition.to_string())
        .await
        .map_err(|e| store(&e))?
        .ok_or_else(|| not_found(&name))?;
    catalog.reload().await;
    Ok(json(StatusCode::OK, stored_json(&updated)))
}

/// `DELETE /api/admin/services/{name}`
pub(super) async fn remove(
    State(inner): State<Shared>,
    _: Admin,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path_name(name)?;
    let catalog = catalog(&inner)?.clone();
    if configured_names(&catalog).contains(&name) {
        return Err(read_only(&name));
    }
    if !inner
        .store
        .delete_proxy_service(&name)
        .await
        .map_err(|e| store(&e))?
    {
        return Err(not_found(&name));
    }
    catalog.reload().await;
    Ok(json(StatusCode::OK, json!({ "deleted": name })))
}

/// The longest proxy name (Lightning Enable's display name).
const MAX_PROXY_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// `premium-weather-api` from `Premium Weather API`: lowercase ASCII
/// letters and digits, runs of anything else as one `-`, at most 40.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "proxy".to_owned()
    } else {
        out
    }
}

fn random_suffix() -> Result<String, ApiError> {
    let mut b = [0u8; 2];
    getrandom::getrandom(&mut b).map_err(|e| {
        tracing::error!(error = %e, "producer: random generator failed");
        ApiError::unavailable("random_unavailable", "no random proxy id could be made")
    })?;
    Ok(hex::encode(b))
}

/// `POST /api/proxy` (Lightning Enable's proxy mode): a merchant puts
/// `targetBaseUrl` behind L402 at `/l402/proxy/{proxyId}/...`, each request
/// `defaultPriceSats`; an `https://` target is reached over TLS. The answer is Lightning Enable's: `proxyId`,
/// `name`, `description`, `targetBaseUrl`, `defaultPriceSats`, `isActive`,
/// `createdAt`, plus `proxyUrl` (what its MCP client reads).
pub(super) async fn create_proxy(
    State(inner): State<Shared>,
    Merchant(who): Merchant,
    request: Request,
) -> Result<Response, ApiError> {
    let catalog = catalog(&inner)?.clone();
    let body = read_body(request.into_body()).await?;
    let fields = Fields::parse(
        &body,
        &["name", "targetBaseUrl", "defaultPriceSats", "description"],
    )?;
    let name = fields.string("name", MAX_PROXY_NAME_CHARS)?.to_owned();
    let target = fields.string("targetBaseUrl", crate::webhooks::target::MAX_URL_CHARS)?;
    let price = fields.integer("defaultPriceSats", 1, inner.max_price_sats)?;
    let description = fields
        .opt_string("description", MAX_DESCRIPTION_CHARS)?
        .map(str::to_owned);
    // Syntax only here; where it resolves is the catalog's check.
    let url = crate::webhooks::target::check_url(target, true).map_err(|r| {
        ApiError::field("invalid_field", "targetBaseUrl", r.message("targetBaseUrl"))
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ApiError::field(
            "invalid_field",
            "targetBaseUrl",
            "targetBaseUrl must not carry a query or fragment",
        ));
    }
    let host = url.host_str().unwrap_or_default();
    let https = url.scheme() == "https";
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let address = if host.contains(':') {
        format!("[{}]:{port}", host.trim_matches(['[', ']']))
    } else {
        format!("{host}:{port}")
    };
    let prefix = url.path().trim_end_matches('/').to_owned();
    let meta = json!({
        "name": name,
        "description": description,
        "targetBaseUrl": target,
    });
    let configured = configured_names(&catalog);
    for _ in 0..8 {
        let proxy_id = format!("{}-{}", slug(&name), random_suffix()?);
        if configured.contains(&proxy_id) {
            continue;
        }
        let mut definition = json!({
            "name": proxy_id,
            "address": address,
            "price_sats": price,
        });
        if !prefix.is_empty() {
            definition["rewrite"] = json!({ "prefix": prefix });
        }
        if https {
            definition["protocol"] = json!("https");
        }
        catalog
            .check(&definition, ServiceOwner::Merchant(who.merchant.id))
            .await
            .map_err(|mut r| {
                if r.field == "address" {
                    r.field = "targetBaseUrl".to_owned();
                }
                rejected(r)
            })?;
        match insert(
            &inner,
            &proxy_id,
            Some(who.merchant.id),
            &definition,
            Some(&meta),
        )
        .await
        {
            Ok(stored) => {
                catalog.reload().await;
                return Ok(json(StatusCode::CREATED, proxy_json(&stored)));
            }
            Err(e) if e.code == "service_exists" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::unavailable(
        "proxy_id_taken",
        "no free proxy id was found; try again",
    ))
}

/// A merchant proxy in Lightning Enable's shape.
fn proxy_json(s: &ProxyService) -> Value {
    let meta: Value = s
        .meta
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(Value::Null);
    let definition: Value = serde_json::from_str(&s.definition).unwrap_or(Value::Null);
    json!({
        "proxyId": s.name,
        "name": meta.get("name"),
        "description": meta.get("description"),
        "targetBaseUrl": meta.get("targetBaseUrl"),
        "defaultPriceSats": definition.get("price_sats"),
        "isActive": true,
        "createdAt": l402_server::rfc3339(s.created_at),
        "proxyUrl": format!("{}{}", PROXY_MOUNT.trim_end_matches('/'), format_args!("/{}", s.name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_plain() {
        assert_eq!(slug("Premium Weather API"), "premium-weather-api");
        assert_eq!(slug("  ¡Hola!  "), "hola");
        assert_eq!(slug("***"), "proxy");
        assert!(slug(&"a".repeat(100)).len() <= 40);
    }

    #[test]
    fn header_values_are_not_shown() {
        let d = json!({"name": "a", "headers": {"x-key": "secret"}});
        assert_eq!(redacted(&d)["headers"]["x-key"], "<set>");
    }
}

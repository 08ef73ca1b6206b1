//! The producer's one route table: what [`Producer::router`](crate::Producer::router)
//! serves, [`route_paths`] and [`reserved_prefixes`] (what routers merged
//! with it must leave alone).

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use http::StatusCode;
use tower_http::cors::CorsLayer;

use crate::error::ApiError;
use crate::{
    Shared, admin, directory, erasure, json, kit, l402, lnaddress, lnurl_auth, openapi, passes,
    proxy_admin, splits, stats, webhooks,
};

fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this path",
    )
    .into_response()
}

fn route(method: MethodRouter<Shared>) -> MethodRouter<Shared> {
    method.fallback(|| async { method_not_allowed() })
}

const KIT_PATHS: &[&str] = &["/api/invoice", "/api/verify"];

/// The paths [`Producer::router`](crate::Producer::router) serves, from its one route table, in
/// axum's syntax (`{id}` stands for one segment).
///
/// ```
/// let paths = l402_producer::route_paths();
/// assert!(paths.contains(&"/api/l402/challenges/verify"));
/// assert!(paths.contains(&"/api/admin/merchants/{id}/keys"));
/// ```
pub fn route_paths() -> Vec<&'static str> {
    routes()
        .into_iter()
        .chain(platform_routes())
        .map(|(path, _)| path)
        .collect()
}

/// The namespaces the producer API owns, for routers it is merged with: the
/// first two segments of each of its [`route_paths`] (`/api/l402`,
/// `/api/admin`, `/api/invoice`, …), each once. A path equal to one of them,
/// or under one (`/api/l402/anything`), is the producer's.
///
/// ```
/// let reserved = l402_producer::reserved_prefixes();
/// assert!(reserved.contains(&"/api/l402"));
/// assert!(reserved.contains(&"/api/openapi.json"));
/// ```
pub fn reserved_prefixes() -> Vec<&'static str> {
    let mut prefixes: Vec<&'static str> = Vec::new();
    for path in route_paths() {
        // "/api/l402/challenges" → "/api/l402"; "/api/invoice" stays.
        let end = path
            .match_indices('/')
            .nth(2)
            .map_or(path.len(), |(i, _)| i);
        let prefix = &path[..end];
        if !prefixes.contains(&prefix) {
            prefixes.push(prefix);
        }
    }
    prefixes
}

/// Every route, by path: the OpenAPI document lists exactly these paths (a
/// unit test checks it), and an integration test exercises each documented
/// method and status and checks that the undocumented methods answer 405.
fn routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/api/l402/challenges", post(l402::create)),
        ("/api/l402/challenges/verify", post(l402::verify)),
        ("/api/l402/stats", get(l402::stats)),
        ("/api/l402/status", get(l402::status)),
        // CORS for these (KIT_PATHS) is added by `Producer::router`.
        ("/api/invoice", post(kit::invoice)),
        ("/api/verify", post(kit::verify)),
        (
            "/api/admin/merchants",
            get(admin::list_merchants).post(admin::create_merchant),
        ),
        (
            "/api/admin/merchants/{id}/keys",
            get(admin::list_keys).post(admin::create_key),
        ),
        (
            "/api/admin/merchants/{id}/keys/{key_id}",
            delete(admin::revoke_key),
        ),
        ("/api/admin/merchants/{id}/status", post(admin::set_status)),
        ("/api/admin/stats", get(admin::stats)),
        (
            "/api/admin/services",
            get(proxy_admin::list).post(proxy_admin::create),
        ),
        (
            "/api/admin/services/{name}",
            get(proxy_admin::get_one)
                .put(proxy_admin::update)
                .delete(proxy_admin::remove),
        ),
        ("/api/proxy", post(proxy_admin::create_proxy)),
        (
            "/api/openapi.json",
            get(|| async { json(StatusCode::OK, openapi()) }),
        ),
    ]
}

/// l402kit's platform routes (identity, stats, erasure): served and
/// reserved like the others, not yet in the OpenAPI document.
fn platform_routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    let mut routes = vec![
        ("/api/lnurl-auth", get(lnurl_auth::lnurl_auth)),
        ("/api/session", delete(lnurl_auth::revoke)),
        ("/api/stats", get(stats::stats)),
        ("/api/global-stats", get(stats::global)),
        ("/api/delete-data", post(erasure::delete_data)),
        ("/api/webhooks", get(webhooks::list).post(webhooks::create)),
        ("/api/webhooks/deliveries", get(webhooks::deliveries)),
        ("/api/webhooks/test", post(webhooks::test)),
        ("/api/webhooks/{id}", delete(webhooks::remove)),
        ("/api/webhooks/in/phoenixd", post(webhooks::phoenixd)),
        ("/api/webhooks/in/blink", post(webhooks::blink)),
        ("/api/blink-webhook", post(webhooks::blink)),
        ("/api/register", post(directory::register)),
        ("/api/apis.json", get(directory::list)),
        (
            "/api/admin/merchants/{id}/linking-keys",
            get(erasure::linked_keys).post(erasure::link_key),
        ),
    ];
    routes.extend(lnaddress::routes());
    routes.extend(splits::api::routes());
    routes.extend(passes::routes());
    routes
}

/// The router over every route, with `state` (see
/// [`Producer::router`](crate::Producer::router)).
pub(crate) fn router(state: Shared) -> Router {
    routes()
        .into_iter()
        .chain(platform_routes())
        .fold(Router::new(), |router, (path, method)| {
            let method = route(method);
            // l402kit's API is called from browsers too: CORS for any origin.
            if KIT_PATHS.contains(&path) {
                router.route(path, method.layer(CorsLayer::permissive()))
            } else {
                router.route(path, method)
            }
        })
        .with_state(state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn the_document_lists_exactly_the_routed_paths() {
        let mut routed: Vec<&str> = super::route_paths();
        routed.sort_unstable();
        let doc = super::openapi();
        let mut documented: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        assert_eq!(routed, documented);
    }

    #[test]
    fn every_route_is_under_a_reserved_prefix() {
        let reserved = super::reserved_prefixes();
        assert_eq!(
            reserved,
            [
                "/api/l402",
                "/api/invoice",
                "/api/verify",
                "/api/admin",
                "/api/proxy",
                "/api/openapi.json",
                "/api/lnurl-auth",
                "/api/session",
                "/api/stats",
                "/api/global-stats",
                "/api/delete-data",
                "/api/webhooks",
                "/api/blink-webhook",
                "/api/register",
                "/api/apis.json",
                "/.well-known/lnurlp",
                "/api/lnurlp",
                "/api/split",
                "/api/pro-check",
                "/api/dev-token",
                "/api/pass"
            ]
        );
        for path in super::route_paths() {
            assert!(
                reserved
                    .iter()
                    .any(|p| path == *p || path.starts_with(&format!("{p}/"))),
                "{path}"
            );
        }
    }
}

//! `/mcp`: the l402 MCP server over streamable HTTP (rmcp's server, one
//! stateless exchange per request), beside the producer API it speaks for.
//!
//! Every request is checked in this order: `Host` and `Origin` against the
//! allowed hosts (403 JSON, `host_not_allowed` / `origin_not_allowed`: the
//! DNS-rebinding protection), then who calls: the admin token
//! (`Authorization: Bearer`) gets the operator tools; a merchant API key
//! (`Authorization: Bearer <key>` or `X-API-Key`) gets the seller tools,
//! bound to that merchant; anything else 401 (the producer's own answer).
//! Keys and the admin token are checked by the producer's own code
//! ([`Producer::authenticate`], [`Producer::check_admin`]), and the tools
//! call the producer's routes in process (the very handlers of
//! `POST /api/l402/challenges`, `.../verify` and `/api/admin/...`), so a
//! token minted by one is verified by the other.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{self, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use l402_mcp::Seller;
use l402_mcp::http::{HttpConfig, HttpMcp};
use l402_mcp::operator::{OperatorAnswer, OperatorApi};
use l402_mcp::rmcp::transport::streamable_http_server::StreamableHttpService;
use l402_mcp::rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use l402_mcp::seller::{MAX_ANSWER_BYTES, ProducerAnswer, ProducerApi};
use l402_producer::Producer;
use l402_server::ErrorBody;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The path the MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

struct Mcp {
    producer: Producer,
    /// The producer's routes, called in process.
    api: Router,
    http: HttpConfig,
    routes: Value,
}

/// The `/mcp` route, for `producer`'s merchants and operator.
pub fn router(producer: &Producer, http: HttpConfig, routes: Value) -> Router {
    let mcp = Arc::new(Mcp {
        producer: producer.clone(),
        api: producer.router(),
        http,
        routes,
    });
    Router::new()
        .route(MCP_PATH, axum::routing::any(handle))
        .with_state(mcp)
}

async fn handle(State(mcp): State<Arc<Mcp>>, request: Request) -> Response {
    if let Err(refused) = mcp.http.check(request.headers()) {
        return error(StatusCode::FORBIDDEN, refused.code(), refused.to_string());
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied();
    let server = match caller(&mcp, request.headers(), peer).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        mcp.http.rmcp(),
    );
    match service.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// The server for whoever `headers` authenticate, or the refusal.
async fn caller(
    mcp: &Arc<Mcp>,
    headers: &HeaderMap,
    peer: Option<ConnectInfo<SocketAddr>>,
) -> Result<HttpMcp, Response> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if bearer.is_some() && mcp.producer.check_admin(headers).is_ok() {
        let operator = InProcess {
            api: mcp.api.clone(),
            peer,
            admin: headers.get(http::header::AUTHORIZATION).cloned(),
            routes: mcp.routes.clone(),
        };
        return Ok(HttpMcp::operator(Arc::new(operator)));
    }
    let key = match (headers.get("x-api-key"), bearer) {
        (Some(key), _) => key.to_str().unwrap_or_default().to_owned(),
        (None, Some(key)) => key.to_owned(),
        (None, None) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/mcp needs a merchant API key (Authorization: Bearer <key>, or X-API-Key) \
                 or the admin token (Authorization: Bearer <admin token>)"
                    .to_owned(),
            ));
        }
    };
    let mut presented = HeaderMap::new();
    let value = HeaderValue::from_str(&key).map_err(|_| {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid API key".to_owned(),
        )
    })?;
    presented.insert("x-api-key", value);
    mcp.producer
        .authenticate(&presented)
        .await
        .map_err(|r| *r)?;
    let api = InProcess {
        api: mcp.api.clone(),
        peer,
        admin: None,
        routes: Value::Null,
    };
    HttpMcp::merchant(Seller::in_process(Arc::new(api), &key)).map_err(|e| {
        tracing::error!(error = %e, "mcp: cannot build the seller");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the MCP server could not be built".to_owned(),
        )
    })
}

fn error(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = ErrorBody::new(status, code, message);
    (status, axum::Json(body.json())).into_response()
}

/// The producer's routes in this process, for the seller and operator
/// tools: the caller's address (its idempotency scope, as over HTTP) and,
/// for the operator, its admin `Authorization`.
struct InProcess {
    api: Router,
    peer: Option<ConnectInfo<SocketAddr>>,
    admin: Option<HeaderValue>,
    routes: Value,
}

impl InProcess {
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let bytes = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(bytes))
            .map_err(|e| format!("the producer request: {e}"))?;
        request.headers_mut().extend(headers);
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(peer);
        }
        let response: Result<Response, Infallible> = self.api.clone().oneshot(request).await;
        let response = match response {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|_| "the producer's answer is too large".to_owned())?;
        let json = serde_json::from_slice(&bytes)
            .map_err(|_| format!("the producer answered HTTP {status} without JSON"))?;
        Ok((status, json))
    }

    async fn admin(&self, method: Method, path: &str) -> Value {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.admin {
            headers.insert(http::header::AUTHORIZATION, token.clone());
        }
        match self.call(method, path, headers, None).await {
            Ok((status, mut answer)) if (200..300).contains(&status) => {
                if let Value::Object(map) = &mut answer {
                    map.insert("success".to_owned(), json!(true));
                    answer
                } else {
                    json!({"success": true, "result": answer})
                }
            }
            Ok((status, answer)) => json!({
                "success": false,
                "error": answer.get("message").or_else(|| answer.get("error")),
                "code": answer.get("code"),
                "status": status,
            }),
            Err(e) => json!({"success": false, "error": e}),
        }
    }
}

impl ProducerApi for InProcess {
    fn post<'a>(&'a self, path: &'a str, api_key: &'a str, body: &'a Value) -> ProducerAnswer<'a> {
        Box::pin(async move {
            let mut headers = HeaderMap::new();
            let key = HeaderValue::from_str(api_key).map_err(|_| "invalid API key".to_owned())?;
            headers.insert("x-api-key", key);
            self.call(Method::POST, path, headers, Some(body)).await
        })
    }
}

impl OperatorApi for InProcess {
    fn routes(&self) -> OperatorAnswer<'_> {
        let routes = self.routes.clone();
        Box::pin(async move { json!({"success": true, "routes": routes}) })
    }

    fn stats(&self) -> OperatorAnswer<'_> {
        Box::pin(self.admin(Method::GET, "/api/admin/stats"))
    }

    fn revoke_key<'a>(&'a self, merchant_id: i64, key_id: &'a str) -> OperatorAnswer<'a> {
        Box::pin(async move {
            let plain = !key_id.is_empty()
                && key_id.len() <= 128
                && key_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !plain {
                return json!({
                    "success": false,
                    "error": "key_id must be a key's id (letters, digits, - and _), not the key",
                    "code": "invalid_field",
                });
            }
            let path = format!("/api/admin/merchants/{merchant_id}/keys/{key_id}");
            let mut answer = self.admin(Method::DELETE, &path).await;
            if answer["success"] == json!(true) {
                answer["message"] = json!(
                    "The merchant's API key is revoked: its seller tools and producer calls are \
                     refused. L402 tokens already sold stay valid until they expire (tokens are \
                     verified without a database; single tokens cannot be revoked)."
                );
            }
            answer
        })
    }
}

/// The routes this server sells and the APIs beside them, for `list_routes`.
pub fn routes_json(config: &crate::config::Config, demo: (&str, u64)) -> Value {
    let mut paid: Vec<Value> = config
        .routes
        .iter()
        .map(|r| {
            json!({
                "path": r.path,
                "method": "GET",
                "priceSats": r.price_sats,
                "description": r.description,
            })
        })
        .collect();
    if config.demo {
        paid.insert(
            0,
            json!({"path": demo.0, "method": "GET", "priceSats": demo.1, "description": "the demo joke"}),
        );
    }
    json!({
        "paid": paid,
        "apis": [
            {"path": "/api/l402/challenges", "method": "POST", "auth": "X-API-Key"},
            {"path": "/api/l402/challenges/verify", "method": "POST", "auth": "X-API-Key"},
            {"path": "/api/admin", "auth": "admin token"},
            {"path": MCP_PATH, "method": "POST", "auth": "merchant API key or admin token"},
        ],
    })
}

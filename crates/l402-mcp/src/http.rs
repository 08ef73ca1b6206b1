//! MCP over streamable HTTP, for `l402 serve`'s `/mcp`: who may call which
//! tools, and which `Host` and `Origin` headers are answered at all.
//!
//! The server side authenticates each HTTP request and builds an
//! [`HttpMcp`] for that caller: a merchant (its API key) sees the seller
//! tools only, bound to that merchant (the very tools `l402 mcp` serves over
//! stdio, [`L402Mcp`]'s, whose [`Seller`] reaches the producer in process);
//! the operator (the admin token) sees the operator tools only
//! ([`crate::operator`]). Buyer tools are never served over HTTP: a server
//! holds no agent's wallet.
//!
//! [`HttpConfig`] is the DNS-rebinding protection: a request whose `Host`
//! is not an allowed host, or whose `Origin` names another host, is refused
//! before anything else runs (the caller answers it 403, see [`Refused`]).
//! Requests are served statelessly (no MCP session is kept between HTTP
//! requests), so nothing grows with the number of clients.
//!
//! ```
//! use l402_mcp::http::HttpConfig;
//! let config = HttpConfig::default().allowed_hosts(["pay.example.com"]);
//! let mut headers = http::HeaderMap::new();
//! headers.insert("host", "pay.example.com:8402".parse().unwrap());
//! assert!(config.check(&headers).is_ok());
//! headers.insert("host", "attacker.example".parse().unwrap());
//! assert_eq!(config.check(&headers).unwrap_err().code(), "host_not_allowed");
//! ```

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ResultType, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::operator::OperatorApi;
use crate::{Buyer, L402Mcp, Policy, Seller, Session};

/// The tools a merchant is served over HTTP.
pub const SELLER_TOOLS: [&str; 2] = ["create_l402_challenge", "verify_l402_payment"];

/// The largest JSON-RPC request body read (`/mcp` tool arguments are small).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Why a request to `/mcp` is refused before it is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// No `Host` header (HTTP/1.1 requires one).
    #[error("the request has no Host header")]
    MissingHost,
    /// The `Host` is not one of the allowed hosts (a DNS-rebinding attempt,
    /// or a server reached under a name it was not configured for).
    #[error("Host {0:?} is not an allowed host of /mcp (set [mcp] allowed_hosts)")]
    Host(String),
    /// The `Origin` (a browser's page) is neither an allowed origin nor on
    /// an allowed host.
    #[error("Origin {0:?} is not allowed to call /mcp (set [mcp] allowed_origins)")]
    Origin(String),
}

impl Refused {
    /// A stable snake_case code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::MissingHost => "missing_host",
            Refused::Host(_) => "host_not_allowed",
            Refused::Origin(_) => "origin_not_allowed",
        }
    }
}

/// The `/mcp` endpoint's settings: allowed hosts and origins.
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpConfig {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Default for HttpConfig {
    /// Loopback names only: `localhost`, `127.0.0.1`, `::1` (any port).
    fn default() -> Self {
        HttpConfig {
            hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            origins: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// Replaces the allowed hosts: names or addresses, each with a port
    /// (`host:8402`, then only that port) or without (any port). IPv6 in
    /// brackets or bare.
    pub fn allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = hosts
            .into_iter()
            .map(|h| h.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// Browser origins allowed besides those on an allowed host
    /// (`https://app.example.com`, exactly).
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = origins
            .into_iter()
            .map(|o| o.into().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        self
    }

    /// The allowed hosts.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Checks `Host` and `Origin`.
    ///
    /// # Errors
    /// [`Refused`], saying which header and why.
    pub fn check(&self, headers: &http::HeaderMap) -> Result<(), Refused> {
        let host = headers
            .get(http::header::HOST)
            .ok_or(Refused::MissingHost)?
            .to_str()
            .map_err(|_| Refused::Host("(not ASCII)".to_owned()))?;
        if !self.host_allowed(host) {
            return Err(Refused::Host(clip(host)));
        }
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin
            .to_str()
            .map_err(|_| Refused::Origin("(not ASCII)".to_owned()))?;
        let lower = origin.trim_end_matches('/').to_ascii_lowercase();
        let on_allowed_host = lower.split_once("://").is_some_and(|(scheme, authority)| {
            matches!(scheme, "http" | "https") && self.host_allowed(authority)
        });
        if on_allowed_host || self.origins.contains(&lower) {
            Ok(())
        } else {
            Err(Refused::Origin(clip(origin)))
        }
    }

    fn host_allowed(&self, authority: &str) -> bool {
        let Some((host, port)) = split_authority(authority) else {
            return false;
        };
        self.hosts
            .iter()
            .any(|allowed| match split_authority(allowed) {
                Some((h, Some(p))) => h == host && Some(p) == port,
                Some((h, None)) => h == host,
                None => false,
            })
    }

    /// rmcp's own settings for the same endpoint: stateless (no sessions),
    /// plain JSON answers, the same hosts checked again, bodies bounded.
    pub fn rmcp(&self) -> StreamableHttpServerConfig {
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_allowed_hosts(self.hosts.clone())
            .with_max_request_body_bytes(MAX_REQUEST_BYTES)
    }
}

/// `host[:port]` lower-cased, brackets of IPv6 removed; a bare IPv6
/// address has no port.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let a = authority.trim().to_ascii_lowercase();
    if a.is_empty() {
        return None;
    }
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match a.matches(':').count() {
        0 => Some((a, None)),
        1 => {
            let (host, port) = a.split_once(':')?;
            Some((host.to_owned(), Some(port.parse().ok()?)))
        }
        _ => Some((a, None)),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The MCP server one HTTP request is answered by: the tools of its caller.
#[derive(Clone)]
pub struct HttpMcp {
    seller: Option<Arc<L402Mcp>>,
    pub(crate) operator: Option<Arc<dyn OperatorApi>>,
    operator_tools: ToolRouter<HttpMcp>,
}

impl std::fmt::Debug for HttpMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMcp")
            .field("merchant", &self.seller.is_some())
            .field("operator", &self.operator.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpMcp {
    /// A merchant's server: the seller tools, bound to `seller` (its key).
    ///
    /// # Errors
    /// The (never paying) client behind [`L402Mcp`] cannot be built.
    pub fn merchant(seller: Seller) -> Result<HttpMcp, l402_client::BuildError> {
        // L402Mcp holds a buyer; this one has no wallet, and its tools are
        // never listed nor callable here (SELLER_TOOLS only).
        let client = l402_client::Client::builder().build()?;
        let buyer = Buyer::new(
            client,
            None,
            Session::new(Policy::default()),
            std::path::PathBuf::new(),
        );
        Ok(HttpMcp {
            seller: Some(Arc::new(L402Mcp::new(buyer, Some(seller)))),
            operator: None,
            operator_tools: ToolRouter::new(),
        })
    }

    /// The operator's server: the operator tools over `api`.
    pub fn operator(api: Arc<dyn OperatorApi>) -> HttpMcp {
        HttpMcp {
            seller: None,
            operator: Some(api),
            operator_tools: Self::operator_router(),
        }
    }

    /// The tools this caller may call.
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools: Vec<Tool> = match &self.seller {
            Some(s) => SELLER_TOOLS.iter().filter_map(|n| s.get_tool(n)).collect(),
            None => Vec::new(),
        };
        tools.extend(self.operator_tools.list_all());
        tools
    }
}

impl ServerHandler for HttpMcp {
    fn get_info(&self) -> ServerConfig {
        let instructions = if self.seller.is_some() {
            "Charge other agents: create_l402_challenge, then verify_l402_payment before granting access."
        } else {
            "Operate this l402 serve: list_routes, stats, revoke_token."
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("l402", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions.to_owned())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let hints = context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools: self.tools(),
            meta: None,
            next_cursor: None,
            ttl_ms: hints.then_some(0),
            // The list depends on who asks.
            cache_scope: hints.then_some(CacheScope::Private),
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if SELLER_TOOLS.contains(&request.name.as_ref())
            && let Some(seller) = &self.seller
        {
            return seller.call_tool(request, context).await;
        }
        if self.operator.is_some() && self.operator_tools.has_route(&request.name) {
            let tcc = ToolCallContext::new(self, request, context);
            return self.operator_tools.call(tcc).await;
        }
        Err(ErrorData::invalid_params(
            format!("no tool {:?} for this caller", request.name),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("host", host.parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts_and_origins() {
        let c = HttpConfig::default();
        assert!(c.check(&headers("127.0.0.1:52300", None)).is_ok());
        assert!(c.check(&headers("[::1]:8402", None)).is_ok());
        assert!(c.check(&headers("LOCALHOST", None)).is_ok());
        assert_eq!(
            c.check(&headers("evil.example:8402", None)),
            Err(Refused::Host("evil.example:8402".into()))
        );
        assert!(
            c.check(&headers("localhost", Some("http://localhost:3000")))
                .is_ok()
        );
        assert_eq!(
            c.check(&headers("localhost", Some("https://evil.example")))
                .unwrap_err()
                .code(),
            "origin_not_allowed"
        );
        assert_eq!(c.check(&http::HeaderMap::new()), Err(Refused::MissingHost));
        let c = HttpConfig::default()
            .allowed_hosts(["pay.example.com:443"])
            .allowed_origins(["https://app.example.com/"]);
        assert!(c.check(&headers("pay.example.com:443", None)).is_ok());
        assert!(c.check(&headers("pay.example.com:8443", None)).is_err());
        assert!(c.check(&headers("localhost", None)).is_err());
        assert!(
            c.check(&headers(
                "pay.example.com:443",
                Some("https://app.example.com")
            ))
            .is_ok()
        );
        // A host with a bad port, or garbage, is never allowed.
        assert!(c.check(&headers("pay.example.com:x", None)).is_err());
        assert!(c.check(&headers("[::1", None)).is_err());
    }
}

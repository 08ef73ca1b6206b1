//! The operator tools of `l402 serve`'s `/mcp` (admin token only):
//! `list_routes`, `stats` and `revoke_token`, each a call into the server's
//! own code through [`OperatorApi`] (the producer's admin routes, in
//! process), never a second copy of it.
//!
//! Tokens are verified without a database (the root key is derived from the
//! server secret and the token id), so a single L402 token cannot be
//! revoked: `revoke_token` revokes a merchant API key, after which that
//! merchant's seller tools and producer calls are refused. Tokens already
//! sold stay valid until they expire.

use std::future::Future;
use std::pin::Pin;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ToolOutput;
use crate::http::HttpMcp;

/// What an operator call answers: a JSON object with `success`.
pub type OperatorAnswer<'a> = Pin<Box<dyn Future<Output = Value> + Send + 'a>>;

/// The server's own operator functions, as `l402 serve` wires them.
pub trait OperatorApi: Send + Sync {
    /// The routes served: paid routes with prices, and the APIs beside them.
    fn routes(&self) -> OperatorAnswer<'_>;
    /// The producer's totals (challenges, payments, verifications).
    fn stats(&self) -> OperatorAnswer<'_>;
    /// Revokes merchant `merchant_id`'s API key `key_id`.
    fn revoke_key<'a>(&'a self, merchant_id: i64, key_id: &'a str) -> OperatorAnswer<'a>;
}

/// `revoke_token`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RevokeParams {
    /// The merchant whose API key is revoked.
    pub merchant_id: i64,
    /// The key's id (from `l402 merchant keys` or the admin API; not the key).
    pub key_id: String,
}

fn output(value: Value) -> Json<ToolOutput> {
    let mut fields = match value {
        Value::Object(map) => map,
        other => Map::from_iter([("result".to_owned(), other)]),
    };
    let success = fields
        .remove("success")
        .and_then(|s| s.as_bool())
        .unwrap_or(false);
    Json(ToolOutput { success, fields })
}

fn no_operator() -> Json<ToolOutput> {
    output(
        serde_json::json!({"success": false, "error": "the operator tools need the admin token"}),
    )
}

#[tool_router(router = operator_router, vis = "pub(crate)")]
impl HttpMcp {
    /// `list_routes`.
    #[tool(
        description = "The routes this l402 serve sells (path, price in sats, description) and the APIs beside them.",
        annotations(
            title = "List routes",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn list_routes(&self) -> Json<ToolOutput> {
        match &self.operator {
            Some(api) => output(api.routes().await),
            None => no_operator(),
        }
    }

    /// `stats`.
    #[tool(
        description = "The producer's totals: challenges issued and sats asked, payments and sats paid, verifications valid and invalid.",
        annotations(
            title = "Sales statistics",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn stats(&self) -> Json<ToolOutput> {
        match &self.operator {
            Some(api) => output(api.stats().await),
            None => no_operator(),
        }
    }

    /// `revoke_token`.
    #[tool(
        description = "Revoke a merchant's API key (merchant_id, key_id): its seller tools and producer calls are refused from then on. Single L402 tokens cannot be revoked (they are verified without a database); those already sold stay valid until they expire.",
        annotations(
            title = "Revoke a merchant API key",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn revoke_token(&self, Parameters(p): Parameters<RevokeParams>) -> Json<ToolOutput> {
        match &self.operator {
            Some(api) => output(api.revoke_key(p.merchant_id, &p.key_id).await),
            None => no_operator(),
        }
    }
}

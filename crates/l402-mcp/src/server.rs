//! The MCP server: tool names, parameters and annotations (seed 003 and
//! Lightning Enable's), each a thin call into [`Buyer`] or [`Seller`].

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Json, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::buyer::Buyer;
use crate::receipts;
use crate::seller::Seller;

/// Every tool's structured result: `success`, and the tool's own keys
/// (Lightning Enable's response shapes).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ToolOutput {
    /// Whether the tool did what was asked (a denial is `false`).
    pub success: bool,
    /// The tool's other keys.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl ToolOutput {
    fn of(value: Value) -> Json<ToolOutput> {
        let mut fields = match value {
            Value::Object(map) => map,
            other => {
                let mut m = Map::new();
                m.insert("result".to_owned(), other);
                m
            }
        };
        let success = fields
            .remove("success")
            .and_then(|s| s.as_bool())
            .unwrap_or(false);
        Json(ToolOutput { success, fields })
    }
}

/// `access_l402_resource`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AccessParams {
    /// The URL to fetch.
    pub url: String,
    /// GET or HEAD (others only if the policy allows) [default: GET].
    pub method: Option<String>,
    /// Extra request headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// Request body (methods the policy allows only).
    pub body: Option<String>,
    /// The most to pay for this call, in sats (the policy's caps still apply).
    pub max_sats: Option<u64>,
    /// The out-of-band confirmation code, for a payment in the confirm tier.
    pub confirmation_code: Option<String>,
}

/// `pay_l402_challenge`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PayChallengeParams {
    /// The BOLT11 invoice of the challenge.
    pub invoice: String,
    /// The macaroon of the challenge (base64).
    pub macaroon: String,
    /// The most to pay, in sats (the policy's caps still apply).
    pub max_sats: Option<u64>,
    /// The out-of-band confirmation code, for a payment in the confirm tier.
    pub confirmation_code: Option<String>,
}

/// `pay_invoice`'s parameters (Lightning Enable's).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PayInvoiceParams {
    /// The BOLT11 invoice to pay (it must carry an amount).
    pub invoice: String,
    /// The most to pay, in sats (the policy's caps still apply).
    pub max_sats: Option<u64>,
    /// The out-of-band confirmation code, for a payment in the confirm tier.
    pub confirmation_code: Option<String>,
}

/// `discover_api`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DiscoverParams {
    /// A service's base URL (its /.well-known/l402.json is read), or the URL
    /// of a manifest or a directory's apis.json.
    pub url: String,
}

/// `mint_scoped_token`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MintScopedParams {
    /// The bought token: the URL it was bought for, its scope, or a
    /// payment-hash prefix (at least 8 hex digits).
    pub token: String,
    /// Good for exactly this path only (starts with '/').
    pub path: Option<String>,
    /// Good for paths starting with this prefix only (starts with '/').
    pub path_prefix: Option<String>,
    /// Good for these HTTP methods only (comma-separated, e.g. "GET,HEAD").
    pub method: Option<String>,
    /// Expires this many seconds from now [default: 3600, never later than
    /// the token's own expiry].
    pub expires_in_secs: Option<u64>,
}

/// `configure_budget`'s parameters: caps may only be lowered.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BudgetParams {
    /// A lower per-payment cap for this session, in sats.
    pub per_request: Option<u64>,
    /// A lower session cap, in sats.
    pub per_session: Option<u64>,
}

/// `get_payment_history`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HistoryParams {
    /// At most this many payments, newest first [default: 50, at most 500].
    pub limit: Option<usize>,
}

/// `create_invoice`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateInvoiceParams {
    /// The amount, in sats.
    pub amount_sats: u64,
    /// The invoice description.
    pub memo: Option<String>,
    /// Seconds until it expires (60 to 86400).
    pub expiry_secs: Option<u64>,
}

/// `check_invoice_status`'s parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct InvoiceStatusParams {
    /// The invoice's id from create_invoice (its payment hash).
    pub invoice_id: String,
}

/// `create_l402_challenge`'s parameters (seed 003).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateChallengeParams {
    /// Resource identifier: URL, service name, or description of what you
    /// charge for.
    pub resource: String,
    /// Price in satoshis.
    pub price_sats: u64,
    /// Description shown on the Lightning invoice.
    pub description: Option<String>,
}

/// `verify_l402_payment`'s parameters (seed 003).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct VerifyParams {
    /// Base64-encoded macaroon from the L402 token.
    pub macaroon: String,
    /// Hex-encoded preimage (proof of payment).
    pub preimage: String,
    /// The resource access is asked for [default: the one the token names;
    /// the result's `resource` says which].
    pub resource: Option<String>,
}

/// The l402 MCP server: buyer tools over the paying client, seller tools
/// over a producer API (when a merchant key is configured).
#[derive(Clone)]
pub struct L402Mcp {
    buyer: Arc<Buyer>,
    seller: Option<Arc<Seller>>,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for L402Mcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L402Mcp")
            .field("buyer", &self.buyer)
            .field("seller", &self.seller)
            .finish_non_exhaustive()
    }
}

const NO_SELLER: &str = "no merchant configured: start l402 mcp with --producer-url and \
                         L402_MERCHANT_API_KEY to sell";

#[tool_router]
impl L402Mcp {
    /// A server with these buyer and (optional) seller sides.
    pub fn new(buyer: Buyer, seller: Option<Seller>) -> Self {
        L402Mcp {
            buyer: Arc::new(buyer),
            seller: seller.map(Arc::new),
            tool_router: Self::tool_router(),
        }
    }

    /// `access_l402_resource`.
    #[tool(
        description = "Fetch a URL, paying its L402 challenge (HTTP 402 + Lightning invoice) within the spending policy. A token bought once is reused. If a paid request fails, the result says alreadyPaid: do not pay again.",
        annotations(
            title = "Access an L402 resource",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn access_l402_resource(
        &self,
        Parameters(p): Parameters<AccessParams>,
    ) -> Json<ToolOutput> {
        let headers = p.headers.unwrap_or_default();
        ToolOutput::of(
            self.buyer
                .access(
                    &p.url,
                    p.method.as_deref(),
                    &headers,
                    p.body.as_deref(),
                    p.max_sats,
                    p.confirmation_code.as_deref(),
                )
                .await,
        )
    }

    /// `pay_l402_challenge`.
    #[tool(
        description = "Pay an L402 challenge (invoice and macaroon) handed over outside HTTP. Returns the preimage and the ready Authorization header value. An invoice paid before is never paid again.",
        annotations(
            title = "Pay an L402 challenge",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn pay_l402_challenge(
        &self,
        Parameters(p): Parameters<PayChallengeParams>,
    ) -> Json<ToolOutput> {
        ToolOutput::of(
            self.buyer
                .pay_challenge(
                    &p.invoice,
                    &p.macaroon,
                    p.max_sats,
                    p.confirmation_code.as_deref(),
                )
                .await,
        )
    }

    /// `pay_invoice`.
    #[tool(
        description = "Pay a BOLT11 Lightning invoice within the spending policy. The invoice is decoded and checked first (amount, expiry, signature); an invoice paid before is never paid again (the result says duplicate).",
        annotations(
            title = "Pay a Lightning invoice",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn pay_invoice(&self, Parameters(p): Parameters<PayInvoiceParams>) -> Json<ToolOutput> {
        ToolOutput::of(
            self.buyer
                .pay_invoice(&p.invoice, p.max_sats, p.confirmation_code.as_deref())
                .await,
        )
    }

    /// `discover_api`.
    #[tool(
        description = "What an L402 service sells and at what price, before paying: reads its /.well-known/l402.json (or a manifest URL, or a directory's apis.json) and lists the endpoints with prices in sats and whether each fits the budget. Nothing is paid.",
        annotations(
            title = "Discover an L402 API",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn discover_api(&self, Parameters(p): Parameters<DiscoverParams>) -> Json<ToolOutput> {
        ToolOutput::of(self.buyer.discover(&p.url).await)
    }

    /// `mint_scoped_token`.
    #[tool(
        description = "Narrow a bought L402 token for a sub-agent: a path or path prefix, HTTP methods, an expiry (default one hour). Returns the ready Authorization header value. The new token never allows more than the original; nothing is paid and the stored token is unchanged.",
        annotations(
            title = "Mint a scoped token",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn mint_scoped_token(
        &self,
        Parameters(p): Parameters<MintScopedParams>,
    ) -> Json<ToolOutput> {
        let request = crate::scoped::ScopeRequest {
            path: p.path,
            path_prefix: p.path_prefix,
            method: p.method,
            expires_in_secs: p.expires_in_secs,
        };
        ToolOutput::of(self.buyer.mint_scoped(&p.token, &request).await)
    }

    /// `get_balance`.
    #[tool(
        description = "The paying wallet's balance in sats.",
        annotations(
            title = "Wallet balance",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn get_balance(&self) -> Json<ToolOutput> {
        ToolOutput::of(self.buyer.balance().await)
    }

    /// `get_budget_status`.
    #[tool(
        description = "The spending policy (limits, approval tiers, cooldown) and this session's spending.",
        annotations(
            title = "Budget status",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn get_budget_status(&self) -> Json<ToolOutput> {
        ToolOutput::of(self.buyer.budget_status())
    }

    /// `configure_budget`.
    #[tool(
        description = "Lower this session's per-payment or per-session cap, in sats. Caps can only be lowered; the policy file is never changed.",
        annotations(
            title = "Tighten the budget",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn configure_budget(&self, Parameters(p): Parameters<BudgetParams>) -> Json<ToolOutput> {
        ToolOutput::of(self.buyer.tighten(p.per_request, p.per_session))
    }

    /// `get_payment_history`.
    #[tool(
        description = "Tokens bought (newest first) and payments still pending. Never a preimage.",
        annotations(
            title = "Payment history",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn get_payment_history(
        &self,
        Parameters(p): Parameters<HistoryParams>,
    ) -> Json<ToolOutput> {
        ToolOutput::of(self.buyer.history(p.limit).await)
    }

    /// `create_invoice`.
    #[tool(
        description = "Create a Lightning invoice to be paid into this wallet.",
        annotations(
            title = "Create an invoice",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn create_invoice(
        &self,
        Parameters(p): Parameters<CreateInvoiceParams>,
    ) -> Json<ToolOutput> {
        ToolOutput::of(
            self.buyer
                .create_invoice(p.amount_sats, p.memo.as_deref(), p.expiry_secs)
                .await,
        )
    }

    /// `check_invoice_status`.
    #[tool(
        description = "Whether an invoice made with create_invoice is paid, pending or expired.",
        annotations(
            title = "Invoice status",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn check_invoice_status(
        &self,
        Parameters(p): Parameters<InvoiceStatusParams>,
    ) -> Json<ToolOutput> {
        ToolOutput::of(self.buyer.invoice_status(&p.invoice_id).await)
    }

    /// `create_l402_challenge`.
    #[tool(
        description = "Create an L402 payment challenge (invoice + macaroon) to charge another agent for a resource. Share it; verify the payer's token with verify_l402_payment before granting access.",
        annotations(
            title = "Create an L402 challenge",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn create_l402_challenge(
        &self,
        Parameters(p): Parameters<CreateChallengeParams>,
    ) -> Json<ToolOutput> {
        let Some(seller) = &self.seller else {
            return ToolOutput::of(serde_json::json!({"success": false, "error": NO_SELLER}));
        };
        ToolOutput::of(
            seller
                .create(&p.resource, p.price_sats, p.description.as_deref())
                .await,
        )
    }

    /// `verify_l402_payment`.
    #[tool(
        description = "Verify an L402 token (macaroon + preimage) before granting access: the preimage matches the payment hash, the macaroon is genuine and bound to this merchant.",
        annotations(
            title = "Verify an L402 payment",
            read_only_hint = true,
            destructive_hint = false,
            open_world_hint = true
        )
    )]
    async fn verify_l402_payment(
        &self,
        Parameters(p): Parameters<VerifyParams>,
    ) -> Json<ToolOutput> {
        let Some(seller) = &self.seller else {
            return ToolOutput::of(serde_json::json!({"success": false, "error": NO_SELLER}));
        };
        ToolOutput::of(
            seller
                .verify(&p.macaroon, &p.preimage, p.resource.as_deref())
                .await,
        )
    }
}

const INSTRUCTIONS: &str = "Pay for L402 APIs within a spending policy the agent cannot change (access_l402_resource, pay_l402_challenge, pay_invoice; discover_api first to see prices), and charge other agents (create_l402_challenge, verify_l402_payment). Receipts: the l402://receipts resource.";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for L402Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("l402", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(receipts::resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            receipts::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.buyer
            .read_receipts(&request.uri)
            .await
            .map(ReadResourceResponse::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Policy, Session};

    fn server(dir: &std::path::Path) -> L402Mcp {
        let client = l402_client::Client::builder().build().unwrap();
        let path = dir.join("p.json");
        let policy = Policy::load_or_create(&path).unwrap();
        L402Mcp::new(Buyer::new(client, None, Session::new(policy), path), None)
    }

    #[test]
    fn every_tool_is_annotated_with_an_output_schema() {
        let dir = tempfile::tempdir().unwrap();
        let tools = server(dir.path()).tool_router.list_all();
        assert_eq!(tools.len(), 13);
        for tool in &tools {
            let a = tool.annotations.as_ref().expect("annotations");
            assert!(
                a.read_only_hint.is_some() && a.destructive_hint.is_some(),
                "{}",
                tool.name
            );
            let schema = tool.output_schema.as_ref().expect("output schema");
            assert_eq!(schema.get("type"), Some(&serde_json::json!("object")));
            // A paying tool is never read-only.
            if a.destructive_hint == Some(true) {
                assert_eq!(a.read_only_hint, Some(false), "{}", tool.name);
            }
        }
    }

    #[tokio::test]
    async fn seller_tools_without_a_merchant_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let out = server(dir.path())
            .verify_l402_payment(Parameters(VerifyParams {
                macaroon: "AgEE".into(),
                preimage: "00".repeat(32),
                resource: None,
            }))
            .await
            .0;
        assert!(!out.success);
        assert!(
            out.fields["error"]
                .as_str()
                .unwrap()
                .contains("no merchant")
        );
    }
}

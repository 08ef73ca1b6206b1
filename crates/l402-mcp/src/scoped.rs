//! `mint_scoped_token`: a bought token narrowed for a sub-agent (a path or
//! path prefix, methods, an expiry), through l402-client's
//! [`StoredToken::attenuate`]: first-party caveats the core checks
//! (`resource`, `resource_prefix`, `method`, `valid_until`), appended to
//! the macaroon, so the new token never allows more than the old one. The
//! stored token is unchanged; nothing is paid.

use l402_client::{Narrowing, Scope, StoredToken};
use serde_json::{Value, json};

use crate::buyer::{Buyer, fail};

/// The expiry given when none is asked: an hour (never later than the
/// token's own).
pub const DEFAULT_EXPIRES_IN_SECS: u64 = 3600;
/// The shortest payment-hash prefix that names a token.
const MIN_HASH_PREFIX: usize = 8;

/// What `mint_scoped_token` narrows to.
#[derive(Debug, Clone, Default)]
pub struct ScopeRequest {
    /// Exactly this path.
    pub path: Option<String>,
    /// Paths starting with this prefix.
    pub path_prefix: Option<String>,
    /// These HTTP methods (comma-separated).
    pub method: Option<String>,
    /// Seconds from now until it expires.
    pub expires_in_secs: Option<u64>,
}

impl Buyer {
    /// The stored token `reference` names: the URL it was bought for, its
    /// scope, or a payment-hash prefix (at least 8 hex digits, unique).
    async fn find_token(&self, reference: &str) -> Result<StoredToken, String> {
        let store = self.client.token_store();
        let reference = reference.trim();
        if let Ok(url) = reference.parse::<reqwest::Url>()
            && matches!(url.scheme(), "http" | "https")
            && let Some(token) = store
                .get(Scope::of(&url).as_str())
                .await
                .map_err(|e| e.to_string())?
        {
            return Ok(token);
        }
        let tokens = store.list().await.map_err(|e| e.to_string())?;
        if let Some(token) = tokens.iter().find(|t| t.scope == reference) {
            return Ok(token.clone());
        }
        let prefix = reference.to_ascii_lowercase();
        if prefix.len() >= MIN_HASH_PREFIX && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            let found: Vec<&StoredToken> = tokens
                .iter()
                .filter(|t| t.payment_hash.to_string().starts_with(&prefix))
                .collect();
            match found.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => return Err(format!("{reference} names {} tokens", found.len())),
            }
        }
        Err(format!(
            "no stored token for {reference} (give the URL it was bought for, its scope, or a \
             payment-hash prefix of at least {MIN_HASH_PREFIX} hex digits)"
        ))
    }

    /// `mint_scoped_token`.
    pub async fn mint_scoped(&self, reference: &str, request: &ScopeRequest) -> Value {
        let token = match self.find_token(reference).await {
            Ok(t) => t,
            Err(e) => return json!({"success": false, "error": e, "errorCode": "no_token"}),
        };
        let now = l402::time::unix_now();
        if token.is_expired_at(now) {
            return json!({"success": false, "error": "the stored token has expired", "errorCode": "expired"});
        }
        let mut narrowing = Narrowing::new();
        if let Some(prefix) = &request.path_prefix {
            narrowing = narrowing.path_prefix(prefix);
        }
        if let Some(path) = &request.path {
            narrowing = narrowing.path(path);
        }
        if let Some(methods) = &request.method {
            narrowing = narrowing.methods(methods.split(',').map(str::to_owned));
        }
        let default_until = now.saturating_add(DEFAULT_EXPIRES_IN_SECS);
        let until = match request.expires_in_secs {
            Some(0) => return fail("expires_in_secs must be at least 1"),
            Some(secs) => now.saturating_add(secs),
            // Never later than the token's own expiry.
            None => token
                .expires_at
                .map_or(default_until, |t| t.min(default_until)),
        };
        narrowing = narrowing.valid_until(until);
        let narrowed = match token.attenuate(&narrowing, now) {
            Ok(n) => n,
            Err(e) => {
                return json!({"success": false, "error": e.to_string(), "errorCode": "not_narrower"});
            }
        };
        let header = narrowed.authorization();
        json!({
            "success": true,
            "scope": token.scope,
            "paymentHash": token.payment_hash.to_string(),
            "added": narrowed.added.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "macaroon": narrowed.token.token,
            "expiresAt": narrowed.token.expires_at,
            "authorization": header,
            "usage": {
                "headerName": "Authorization",
                "headerValue": header,
                "description": "Give this to the sub-agent: it allows only what the added caveats allow, and never more than the original token.",
            },
            "message": "Scoped token minted; the stored token is unchanged and nothing was paid.",
        })
    }
}

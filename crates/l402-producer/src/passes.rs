//! Passes: l402kit's Pro tier, generalised. A merchant (the server's own,
//! `0`, by default) sells time-based access to a scope (a route, or `*` for
//! all of its routes) for [`PassConfig::duration`] (30 days by default)
//! instead of per request.
//!
//! - `GET /api/dev-token?address=` → `{access: true, expiresAt}` if the
//!   address holds a live pass, else `{access: false, priceSats, invoice,
//!   macaroon, paymentHash}`: a challenge minted through the one issuing
//!   path ([`l402_server::Issuer`]) whose token carries `merchant=`,
//!   `resource=<scope>`, `amount_sats=` and a `valid_until=` caveat as far
//!   out as the pass lasts. The address is kept with the challenge.
//! - `POST /api/dev-token {macaroon, preimage}` → verified by the producer's
//!   one verification path ([`l402::Verifier`]); the first success activates
//!   the pass (once per payment) → `{access: true, expiresAt}`. Unlike
//!   l402kit's unsigned base64 JSON, a self-made or altered token is refused
//!   (401 `{access: false, error, code}`).
//! - `GET /api/pro-check?address=` → `{active, expiresAt?}`.
//! - `GET /api/pass` with `Authorization: L402 <macaroon>:<preimage>`: the
//!   pass used as a credential, on every request until it expires
//!   (`{access: true, scope, expiresAt}`; expired or forged: 401).
//! - `POST /api/l402/challenges/verify` and l402kit's `POST /api/verify`
//!   accept the selling merchant's pass for any route in its scope
//!   ([`Inner::verify_pass`]); another merchant's pass, or an expired one,
//!   is refused.

use std::time::Duration;

use ::l402::RequestContext;
use axum::extract::{RawQuery, Request, State};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use http::{HeaderMap, StatusCode};
use l402_server::{Issuer, Offer};
use l402_store::Pass;
use serde_json::{Value, json};

use crate::decode::Fields;
use crate::error::ApiError;
use crate::issue::record_of;
use crate::l402::MAX_MACAROON_CHARS;
use crate::splits::lnurl::{LightningAddress, MAX_ADDRESS_CHARS};
use crate::{Inner, Shared, json, read_body, store_unavailable};

/// The default pass length: 30 days.
pub const DEFAULT_PASS_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default pass price, in sats (l402kit's ~9,000).
pub const DEFAULT_PASS_PRICE_SATS: u64 = 9_000;

/// What a pass sells ([`ProducerBuilder::passes`](crate::ProducerBuilder::passes)).
///
/// ```
/// use std::time::Duration;
/// use l402_producer::PassConfig;
/// let config = PassConfig::default()
///     .price_sats(500)
///     .scope("/api/pro")
///     .duration(Duration::from_secs(7 * 24 * 3600));
/// assert_eq!(config.price(), 500);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PassConfig {
    pub(crate) price_sats: u64,
    pub(crate) duration: Duration,
    pub(crate) scope: String,
    pub(crate) merchant_id: i64,
}

impl Default for PassConfig {
    fn default() -> Self {
        PassConfig {
            price_sats: DEFAULT_PASS_PRICE_SATS,
            duration: DEFAULT_PASS_DURATION,
            scope: "*".to_owned(),
            merchant_id: 0,
        }
    }
}

impl PassConfig {
    /// The price of a pass, in sats (default 9,000).
    pub fn price_sats(mut self, sats: u64) -> Self {
        self.price_sats = sats.max(1);
        self
    }

    /// The price.
    pub fn price(&self) -> u64 {
        self.price_sats
    }

    /// How long a pass lasts (default 30 days).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration.max(Duration::from_secs(1));
        self
    }

    /// What a pass opens: a route, or `*` (default) for all of the merchant's.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The merchant selling passes (default 0, the server's own).
    pub fn merchant(mut self, merchant_id: i64) -> Self {
        self.merchant_id = merchant_id.max(0);
        self
    }
}

pub(crate) fn routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/api/pro-check", get(pro_check)),
        ("/api/dev-token", get(offer).post(activate)),
        ("/api/pass", get(use_pass)),
    ]
}

/// The `address` query parameter, a Lightning Address (the holder).
fn address_param(query: Option<&str>) -> Result<String, ApiError> {
    let query = query.unwrap_or("");
    if query.len() > 4 * MAX_ADDRESS_CHARS {
        return Err(ApiError::field(
            "invalid_field",
            "address",
            "address is too long",
        ));
    }
    let found = reqwest::Url::parse(&format!("http://query.invalid/?{query}"))
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "address")
                .map(|(_, v)| v.into_owned())
        });
    let text =
        found.ok_or_else(|| ApiError::field("missing_field", "address", "address is required"))?;
    if text.len() > MAX_ADDRESS_CHARS {
        return Err(ApiError::field(
            "invalid_field",
            "address",
            "address is too long",
        ));
    }
    text.parse::<LightningAddress>()
        .map(|a| a.to_string())
        .map_err(|e| ApiError::field("invalid_field", "address", e.to_string()))
}

/// The running passes: the config and the issuer whose tokens last as
/// long as a pass.
pub(crate) struct Passes {
    pub(crate) config: PassConfig,
    pub(crate) issuer: Issuer,
}

impl Inner {
    fn pass_context(&self) -> RequestContext<'_> {
        let p = &self.passes.config;
        RequestContext::now()
            .merchant(p.merchant_id.to_string())
            .resource(&p.scope)
            .amount_sats(p.price_sats)
    }
}

/// What [`Inner::verify_pass`] found.
pub(crate) enum PassCheck {
    /// Not one of this merchant's passes: verify it as a per-request token.
    NotAPass,
    /// One of this merchant's passes, for `resource`: valid, or refused.
    Pass(Result<::l402::Verified, (&'static str, String)>),
}

impl Inner {
    /// The pass path of a verification: whether `macaroon` is a pass sold
    /// here by `merchant_id` (its challenge was recorded as a pass and it
    /// names the pass's scope) and, if so, whether it is genuine, paid
    /// (`preimage`), unexpired and opens `resource` (scope `*`: every route
    /// of the merchant).
    pub(crate) async fn verify_pass(
        &self,
        merchant_id: i64,
        macaroon: &str,
        preimage: &str,
        resource: &str,
    ) -> Result<PassCheck, ApiError> {
        let p = &self.passes.config;
        if p.merchant_id != merchant_id {
            return Ok(PassCheck::NotAPass);
        }
        // Only to choose the path: the signature is checked below.
        let Ok(parsed) = macaroon.trim().parse::<::l402::Macaroon>() else {
            return Ok(PassCheck::NotAPass);
        };
        let scope = format!("resource={}", p.scope);
        if !parsed.caveats().any(|c| c == scope.as_bytes()) {
            return Ok(PassCheck::NotAPass);
        }
        let Ok(identifier) = ::l402::Identifier::from_bytes(parsed.identifier()) else {
            return Ok(PassCheck::NotAPass);
        };
        let sold = self
            .store
            .challenge(&identifier.payment_hash.to_string())
            .await
            .map_err(|e| store_unavailable(&e))?;
        if !sold.is_some_and(|c| c.api == "pass" && c.merchant_id == merchant_id) {
            return Ok(PassCheck::NotAPass);
        }
        let verified = self
            .check(merchant_id, macaroon, preimage, &self.pass_context())
            .await;
        Ok(PassCheck::Pass(verified.and_then(|v| {
            if p.scope == "*" || p.scope == resource {
                Ok(v)
            } else {
                Err((
                    "wrong_resource",
                    format!("this pass opens {}, not {resource}", p.scope),
                ))
            }
        })))
    }
}

async fn live(inner: &Shared, holder: &str) -> Result<Option<Pass>, ApiError> {
    let p = &inner.passes.config;
    inner
        .store
        .live_pass(p.merchant_id, holder, &p.scope, l402_server::unix_now())
        .await
        .map_err(|e| store_unavailable(&e))
}

async fn pro_check(
    State(inner): State<Shared>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let holder = address_param(query.as_deref())?;
    let body = match live(&inner, &holder).await? {
        Some(pass) => json!({"active": true, "expiresAt": l402_server::rfc3339(pass.expires_at)}),
        None => json!({"active": false}),
    };
    Ok(json(StatusCode::OK, body))
}

async fn offer(
    State(inner): State<Shared>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let holder = address_param(query.as_deref())?;
    if let Some(pass) = live(&inner, &holder).await? {
        return Ok(json(
            StatusCode::OK,
            json!({"access": true, "expiresAt": l402_server::rfc3339(pass.expires_at)}),
        ));
    }
    let p = &inner.passes.config;
    let offer = Offer::new(p.scope.as_str(), p.price_sats)
        .caveat(::l402::Caveat::merchant(&p.merchant_id.to_string()))
        .description(format!("pass for {holder}"));
    let issued = inner
        .passes
        .issuer
        .issue(&offer)
        .await
        .map_err(|e| ApiError::issue(&e))?;
    // The holder is kept with the challenge, read back at activation.
    inner
        .record(record_of(
            &issued,
            p.merchant_id,
            "pass",
            Some(&holder),
            None,
        ))
        .await?;
    Ok(json(
        StatusCode::OK,
        json!({
            "access": false,
            "priceSats": p.price_sats,
            "invoice": issued.challenge.invoice,
            "macaroon": issued.challenge.macaroon,
            "paymentHash": issued.payment_hash.to_string(),
        }),
    ))
}

fn refused(code: &'static str, error: String) -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        json!({"access": false, "error": error, "code": code, "message": error}),
    )
}

/// The pass's expiry: the earliest `valid_until` caveat.
fn expiry(verified: &::l402::Verified) -> Option<u64> {
    verified
        .caveats
        .iter()
        .filter(|c| c.condition() == "valid_until")
        .filter_map(|c| c.value().parse::<u64>().ok())
        .min()
}

async fn activate(State(inner): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let fields = Fields::parse(
        &read_body(request.into_body()).await?,
        &["macaroon", "preimage"],
    )?;
    let macaroon = fields.string("macaroon", MAX_MACAROON_CHARS)?;
    let preimage = fields.string("preimage", 128)?;
    let p = &inner.passes.config;
    let verified = match inner
        .check(p.merchant_id, macaroon, preimage, &inner.pass_context())
        .await
    {
        Ok(v) => v,
        Err((code, error)) => return Ok(refused(code, error)),
    };
    let hash = verified.payment_hash().to_string();
    let challenge = inner
        .store
        .challenge(&hash)
        .await
        .map_err(|e| store_unavailable(&e))?;
    let Some(holder) = challenge
        .filter(|c| c.api == "pass")
        .and_then(|c| c.description)
    else {
        return Ok(refused(
            "unknown_pass",
            "this token was not sold as a pass here".to_owned(),
        ));
    };
    let expires_at = expiry(&verified).unwrap_or(0);
    let pass = Pass {
        payment_hash: hash.clone(),
        merchant_id: p.merchant_id,
        holder,
        scope: p.scope.clone(),
        activated_at: l402_server::unix_now(),
        expires_at,
    };
    let activated = inner
        .store
        .activate_pass(&pass)
        .await
        .map_err(|e| store_unavailable(&e))?;
    if activated {
        tracing::info!(merchant_id = p.merchant_id, "passes: a pass was activated");
        let data = json!({
            "address": pass.holder,
            "scope": pass.scope,
            "expiresAt": l402_server::rfc3339(expires_at),
            "paymentHash": hash,
        });
        let event = inner
            .emit(
                p.merchant_id,
                crate::EventKind::PassActivated,
                &hash,
                data,
                None,
            )
            .await;
        if let Err(e) = event {
            tracing::warn!(error = %e, "passes: cannot queue the pass.activated event");
        }
    }
    Ok(json(
        StatusCode::OK,
        json!({"access": true, "expiresAt": l402_server::rfc3339(expires_at)}),
    ))
}

/// The `L402`/`LSAT` credential of a request.
fn credential(headers: &HeaderMap) -> Option<(&str, &str)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("L402 ")
        .or_else(|| value.strip_prefix("LSAT "))?;
    token.trim().split_once(':')
}

async fn use_pass(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let Some((macaroon, preimage)) = credential(&headers) else {
        return refused(
            "missing_credential",
            "send Authorization: L402 <macaroon>:<preimage> of a pass".to_owned(),
        );
    };
    let p = &inner.passes.config;
    match inner
        .check(p.merchant_id, macaroon, preimage, &inner.pass_context())
        .await
    {
        Ok(verified) => {
            let body: Value = json!({
                "access": true,
                "scope": p.scope,
                "expiresAt": expiry(&verified).map(l402_server::rfc3339),
            });
            json(StatusCode::OK, body)
        }
        Err((code, error)) => refused(code, error),
    }
}

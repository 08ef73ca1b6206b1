//! Lightning Enable's producer API: `POST /api/l402/challenges` and
//! `POST /api/l402/challenges/verify`, plus the merchant's stats and the
//! free status probe.

use std::str::FromStr;

use ::l402::{
    Caveat, Credential, Ignorable, Macaroon, PaymentHash, Preimage, RequestContext, Verified,
};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use l402_lightning::InvoiceRequest;
use l402_store::{ChallengeRecord, Idempotency, PaymentRecord, Recorded};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::decode::Fields;
use super::error::ApiError;
use super::{
    IDEMPOTENCY_WINDOW, Inner, MAX_IDEMPOTENCY_KEY_CHARS, Shared, json, now_ms, read_body,
    store_unavailable,
};

/// The longest resource accepted.
pub(crate) const MAX_RESOURCE_CHARS: usize = 2048;
/// BOLT11 descriptions are at most 639 bytes.
pub(crate) const MAX_DESCRIPTION_BYTES: usize = 639;
/// The longest macaroon accepted (base64 characters).
pub(crate) const MAX_MACAROON_CHARS: usize = 8192;

/// What to mint.
pub(crate) struct Issue<'a> {
    pub(crate) merchant_id: i64,
    pub(crate) api: &'static str,
    pub(crate) resource: &'a str,
    pub(crate) price: u64,
    pub(crate) description: Option<&'a str>,
    pub(crate) owner_address: Option<&'a str>,
    pub(crate) caveats: Vec<Caveat>,
    pub(crate) lightning_error: Option<&'static str>,
}

impl Inner {
    /// Creates the invoice, mints the token, records the challenge (claiming
    /// the idempotency scope), and returns what to answer.
    pub(crate) async fn issue(
        &self,
        issue: Issue<'_>,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<ChallengeRecord, ApiError> {
        let memo = issue.description.unwrap_or(issue.resource);
        let memo: String = memo
            .char_indices()
            .take_while(|(i, c)| i + c.len_utf8() <= MAX_DESCRIPTION_BYTES)
            .map(|(_, c)| c)
            .collect();
        let request = InvoiceRequest::sats(issue.price)
            .memo(memo)
            .expiry(self.invoice_expiry);
        let invoice = self.receiver.create_invoice(&request).await.map_err(|e| {
            tracing::warn!(error = %e, "producer: cannot create an invoice");
            let mut err = ApiError::unavailable(
                "lightning_unavailable",
                format!("no invoice could be created: {e}"),
            );
            if let Some(text) = issue.lightning_error {
                err = err.with_error(text);
            }
            err
        })?;
        let macaroon = self
            .minter
            .mint(invoice.payment_hash, &issue.caveats)
            .map_err(|e| ApiError::unavailable("mint_failed", e.to_string()))?;
        let record = ChallengeRecord {
            payment_hash: invoice.payment_hash.to_string(),
            merchant_id: issue.merchant_id,
            api: issue.api.to_owned(),
            resource: issue.resource.to_owned(),
            amount_sats: issue.price,
            description: issue.description.map(str::to_owned),
            owner_address: issue.owner_address.map(str::to_owned),
            expires_at: invoice.expires_at_unix(),
            invoice: invoice.bolt11,
            macaroon: macaroon.to_string(),
            created_at: l402_server::unix_now(),
        };
        match self.store.record_challenge(&record, idempotency).await {
            Ok(Recorded::Inserted) => Ok(record),
            Ok(Recorded::Existing(existing)) => Ok(existing),
            Err(e) => Err(store_unavailable(&e)),
        }
    }

    /// Verifies a macaroon and preimage against `ctx`, recording the first
    /// valid verification of each payment hash and counting every one.
    pub(crate) async fn check(
        &self,
        merchant_id: i64,
        macaroon: &str,
        preimage: &str,
        ctx: &RequestContext<'_>,
    ) -> Result<Verified, (&'static str, String)> {
        let expected = merchant_id.to_string();
        let result = self
            .check_token(macaroon, preimage, ctx)
            .and_then(|verified| {
                // Bound to this merchant: a token without a merchant caveat
                // (one sold by a paid route of this server, say) is not one.
                if verified.caveat("merchant") == Some(expected.as_str()) {
                    Ok(verified)
                } else {
                    Err((
                        "wrong_merchant",
                        "Token was not issued for this merchant".to_owned(),
                    ))
                }
            });
        self.count(merchant_id, result.is_ok());
        let verified = result?;
        let hash = verified.payment_hash();
        if !self.seen_payment(&hash.0) {
            let payment = PaymentRecord {
                payment_hash: hash.to_string(),
                merchant_id,
                resource: verified.caveat("resource").map(str::to_owned),
                amount_sats: verified
                    .caveat("amount_sats")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0),
                verified_at: l402_server::unix_now(),
            };
            // Verification needs no database: a store failure is logged and
            // the payment is recorded at its next verification.
            match self.store.record_payment(&payment).await {
                Ok(_) => self.remember_payment(hash.0),
                Err(e) => tracing::error!(error = %e, "producer: cannot record a payment"),
            }
        }
        Ok(verified)
    }

    fn check_token(
        &self,
        macaroon: &str,
        preimage: &str,
        ctx: &RequestContext<'_>,
    ) -> Result<Verified, (&'static str, String)> {
        let macaroon = Macaroon::from_str(macaroon.trim()).map_err(|e| {
            (
                "malformed_macaroon",
                format!("macaroon is not a valid base64 macaroon: {e}"),
            )
        })?;
        let preimage = Preimage::from_str(preimage.trim()).map_err(|_| {
            (
                "malformed_preimage",
                "preimage must be 64 hex digits".to_owned(),
            )
        })?;
        let credential = Credential::new(macaroon, preimage);
        self.verifier.verify(&credential, ctx).map_err(|e| {
            let code = match &e {
                ::l402::VerifyError::Caveat(::l402::CaveatError::WrongMerchant { .. }) => {
                    "wrong_merchant"
                }
                _ => l402_server::Rejection {
                    reason: e.clone(),
                    resource: String::new(),
                    price_sats: 0,
                }
                .code(),
            };
            let message = match &e {
                ::l402::VerifyError::WrongPreimage(_) => {
                    "Preimage does not match payment hash".to_owned()
                }
                other => {
                    let text = other.to_string();
                    let mut chars = text.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                        .unwrap_or(text)
                }
            };
            (code, message)
        })
    }
}

/// The challenge as Lightning Enable answers it.
pub(crate) fn challenge_json(c: &ChallengeRecord) -> Value {
    json!({
        "invoice": c.invoice,
        "macaroon": c.macaroon,
        "paymentHash": c.payment_hash,
        "expiresAt": l402_server::rfc3339(c.expires_at),
        "resource": c.resource,
        "priceSats": c.amount_sats,
        "mppChallenge": null,
    })
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn create(State(inner): State<Shared>, request: Request) -> Response {
    respond(create_inner(&inner, request).await)
}

async fn create_inner(inner: &Inner, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let who = inner.merchant(&parts.headers).await?;
    let idempotency_key = match parts.headers.get("x-idempotency-key") {
        None => None,
        Some(value) => {
            let field = "X-Idempotency-Key";
            let text = value.to_str().map_err(|_| {
                ApiError::field(
                    "invalid_header",
                    field,
                    format!("{field} must be ASCII text"),
                )
            })?;
            if text.is_empty() || text.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
                return Err(ApiError::field(
                    "invalid_header",
                    field,
                    format!("{field} must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
                ));
            }
            Some(text.to_owned())
        }
    };
    let body = read_body(body).await?;
    let fields = Fields::parse(&body, &["resource", "priceSats", "description"])?;
    let resource = fields.string("resource", MAX_RESOURCE_CHARS)?;
    let price = fields.integer("priceSats", 1, inner.max_price_sats)?;
    let description = fields.opt_string("description", MAX_DESCRIPTION_BYTES)?;
    if description.is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES) {
        return Err(ApiError::field(
            "invalid_field",
            "description",
            format!("description is longer than {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }

    let client = match idempotency_key {
        Some(key) => format!("key:{key}"),
        None => match inner.client_addr(&parts) {
            Some(ip) => format!("ip:{ip}"),
            None => "ip:unknown".to_owned(),
        },
    };
    let mut hasher = Sha256::new();
    for part in [client.as_bytes(), resource.as_bytes(), &price.to_be_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let scope = hex::encode(hasher.finalize());
    let now = now_ms();
    let window = IDEMPOTENCY_WINDOW.as_millis() as u64;
    if let Some(existing) = inner
        .store
        .find_idempotent(who.merchant.id, &scope, now.saturating_sub(window))
        .await
        .map_err(|e| store_unavailable(&e))?
    {
        return Ok(json(StatusCode::OK, challenge_json(&existing)));
    }
    let valid_until = l402_server::unix_now().saturating_add(inner.token_lifetime.as_secs());
    let merchant = who.merchant.id.to_string();
    let record = inner
        .issue(
            Issue {
                merchant_id: who.merchant.id,
                api: "l402",
                resource,
                price,
                description,
                owner_address: None,
                caveats: vec![
                    Caveat::merchant(&merchant),
                    Caveat::resource(resource),
                    Caveat::amount_sats(price),
                    Caveat::valid_until(valid_until),
                ],
                lightning_error: None,
            },
            Some(Idempotency {
                scope: &scope,
                now_ms: now,
                window_ms: window,
            }),
        )
        .await?;
    Ok(json(StatusCode::OK, challenge_json(&record)))
}

pub(super) async fn verify(State(inner): State<Shared>, request: Request) -> Response {
    respond(verify_inner(&inner, request).await)
}

async fn verify_inner(inner: &Inner, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let who = inner.merchant(&parts.headers).await?;
    let body = read_body(body).await?;
    let fields = Fields::parse(&body, &["macaroon", "preimage", "resource", "amountSats"])?;
    let macaroon = fields.string("macaroon", MAX_MACAROON_CHARS)?;
    let preimage = fields.string("preimage", 128)?;
    let resource = fields.opt_string("resource", MAX_RESOURCE_CHARS)?;
    let amount = fields.opt_integer("amountSats", 1, inner.max_price_sats)?;

    let mut ctx = RequestContext::now().merchant(who.merchant.id.to_string());
    ctx = match resource {
        Some(r) => ctx.resource(r),
        None => ctx.ignore(Ignorable::Resource),
    };
    ctx = match amount {
        Some(a) => ctx.amount_sats(a),
        None => ctx.ignore(Ignorable::AmountSats),
    };
    let body = match inner.check(who.merchant.id, macaroon, preimage, &ctx).await {
        Ok(verified) => valid_json(&verified, who.merchant.id),
        Err((code, error)) => json!({"valid": false, "error": error, "code": code}),
    };
    Ok(json(StatusCode::OK, body))
}

fn valid_json(verified: &Verified, merchant_id: i64) -> Value {
    let amount: Option<u64> = verified.caveat("amount_sats").and_then(|a| a.parse().ok());
    let hash: PaymentHash = verified.payment_hash();
    json!({
        "valid": true,
        "resource": verified.caveat("resource"),
        "merchantId": merchant_id,
        "amountSats": amount,
        "paymentHash": hash.to_string(),
    })
}

pub(super) async fn stats(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    respond(
        async {
            let who = inner.merchant(&headers).await?;
            if let Err(e) = inner.flush().await {
                tracing::warn!(error = %e, "producer: cannot write verification counts");
            }
            let stats = inner
                .store
                .stats(Some(who.merchant.id))
                .await
                .map_err(|e| store_unavailable(&e))?;
            let mut body = super::admin::stats_json(&stats);
            body["merchantId"] = json!(who.merchant.id);
            Ok(json(StatusCode::OK, body))
        }
        .await,
    )
}

pub(super) async fn status(State(inner): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        json!({
            "status": "ok",
            "l402": true,
            "backend": inner.receiver.backend().to_string(),
        }),
    )
}

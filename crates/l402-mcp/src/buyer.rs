//! The buyer tools' logic: a thin layer over [`l402_client::Client`] (with
//! auto-pay off: each payment is decided here by the [`Session`] first, then
//! bought through [`Client::pay_offer`], the client's engine and journal).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use l402_client::{Client, FetchError, Method, MoneyMoved, PaymentState, StatusCode};
use l402_lightning::{Receiver, Wallet};
use serde_json::{Value, json};

use crate::confirm::{Confirmations, Redeemed};
use crate::fiat::FiatGuard;
use crate::guard;
use crate::policy::{Reservation, Session, Tier};

/// The most response characters an `access_l402_resource` result carries.
pub const MAX_RESPONSE_CHARS: usize = 5_000;

/// What the buyer tools work with.
pub struct Buyer {
    pub(crate) client: Client,
    wallet: Option<Arc<dyn Wallet>>,
    pub(crate) receiver: Option<Arc<dyn Receiver>>,
    pub(crate) session: Session,
    confirmations: Confirmations,
    fiat: Option<FiatGuard>,
    policy_file: PathBuf,
}

impl std::fmt::Debug for Buyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buyer")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

pub(crate) fn sats_of(msat: u64) -> u64 {
    msat.div_ceil(1000)
}

pub(crate) fn fail(error: impl Into<String>) -> Value {
    json!({"success": false, "error": error.into()})
}

impl Buyer {
    /// A buyer over `client` (build it with auto-pay off: this layer
    /// decides each payment), `wallet` (for the balance) and the session
    /// read from `policy_file`.
    pub fn new(
        client: Client,
        wallet: Option<Arc<dyn Wallet>>,
        session: Session,
        policy_file: PathBuf,
    ) -> Self {
        let (channel, ttl) = session.policy().channel().unwrap_or((
            crate::confirm::Channel::Stderr,
            std::time::Duration::from_secs(120),
        ));
        let fiat = session
            .policy()
            .fiat
            .clone()
            .map(|limits| FiatGuard::new(limits.clone(), limits.price_source()));
        Buyer {
            client,
            wallet,
            receiver: None,
            session,
            confirmations: Confirmations::new(channel, ttl),
            fiat,
            policy_file,
        }
    }

    /// Prices the policy's fiat caps with `source` instead of the one the
    /// policy names.
    pub fn with_price_source(mut self, source: Arc<dyn l402_client::PriceSource>) -> Self {
        if let Some(limits) = self.session.policy().fiat.clone() {
            self.fiat = Some(FiatGuard::new(limits, source));
        }
        self
    }

    /// The wallet `create_invoice` and `check_invoice_status` receive with.
    pub fn with_receiver(mut self, receiver: Arc<dyn Receiver>) -> Self {
        self.receiver = Some(receiver);
        self
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The policy's answer for paying `sats` with `tool` to `destination`:
    /// a reservation, or the tool result that refuses (a denial, or a
    /// confirmation code sent out of band).
    pub(crate) async fn decide(
        &self,
        sats: u64,
        max_sats: Option<u64>,
        tool: &str,
        destination: &str,
        code: Option<&str>,
    ) -> Result<Reservation, Value> {
        let denied = |code: &str, reason: String| {
            json!({
                "success": false,
                "error": reason,
                "denialReason": code,
                "priceSats": sats,
                "budget": self.budget_view(max_sats),
                "note": "Nothing was paid.",
            })
        };
        // The fiat caps first (fail closed without a price), holding the
        // gate until the session has reserved the payment.
        let _gate = match &self.fiat {
            Some(fiat) => {
                let gate = fiat.gate.lock().await;
                let day_msat = match self.client.ledger().spent("").await {
                    Ok(spent) => spent.day_msat,
                    Err(e) => {
                        return Err(denied(
                            "no_price",
                            format!("the day's spending cannot be read ({e}); not paid"),
                        ));
                    }
                };
                let day_msat =
                    day_msat.saturating_add(self.session.in_flight_sats().saturating_mul(1000));
                if let Err(d) = fiat.check(sats, day_msat).await {
                    return Err(denied(d.code, d.reason));
                }
                Some(gate)
            }
            None => None,
        };
        let denial = match self.session.reserve(sats, max_sats, false) {
            Ok(r) => return Ok(r),
            Err(d) => d,
        };
        if denial.code != "confirmation_required" {
            return Err(denied(denial.code, denial.reason));
        }
        if let Some(code) = code {
            return match self.confirmations.redeem(code, sats, tool, destination) {
                Redeemed::Valid => self
                    .session
                    .reserve(sats, max_sats, true)
                    .map_err(|d| denied(d.code, d.reason)),
                Redeemed::Wrong => Err(denied(
                    "confirmation_invalid",
                    "the confirmation code is wrong, expired or for another payment; every \
                     pending code is revoked: call again without a code for a new one"
                        .to_owned(),
                )),
            };
        }
        let channel = self.confirmations.channel().name();
        if let Err(e) = self.confirmations.issue(sats, tool, destination).await {
            return Err(denied(
                "confirmation_undeliverable",
                format!("the confirmation code could not be delivered ({e}); not paid"),
            ));
        }
        Err(json!({
            "success": false,
            "requiresConfirmation": true,
            "confirmationChannel": channel,
            "approvalLevel": "confirm",
            "error": denial.reason,
            "message": format!("A confirmation code was sent to the user ({channel}). Ask them for it; it is never in a tool result."),
            "howToConfirm": format!("Call {tool} again with the same arguments and confirmation_code set to the code."),
            "amount": {"sats": sats},
            "expiresInSeconds": self.confirmations.ttl().as_secs(),
            "budget": self.budget_view(max_sats),
            "note": "Nothing was paid.",
        }))
    }

    fn budget_view(&self, max_sats: Option<u64>) -> Value {
        let status = self.session.status();
        json!({
            "maxSats": self.session.payment_ceiling(max_sats),
            "remainingSessionSats": status.remaining_session_sats,
            "spentSessionSats": status.spent_sats,
        })
    }

    pub(crate) fn session_view(&self) -> Value {
        let status = self.session.status();
        json!({
            "spentSats": status.spent_sats,
            "remainingSats": status.remaining_session_sats,
            "requestCount": status.payments,
        })
    }

    /// `access_l402_resource`.
    pub async fn access(
        &self,
        url: &str,
        method: Option<&str>,
        headers: &BTreeMap<String, String>,
        body: Option<&str>,
        max_sats: Option<u64>,
        code: Option<&str>,
    ) -> Value {
        let policy = self.session.policy();
        let method_name = method.unwrap_or("GET").to_ascii_uppercase();
        if !policy.allows_method(&method_name) {
            return json!({
                "success": false,
                "error": format!("{method_name} is not allowed: paid fetches are {} only (the policy's allowMethods)", policy.allow_methods.join("/")),
                "denialReason": "method_not_allowed",
                "url": url,
            });
        }
        let Ok(method) = Method::from_bytes(method_name.as_bytes()) else {
            return fail(format!("invalid method {method_name:?}"));
        };
        let parsed = match guard::check_url(url, policy.allow_private_addresses).await {
            Ok(u) => u,
            Err(e) => {
                return json!({"success": false, "error": e, "denialReason": "address_refused", "url": url});
            }
        };
        let send = || {
            let mut request = self.client.request(method.clone(), parsed.clone());
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(body) = body {
                request = request.body(body.as_bytes().to_vec());
            }
            request.send()
        };
        let first = match send().await {
            Ok(r) => r,
            Err(e) => return fail(format!("{e}")),
        };
        if first.status() != StatusCode::PAYMENT_REQUIRED {
            // Free, or a stored token did it: nothing paid now.
            return answer(url, &method_name, &first, 0, None, self.session_view());
        }
        let offer =
            match l402_client::parse_challenge(first.status(), first.headers(), first.bytes()) {
                Ok(offer) => offer,
                Err(e) => return fail(format!("the 402 carries no usable L402 challenge: {e}")),
            };
        let Some(amount_msat) = offer.quote.amount_msat else {
            return json!({"success": false, "error": "the invoice has no amount; not paid", "denialReason": "amountless_invoice", "url": url});
        };
        let sats = sats_of(amount_msat);
        let reservation = match self
            .decide(sats, max_sats, "access_l402_resource", url, code)
            .await
        {
            Ok(r) => r,
            Err(mut refusal) => {
                refusal["url"] = json!(url);
                return refusal;
            }
        };
        if reservation.tier == Tier::Log {
            eprintln!("l402 mcp: paying {sats} sats for {method_name} {url}");
        }
        let paid = self.client.pay_offer(&parsed, &offer).await;
        let paid = match paid {
            Ok(p) => {
                let moved = p.paid_now.then_some(sats);
                self.session.finish(reservation, moved);
                p
            }
            Err(e) => {
                let moved = e.money_moved();
                self.session
                    .finish(reservation, (moved != MoneyMoved::No).then_some(sats));
                return payment_error(&e);
            }
        };
        let token = format!("L402 {}:{}", paid.token, paid.preimage);
        let receipt = json!({
            "paymentHash": paid.payment_hash.to_string(),
            "amountSats": paid.amount_msat.map(sats_of),
            "feeSats": sats_of(paid.fee_msat),
            "paidNow": paid.paid_now,
        });
        let paid_sats = if paid.paid_now { sats } else { 0 };
        match send().await {
            Ok(r) if r.status().is_success() => answer(
                url,
                &method_name,
                &r,
                paid_sats,
                Some(receipt),
                self.session_view(),
            ),
            Ok(r) => json!({
                "success": false,
                "error": format!("paid, but the server answered HTTP {}", r.status().as_u16()),
                "alreadyPaid": true,
                "payment": {"paid": true, "amountSats": paid.amount_msat.map(sats_of), "l402Token": token},
                "paymentReceipt": receipt,
                "message": "Already paid: do NOT pay again. Retry the request with the l402Token as the Authorization header; the token is kept in the token store.",
            }),
            Err(e) => json!({
                "success": false,
                "error": format!("paid, but the paid request failed: {e}"),
                "alreadyPaid": true,
                "payment": {"paid": true, "amountSats": paid.amount_msat.map(sats_of), "l402Token": token},
                "paymentReceipt": receipt,
                "message": "Already paid: do NOT pay again. Retry the request with the l402Token as the Authorization header; the token is kept in the token store.",
            }),
        }
    }

    /// `pay_l402_challenge`: pays an invoice and macaroon handed over
    /// outside HTTP.
    pub async fn pay_challenge(
        &self,
        invoice: &str,
        macaroon: &str,
        max_sats: Option<u64>,
        code: Option<&str>,
    ) -> Value {
        if invoice.contains(['"', '\r', '\n']) || macaroon.contains(['"', '\r', '\n']) {
            return fail("the invoice and macaroon must not contain quotes or line breaks");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        let Ok(value) = format!("L402 macaroon=\"{macaroon}\", invoice=\"{invoice}\"").parse()
        else {
            return fail("the invoice or macaroon holds characters a header cannot carry");
        };
        headers.insert(reqwest::header::WWW_AUTHENTICATE, value);
        let offer = match l402_client::parse_challenge(StatusCode::PAYMENT_REQUIRED, &headers, b"")
        {
            Ok(o) => o,
            Err(e) => return fail(format!("not a payable L402 challenge: {e}")),
        };
        let hash = offer.quote.payment_hash;
        // Paid before (by this tool, a fetch, or an earlier run)? Hand back
        // the journaled proof; never pay an invoice twice.
        if let Ok(Some(entry)) = self.client.ledger().entry(&hash).await
            && entry.state == PaymentState::Paid
            && let Some(preimage) = entry.preimage
        {
            return challenge_answer(
                &offer.token,
                &preimage.to_string(),
                sats_of(entry.amount_msat),
                false,
            );
        }
        let Some(amount_msat) = offer.quote.amount_msat else {
            return json!({"success": false, "error": "the invoice has no amount; not paid", "denialReason": "amountless_invoice"});
        };
        let sats = sats_of(amount_msat);
        let destination = hash.to_string();
        let reservation = match self
            .decide(sats, max_sats, "pay_l402_challenge", &destination, code)
            .await
        {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        if reservation.tier == Tier::Log {
            eprintln!("l402 mcp: paying {sats} sats for the challenge {hash}");
        }
        // Each challenge is its own scope (its own origin), so payee pinning
        // and a stored token for one challenge never touch another.
        let scope = format!("https://{hash}.challenge.l402.invalid/");
        let Ok(scope) = scope.parse() else {
            self.session.finish(reservation, None);
            return fail("internal: bad scope URL");
        };
        match self.client.pay_offer(&scope, &offer).await {
            Ok(paid) => {
                self.session
                    .finish(reservation, paid.paid_now.then_some(sats));
                challenge_answer(&paid.token, &paid.preimage.to_string(), sats, paid.paid_now)
            }
            Err(e) => {
                let moved = e.money_moved();
                self.session
                    .finish(reservation, (moved != MoneyMoved::No).then_some(sats));
                payment_error(&e)
            }
        }
    }

    /// `get_balance`.
    pub async fn balance(&self) -> Value {
        let Some(wallet) = &self.wallet else {
            return json!({"success": false, "error": "no wallet configured", "errorCode": "no_wallet"});
        };
        match wallet.balance_msat().await {
            Ok(msat) => json!({
                "success": true,
                "wallet_type": wallet.backend().to_string(),
                "balance_sats": msat / 1000,
                "message": format!("{} sats available", msat / 1000),
            }),
            Err(e) => {
                json!({"success": false, "error": e.to_string(), "errorCode": "wallet_error"})
            }
        }
    }

    /// `get_budget_status`.
    pub fn budget_status(&self) -> Value {
        json!({
            "success": true,
            "configuration": {
                "configFile": self.policy_file.display().to_string(),
                "policy": self.session.policy(),
            },
            "session": self.session.status(),
            "note": "Limits come from the policy file, which no tool can change; configure_budget only lowers this session's caps.",
        })
    }

    /// `configure_budget`: lowers the session's caps.
    pub fn tighten(&self, per_payment: Option<u64>, per_session: Option<u64>) -> Value {
        let (p, s) = self.session.tighten(per_payment, per_session);
        json!({
            "success": true,
            "effectivePerPaymentSats": p,
            "effectivePerSessionSats": s,
            "message": "Caps can only be lowered: a value above the cap in force is ignored.",
        })
    }

    /// `get_payment_history`: the tokens bought (from the client's store)
    /// and the payments still pending in the journal. Never a preimage.
    pub async fn history(&self, limit: Option<usize>) -> Value {
        let limit = limit.unwrap_or(50).min(500);
        let mut tokens = match self.client.token_store().list().await {
            Ok(t) => t,
            Err(e) => return fail(e.to_string()),
        };
        tokens.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        let payments: Vec<Value> = tokens
            .iter()
            .take(limit)
            .map(|t| {
                json!({
                    "scope": t.scope,
                    "paymentHash": t.payment_hash.to_string(),
                    "amountSats": t.amount_msat.map(sats_of),
                    "tokenKind": t.kind.as_str(),
                    "createdAt": t.created_at,
                    "expiresAt": t.expires_at,
                    "uses": t.uses,
                })
            })
            .collect();
        let pending = match self.client.ledger().pending().await {
            Ok(p) => p
                .iter()
                .map(|e| json!({"paymentHash": e.payment_hash.to_string(), "url": e.url, "amountSats": sats_of(e.amount_msat)}))
                .collect::<Vec<_>>(),
            Err(e) => return fail(e.to_string()),
        };
        json!({
            "success": true,
            "count": payments.len(),
            "payments": payments,
            "pending": pending,
            "session": self.session_view(),
        })
    }
}

fn challenge_answer(token: &str, preimage: &str, sats: u64, paid_now: bool) -> Value {
    let header = format!("L402 {token}:{preimage}");
    json!({
        "success": true,
        "preimage": preimage,
        "amount_sats": sats,
        "protocol": "L402",
        "alreadyPaid": !paid_now,
        "usage": {
            "headerName": "Authorization",
            "headerValue": header,
            "protocol": "L402",
            "description": "Send this Authorization header with the request the challenge was for.",
        },
        "message": if paid_now {
            format!("Paid {sats} sats.")
        } else {
            "This invoice was paid before: its proof is returned, nothing was paid again.".to_owned()
        },
    })
}

pub(crate) fn payment_error(e: &FetchError) -> Value {
    let moved = e.money_moved();
    let mut out = json!({
        "success": false,
        "error": e.to_string(),
        "errorCode": e.code(),
        "moneyMoved": moved.to_string(),
    });
    if moved != MoneyMoved::No {
        out["message"] = json!(
            "The payment may have gone through: do NOT pay again. The journal resolves it on the next call."
        );
    }
    out
}

fn answer(
    url: &str,
    method: &str,
    response: &l402_client::Response,
    paid_sats: u64,
    receipt: Option<Value>,
    session: Value,
) -> Value {
    let text = response.text();
    let truncated: String = text.chars().take(MAX_RESPONSE_CHARS).collect();
    json!({
        "success": response.status().is_success(),
        "url": url,
        "method": method,
        "status": response.status().as_u16(),
        "paid_sats": paid_sats,
        "response": truncated,
        "truncated": truncated.len() < text.len(),
        "message": if paid_sats > 0 {
            format!("Paid {paid_sats} sats; the token is stored and reused for this resource.")
        } else {
            "Nothing paid now.".to_owned()
        },
        "paymentReceipt": receipt,
        "session": session,
    })
}

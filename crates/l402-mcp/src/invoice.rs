//! `pay_invoice`: a bare BOLT11 invoice (Lightning Enable's tool), decoded
//! fully here for the policy's decision (amount, expiry), then paid through
//! [`l402_client::Client::pay_invoice`]: the client's invoice checks,
//! budgets and journal, so an invoice is never paid twice, across restarts
//! and across tools (one paid by `pay_l402_challenge` or a fetch is
//! answered as a duplicate).

use l402::invoice::Invoice;
use l402_client::{MoneyMoved, PaymentState};
use serde_json::{Value, json};

use crate::buyer::{Buyer, payment_error, sats_of};
use crate::policy::Tier;

/// The tool name codes are bound to.
const TOOL: &str = "pay_invoice";

fn duplicate(hash: &str, preimage: &str, sats: u64) -> Value {
    json!({
        "success": false,
        "errorCode": "duplicate",
        "duplicate": true,
        "alreadyPaid": true,
        "error": "this invoice was paid before; it is never paid twice",
        "paymentHash": hash,
        "preimage": preimage,
        "amountSats": sats,
        "invoice": {"paid": true},
        "message": "Already paid: do NOT pay again. The preimage is the proof of the earlier payment.",
    })
}

fn refused(code: &str, error: String) -> Value {
    json!({
        "success": false,
        "error": error,
        "denialReason": code,
        "note": "Nothing was paid.",
    })
}

impl Buyer {
    /// `pay_invoice`.
    pub async fn pay_invoice(
        &self,
        invoice: &str,
        max_sats: Option<u64>,
        code: Option<&str>,
    ) -> Value {
        let text = invoice.trim();
        let text = text
            .get(..10)
            .filter(|p| p.eq_ignore_ascii_case("lightning:"))
            .map_or(text, |_| &text[10..]);
        let decoded: Invoice = match text.parse() {
            Ok(i) => i,
            Err(e) => {
                return refused(
                    "invalid_invoice",
                    format!("not a valid BOLT11 invoice: {e}"),
                );
            }
        };
        let hash = decoded.payment_hash();
        if let Ok(Some(entry)) = self.client.ledger().entry(&hash).await
            && entry.state == PaymentState::Paid
            && let Some(preimage) = entry.preimage
        {
            return duplicate(
                &hash.to_string(),
                &preimage.to_string(),
                sats_of(entry.amount_msat),
            );
        }
        let Some(amount_msat) = decoded.amount_msat() else {
            return refused(
                "amountless_invoice",
                "the invoice has no amount; not paid".to_owned(),
            );
        };
        if l402::time::unix_now() >= decoded.expires_at() {
            return refused("invoice_expired", "the invoice has expired".to_owned());
        }
        let sats = sats_of(amount_msat);
        // Codes are bound to the exact invoice.
        let destination = text.to_ascii_lowercase();
        let reservation = match self.decide(sats, max_sats, TOOL, &destination, code).await {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        if reservation.tier == Tier::Log {
            eprintln!("l402 mcp: paying {sats} sats for the invoice {hash}");
        }
        match self.client.pay_invoice(text).await {
            Ok(paid) => {
                self.session
                    .finish(reservation, paid.paid_now.then_some(sats));
                if !paid.paid_now {
                    return duplicate(&hash.to_string(), &paid.preimage.to_string(), sats);
                }
                json!({
                    "success": true,
                    "preimage": paid.preimage.to_string(),
                    "paymentHash": hash.to_string(),
                    "amountSats": sats_of(paid.amount_msat),
                    "feeSats": sats_of(paid.fee_msat),
                    "invoice": {
                        "paid": true,
                        "paymentHash": hash.to_string(),
                        "amountSats": sats,
                        "description": decoded.description(),
                        "payee": decoded.payee().to_string(),
                    },
                    "message": format!("Paid {sats} sats."),
                    "session": self.session_view(),
                })
            }
            Err(e) => {
                let moved = e.money_moved();
                self.session
                    .finish(reservation, (moved != MoneyMoved::No).then_some(sats));
                payment_error(&e)
            }
        }
    }
}

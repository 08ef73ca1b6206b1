//! Receipts as MCP resources: `l402://receipts` (the paid payments, most
//! recent first, at most [`MAX_RECEIPTS`]) and
//! `l402://receipts/{payment_hash}` (one), read from the paying client's
//! journal (every path pays through it: fetches, challenges, invoices).
//! A receipt never carries the preimage.

use l402_client::{JournalEntry, PaymentState};
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use crate::buyer::{Buyer, sats_of};

/// The list's URI.
pub const LIST_URI: &str = "l402://receipts";
/// The template of one receipt's URI.
pub const ONE_TEMPLATE: &str = "l402://receipts/{payment_hash}";
/// The most receipts the list returns.
pub const MAX_RECEIPTS: usize = 200;
const ONE_PREFIX: &str = "l402://receipts/";
const JSON: &str = "application/json";

/// The resources listed.
pub fn resources() -> Vec<Resource> {
    vec![
        Resource::new(LIST_URI, "receipts")
            .with_title("Payment receipts")
            .with_description(
                "Payments made by this server's wallet, most recent first (no preimages).",
            )
            .with_mime_type(JSON),
    ]
}

/// The resource templates listed.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(ONE_TEMPLATE, "receipt")
            .with_title("One payment receipt")
            .with_description("The receipt of one payment, by its payment hash (no preimage).")
            .with_mime_type(JSON),
    ]
}

/// What a journal entry was paid for, from its scope.
fn what(entry: &JournalEntry) -> &'static str {
    let host = reqwest::Url::parse(&entry.scope)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if host.ends_with(".invoice.l402.invalid") {
        "invoice"
    } else if host.ends_with(".challenge.l402.invalid") {
        "challenge"
    } else {
        "fetch"
    }
}

/// A receipt: never the preimage.
pub fn receipt_of(entry: &JournalEntry) -> Value {
    let kind = what(entry);
    json!({
        "kind": "payment_receipt",
        "paymentHash": entry.payment_hash.to_string(),
        "status": match entry.state {
            PaymentState::Paid => "paid",
            PaymentState::Pending => "pending",
            PaymentState::Failed => "failed",
        },
        "paidFor": kind,
        "url": (kind == "fetch").then(|| entry.url.clone()),
        "amountSats": sats_of(entry.amount_msat),
        "amountMsat": entry.amount_msat,
        "feeMsat": entry.fee_msat,
        "fiat": entry.fiat_minor.zip(entry.fiat_currency.clone())
            .map(|(minor, currency)| json!({"minor": minor, "currency": currency})),
        "createdAt": entry.created_at,
        "paidAt": entry.resolved_at,
    })
}

fn text(uri: &str, value: &Value) -> ReadResourceResult {
    ReadResourceResult::new(vec![
        ResourceContents::text(value.to_string(), uri).with_mime_type(JSON),
    ])
}

impl Buyer {
    /// Reads `l402://receipts` or `l402://receipts/{payment_hash}`.
    ///
    /// # Errors
    /// Not one of these URIs, no such payment, or the journal failed.
    pub async fn read_receipts(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let ledger = self.client.ledger();
        let internal = |e: l402_client::StoreError| ErrorData::internal_error(e.to_string(), None);
        if uri == LIST_URI {
            let paid = ledger.paid(MAX_RECEIPTS).await.map_err(internal)?;
            let receipts: Vec<Value> = paid.iter().map(receipt_of).collect();
            let total: u64 = paid.iter().map(|e| e.amount_msat).sum();
            return Ok(text(
                uri,
                &json!({
                    "count": receipts.len(),
                    "totalSatsInView": sats_of(total),
                    "receipts": receipts,
                    "note": "Preimages are never included.",
                }),
            ));
        }
        let not_found = || {
            ErrorData::resource_not_found(format!("no receipt at {uri}"), Some(json!({"uri": uri})))
        };
        let Some(hash) = uri.strip_prefix(ONE_PREFIX) else {
            return Err(not_found());
        };
        let Ok(hash) = hash.parse::<l402::PaymentHash>() else {
            return Err(ErrorData::invalid_params(
                format!("{uri}: a receipt is named by its payment hash (64 hex digits)"),
                None,
            ));
        };
        match ledger.entry(&hash).await.map_err(internal)? {
            Some(entry) if entry.state == PaymentState::Paid => Ok(text(uri, &receipt_of(&entry))),
            _ => Err(not_found()),
        }
    }
}

//! Paying a bare BOLT11 invoice, with no token (an MCP `pay_invoice`, a
//! bill handed over in a chat): the same engine as a 402 answer and
//! [`Client::pay_offer`]. The invoice is decoded fully (signature), checked
//! (amount, the maximum per payment, expiry, network), reserved against the
//! budgets in the journal in one step, paid, and its preimage checked
//! against the payment hash; an invoice this client paid before (by any
//! path, in any earlier run sharing the store) is never paid again: its
//! journaled proof is returned.

use l402::invoice::Invoice;
use l402::{PaymentHash, Preimage, Scheme};
use reqwest::Url;

use crate::challenge::{ChallengeSource, Offer, TokenKind, network_name};
use crate::client::Client;
use crate::engine::{Purchase, storage};
use crate::error::{FetchError, MoneyMoved, Refusal};
use crate::ledger::PaymentState;
use crate::receipt::Quote;
use crate::scope::Scope;
use crate::trace::Draft;

/// What [`Client::pay_invoice`] paid (or found paid).
#[derive(Clone)]
#[non_exhaustive]
pub struct InvoicePayment {
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The preimage, checked against the payment hash.
    pub preimage: Preimage,
    /// The amount paid (excluding fees).
    pub amount_msat: u64,
    /// The routing fee paid by this call (0 when nothing was paid now).
    pub fee_msat: u64,
    /// Whether this call paid; `false` when the journal shows the invoice
    /// paid before (then nothing moved now).
    pub paid_now: bool,
}

impl std::fmt::Debug for InvoicePayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvoicePayment")
            .field("payment_hash", &self.payment_hash)
            .field("amount_msat", &self.amount_msat)
            .field("fee_msat", &self.fee_msat)
            .field("paid_now", &self.paid_now)
            .finish_non_exhaustive()
    }
}

/// The journal scope of a bare invoice: one origin per payment hash, so it
/// shares no token, payee pin or in-flight payment with anything else.
///
/// ```
/// let hash = l402::Preimage::from([1u8; 32]).payment_hash();
/// let url = l402_client::invoice_scope(&hash);
/// assert_eq!(url.host_str(), Some(format!("{hash}.invoice.l402.invalid").as_str()));
/// ```
// Not input-dependent: 64 hex digits and a fixed suffix always parse.
#[allow(clippy::expect_used)]
pub fn invoice_scope(payment_hash: &PaymentHash) -> Url {
    Url::parse(&format!("https://{payment_hash}.invoice.l402.invalid/"))
        .expect("a payment hash makes a valid host name")
}

/// `lightning:` prefixes and surrounding space removed.
fn bare(bolt11: &str) -> &str {
    let text = bolt11.trim();
    match text.get(..10) {
        Some(prefix) if prefix.eq_ignore_ascii_case("lightning:") => &text[10..],
        _ => text,
    }
}

fn offer_for(text: &str, invoice: Invoice) -> Offer {
    let quote = Quote {
        amount_msat: invoice.amount_msat(),
        payment_hash: invoice.payment_hash(),
        invoice: text.to_owned(),
        expires_at: invoice.expires_at(),
        payee: invoice.payee().to_string(),
        description: invoice.description(),
        network: network_name(&invoice.currency()).to_owned(),
        scheme: Scheme::L402,
        token_kind: TokenKind::Opaque,
        source: ChallengeSource::Invoice,
    };
    Offer {
        quote,
        token: String::new(),
        token_payment_hash: None,
        token_expires_at: None,
        invoice,
    }
}

impl Client {
    /// Pays a bare BOLT11 invoice (no token) through the engine: decoded
    /// and checked like a 402's invoice (an amountless one is refused unless
    /// the client pays a fixed amount for those), counted against every
    /// budget, journaled before it is sent. An invoice paid before is not
    /// paid again: its journaled preimage comes back with
    /// [`paid_now`](InvoicePayment::paid_now) `false`. No token is stored.
    ///
    /// # Errors
    /// A [`Refusal`] (the invoice does not decode or fails a check, a
    /// budget, no wallet: nothing paid), [`FetchError::PaymentFailed`],
    /// [`FetchError::PaymentUnknown`] (the journal keeps it pending; it is
    /// never sent again until resolved).
    ///
    /// ```no_run
    /// # async fn run(client: l402_client::Client, bolt11: &str) -> Result<(), l402_client::FetchError> {
    /// let paid = client.pay_invoice(bolt11).await?;
    /// println!("preimage {} (paid now: {})", paid.preimage, paid.paid_now);
    /// # Ok(()) }
    /// ```
    pub async fn pay_invoice(&self, bolt11: &str) -> Result<InvoicePayment, FetchError> {
        let text = bare(bolt11);
        let invoice: Invoice = text
            .parse()
            .map_err(|e| FetchError::Refused(Refusal::Invoice(e)))?;
        let hash = invoice.payment_hash();
        let engine = &self.inner.engine;
        // Paid before, by any path: its proof, even once the invoice expired.
        if let Some(entry) = engine
            .ledger
            .entry(&hash)
            .await
            .map_err(storage(MoneyMoved::No))?
            && entry.state == PaymentState::Paid
            && let Some(preimage) = entry.preimage.filter(|p| p.matches(&hash))
        {
            return Ok(InvoicePayment {
                payment_hash: hash,
                preimage,
                amount_msat: entry.amount_msat,
                fee_msat: 0,
                paid_now: false,
            });
        }
        let offer = offer_for(text, invoice);
        let url = invoice_scope(&hash);
        let mut draft = Draft::default();
        match engine
            .buy(&Scope::of(&url), &url, &offer, &mut draft)
            .await?
        {
            Purchase::Paid { receipt, .. } => Ok(InvoicePayment {
                payment_hash: receipt.payment_hash,
                preimage: receipt.preimage,
                amount_msat: receipt.amount_msat,
                fee_msat: if receipt.recovered {
                    0
                } else {
                    receipt.fee_msat
                },
                paid_now: !receipt.recovered,
            }),
            Purchase::Recovered { receipt, .. } => Ok(InvoicePayment {
                payment_hash: receipt.payment_hash,
                preimage: receipt.preimage,
                amount_msat: receipt.amount_msat,
                fee_msat: 0,
                paid_now: false,
            }),
            Purchase::Stored(token) => Ok(InvoicePayment {
                payment_hash: token.payment_hash,
                preimage: token.preimage,
                amount_msat: token.amount_msat.unwrap_or_default(),
                fee_msat: 0,
                paid_now: false,
            }),
            Purchase::WouldPay => Err(Refusal::NoWallet.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_space_removed() {
        assert_eq!(bare("  LIGHTNING:lnbc1x "), "lnbc1x");
        assert_eq!(bare("lnbc1x"), "lnbc1x");
        assert_eq!(bare("é"), "é");
    }

    #[tokio::test]
    async fn undecodable_invoice_is_refused_before_anything() {
        let client = Client::builder().build().unwrap();
        let err = client.pay_invoice("lnbc1notaninvoice").await.unwrap_err();
        assert!(
            matches!(err, FetchError::Refused(Refusal::Invoice(_))),
            "{err:?}"
        );
        assert_eq!(err.money_moved(), MoneyMoved::No);
    }
}

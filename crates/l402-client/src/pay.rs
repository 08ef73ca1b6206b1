//! Paying a challenge handed over outside HTTP (an MCP tool call, a chat
//! message): the same engine as a 402 answer (full invoice checks, budgets
//! and the journal reserved in one step, `sha256(preimage) == payment_hash`,
//! the token stored), so an invoice is never paid twice, across restarts.

use l402::{PaymentHash, Preimage};
use reqwest::Url;

use crate::challenge::Offer;
use crate::client::Client;
use crate::engine::Purchase;
use crate::error::{FetchError, Refusal};
use crate::scope::Scope;
use crate::trace::Draft;

/// What [`Client::pay_offer`] bought (or found bought).
#[derive(Clone)]
#[non_exhaustive]
pub struct OfferPayment {
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The preimage, checked against the payment hash.
    pub preimage: Preimage,
    /// The token (macaroon) to present with the preimage.
    pub token: String,
    /// The amount paid, when known.
    pub amount_msat: Option<u64>,
    /// The routing fee paid by this call (0 when nothing was paid now).
    pub fee_msat: u64,
    /// Whether this call paid; `false` when the token was already stored or
    /// the invoice had been paid before (the journal's answer).
    pub paid_now: bool,
}

impl std::fmt::Debug for OfferPayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfferPayment")
            .field("payment_hash", &self.payment_hash)
            .field("amount_msat", &self.amount_msat)
            .field("paid_now", &self.paid_now)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Buys `offer` for the scope of `resource` (origin and path) without
    /// sending any request: the checks, budgets, journal and token store of
    /// a 402 answer. A token already stored for that scope is returned
    /// instead of paying; an invoice this client paid before is not paid
    /// again (its journaled preimage is returned).
    ///
    /// # Errors
    /// The same as a request's payment step: a [`Refusal`] (over a limit,
    /// bad invoice, no wallet: nothing paid), [`FetchError::PaymentFailed`],
    /// [`FetchError::PaymentUnknown`].
    ///
    /// ```no_run
    /// # async fn run(client: l402_client::Client, header: &str) -> Result<(), Box<dyn std::error::Error>> {
    /// use l402_client::{StatusCode, parse_challenge};
    /// let mut headers = reqwest::header::HeaderMap::new();
    /// headers.insert("www-authenticate", header.parse()?);
    /// let offer = parse_challenge(StatusCode::PAYMENT_REQUIRED, &headers, b"")?;
    /// let paid = client.pay_offer(&"https://api.example.com/v1/joke".parse()?, &offer).await?;
    /// println!("Authorization: L402 {}:{}", paid.token, paid.preimage);
    /// # Ok(()) }
    /// ```
    pub async fn pay_offer(
        &self,
        resource: &Url,
        offer: &Offer,
    ) -> Result<OfferPayment, FetchError> {
        let engine = &self.inner.engine;
        let scope = Scope::of(resource);
        let mut draft = Draft::default();
        Ok(
            match engine.buy(&scope, resource, offer, &mut draft).await? {
                Purchase::Stored(token) => OfferPayment {
                    payment_hash: token.payment_hash,
                    preimage: token.preimage,
                    token: token.token,
                    amount_msat: token.amount_msat,
                    fee_msat: 0,
                    paid_now: false,
                },
                Purchase::Recovered { receipt, token } => OfferPayment {
                    payment_hash: receipt.payment_hash,
                    preimage: receipt.preimage,
                    token,
                    amount_msat: Some(receipt.amount_msat),
                    fee_msat: 0,
                    paid_now: false,
                },
                Purchase::Paid { receipt, token } => OfferPayment {
                    payment_hash: receipt.payment_hash,
                    preimage: receipt.preimage,
                    token,
                    amount_msat: Some(receipt.amount_msat),
                    fee_msat: receipt.fee_msat,
                    paid_now: !receipt.recovered,
                },
                Purchase::WouldPay => return Err(Refusal::NoWallet.into()),
            },
        )
    }
}

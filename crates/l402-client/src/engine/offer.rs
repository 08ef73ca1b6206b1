//! Offer checks: every check that precedes paying (invoice, token kind,
//! amount policy, payee pin, fiat price). Reading the 402 is
//! [`parse_challenge`](crate::parse_challenge).

use l402::invoice::InvoiceRequirements;

use super::Engine;
use crate::builder::AmountlessPolicy;
use crate::challenge::{Offer, TokenKind};
use crate::error::{FetchError, MoneyMoved, Refusal};
use crate::fiat::{EnvelopeCharge, EnvelopeError, FiatValue, RAIL_L402};
use crate::scope::Scope;
use crate::unix_now;

use super::storage;

impl Engine {
    /// When a token bought now stops being used: its own expiry, or the
    /// client's token lifetime, whichever comes first.
    pub(crate) fn token_expiry(&self, own: Option<u64>) -> Option<u64> {
        match self.token_ttl {
            Some(ttl) => {
                let by_ttl = unix_now().saturating_add(ttl.as_secs());
                Some(own.map_or(by_ttl, |t| t.min(by_ttl)))
            }
            None => own,
        }
    }

    /// The amount to pay, after the checks that precede any payment.
    pub(crate) async fn check_offer(
        &self,
        offer: &Offer,
        scope: &Scope,
    ) -> Result<u64, FetchError> {
        let allow_amountless = !matches!(self.amountless, AmountlessPolicy::Refuse);
        let now = unix_now().saturating_add(self.expiry_margin.as_secs());
        // A bare invoice (no token at all) has nothing to check the hash
        // against: `require_macaroon` is about tokens offered.
        if self.require_macaroon
            && !offer.token.is_empty()
            && offer.quote.token_kind != TokenKind::Macaroon
        {
            return Err(Refusal::OpaqueToken.into());
        }
        // A macaroon names its payment hash: it must be the invoice's. So
        // must the unsigned `hash` of an opaque JSON token, when it has one
        // (else the server would refuse the credential after the payment).
        // Otherwise the payment hash is the invoice's.
        let mut reqs = InvoiceRequirements::new()
            .payment_hash(offer.token_payment_hash.unwrap_or(offer.quote.payment_hash))
            .max_amount_msat(self.max_payment_msat)
            .allow_amountless(allow_amountless)
            .at_unix_secs(now);
        if let Some(network) = &self.network {
            reqs = reqs.network(network.clone());
        }
        offer
            .invoice
            .check(&reqs)
            .map_err(|e| FetchError::Refused(Refusal::Invoice(e)))?;
        let amount_msat = match (offer.quote.amount_msat, self.amountless) {
            (Some(amount), _) => amount,
            (None, AmountlessPolicy::PayAmount { sats }) => {
                let amount = sats.saturating_mul(1000);
                if amount > self.max_payment_msat {
                    return Err(Refusal::Invoice(l402::InvoiceError::OverLimit {
                        amount_msat: amount,
                        limit_msat: self.max_payment_msat,
                    })
                    .into());
                }
                amount
            }
            (None, _) => return Err(Refusal::Invoice(l402::InvoiceError::Amountless).into()),
        };
        if self.pin_payees
            && let Some(pinned) = self
                .ledger
                .pinned_payee(scope.origin())
                .await
                .map_err(storage(MoneyMoved::No))?
            && pinned != offer.quote.payee
        {
            return Err(Refusal::PayeeChanged {
                origin: scope.origin().to_string(),
                pinned,
                found: offer.quote.payee.clone(),
            }
            .into());
        }
        Ok(amount_msat)
    }

    /// The fiat charge for `amount_msat`, when a fiat envelope applies.
    pub(crate) async fn price(
        &self,
        amount_msat: u64,
    ) -> Result<Option<EnvelopeCharge>, FetchError> {
        let Some(envelope) = &self.envelope else {
            return Ok(None);
        };
        if !envelope.allows_rail(RAIL_L402) {
            return Err(Refusal::Envelope(EnvelopeError::RailNotAllowed {
                id: envelope.id.clone(),
                rail: RAIL_L402.into(),
            })
            .into());
        }
        let Some(source) = &self.price_source else {
            return Err(Refusal::NoPrice(crate::PriceError::UnsupportedCurrency(
                envelope.currency.clone(),
            ))
            .into());
        };
        let price = source
            .btc_price(&envelope.currency)
            .await
            .map_err(Refusal::NoPrice)?;
        let value = FiatValue {
            minor: price.value_minor(amount_msat),
            currency: price.currency.clone(),
            minor_per_btc: price.minor_per_btc,
            source: price.source.clone(),
        };
        Ok(Some(EnvelopeCharge {
            envelope: envelope.clone(),
            value,
        }))
    }
}

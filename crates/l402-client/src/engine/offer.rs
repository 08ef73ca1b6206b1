//! Offer checks: decoding a challenge and every check that precedes paying
//! (invoice, amount policy, payee pin, fiat price).

use l402::invoice::{Currency, Invoice, InvoiceRequirements};
use l402::{Caveat, Challenges, Condition, Identifier};
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

use super::Engine;
use crate::builder::AmountlessPolicy;
use crate::error::{ChallengeProblem, FetchError, MoneyMoved, Refusal};
use crate::fiat::{EnvelopeCharge, EnvelopeError, FiatValue, RAIL_L402};
use crate::receipt::Quote;
use crate::scope::Scope;
use crate::unix_now;

use super::storage;

/// A challenge, decoded.
pub(crate) struct Offer {
    pub(crate) quote: Quote,
    pub(crate) macaroon: String,
    pub(crate) invoice: Invoice,
    pub(crate) token_expires_at: Option<u64>,
}

fn network_name(c: &Currency) -> &'static str {
    match c {
        Currency::Bitcoin => "bitcoin",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

/// The earliest expiry among the macaroon's caveats.
pub(crate) fn macaroon_expiry(macaroon: &l402::Macaroon) -> Option<u64> {
    macaroon
        .caveats()
        .filter_map(|bytes| Caveat::from_bytes(bytes).ok())
        .filter_map(|c| match Condition::classify(c.condition())? {
            Condition::ValidUntil | Condition::ServiceValidUntil(_) => c.value().parse().ok(),
            Condition::Expiration => c.value().parse::<u64>().ok().map(|ms| ms / 1000),
            _ => None,
        })
        .min()
}

impl Engine {
    /// Decodes the L402 challenge among a 402's `WWW-Authenticate` headers.
    pub(crate) fn decode_offer(&self, headers: &HeaderMap) -> Result<Offer, ChallengeProblem> {
        let values = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let challenges = Challenges::parse(values);
        let challenge = challenges.l402()?;
        let macaroon = challenge.decode_macaroon()?;
        let identifier = Identifier::from_bytes(macaroon.identifier())?;
        let invoice: Invoice = challenge
            .invoice
            .parse()
            .map_err(ChallengeProblem::Invoice)?;
        let quote = Quote {
            amount_msat: invoice.amount_msat(),
            payment_hash: identifier.payment_hash,
            invoice: challenge.invoice.clone(),
            expires_at: invoice.expires_at(),
            payee: invoice.payee().to_string(),
            description: invoice.description(),
            network: network_name(&invoice.currency()).to_string(),
            scheme: challenge.scheme,
        };
        let mut token_expires_at = macaroon_expiry(&macaroon);
        if let Some(ttl) = self.token_ttl {
            let by_ttl = unix_now().saturating_add(ttl.as_secs());
            token_expires_at = Some(token_expires_at.map_or(by_ttl, |t| t.min(by_ttl)));
        }
        Ok(Offer {
            quote,
            macaroon: challenge.macaroon.clone(),
            invoice,
            token_expires_at,
        })
    }

    /// The amount to pay, after the checks that precede any payment.
    pub(crate) async fn check_offer(
        &self,
        offer: &Offer,
        scope: &Scope,
    ) -> Result<u64, FetchError> {
        let allow_amountless = !matches!(self.amountless, AmountlessPolicy::Refuse);
        let now = unix_now().saturating_add(self.expiry_margin.as_secs());
        let mut reqs = InvoiceRequirements::new()
            .payment_hash(offer.quote.payment_hash)
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

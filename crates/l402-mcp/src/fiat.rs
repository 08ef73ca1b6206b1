//! Fiat caps in the policy file: per payment and per rolling day, in minor
//! units of a currency (cents), priced through l402-client's
//! [`PriceSource`] (a fixed price, a JSON price URL, or CoinGecko). Fail
//! closed: without a price, nothing is paid.
//!
//! The day counts what the paying client's journal counts for the rolling
//! day (sats paid or under way, across restarts) plus this session's
//! payments under way, valued at the current price, plus the payment asked.

use std::sync::Arc;

use l402_client::{HttpPriceSource, PriceSource, StaticPrice};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The policy's `fiat` section.
///
/// ```json
/// {"currency": "usd", "maxPerPaymentMinor": 500, "maxPerDayMinor": 2000,
///  "btcPriceMinor": null, "priceUrl": null, "pricePointer": null}
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FiatLimits {
    /// The currency (ISO code, any case: `usd`).
    pub currency: String,
    /// The most one payment may be worth, in minor units (cents).
    pub max_per_payment_minor: Option<u64>,
    /// The most a rolling day's payments may be worth, in minor units.
    pub max_per_day_minor: Option<u64>,
    /// A fixed price: minor units per bitcoin (tests, offline use).
    #[serde(default)]
    pub btc_price_minor: Option<u64>,
    /// A JSON price URL (with `pricePointer`, a JSON pointer to the price in
    /// major units) [default: CoinGecko].
    #[serde(default)]
    pub price_url: Option<String>,
    /// The JSON pointer for `priceUrl`.
    #[serde(default)]
    pub price_pointer: Option<String>,
}

impl FiatLimits {
    /// The price source named.
    pub fn price_source(&self) -> Arc<dyn PriceSource> {
        match (self.btc_price_minor, &self.price_url) {
            (Some(price), _) => Arc::new(StaticPrice::new(&self.currency, price)),
            (None, Some(url)) => Arc::new(HttpPriceSource::new(
                url.clone(),
                self.price_pointer.clone().unwrap_or_default(),
            )),
            (None, None) => Arc::new(HttpPriceSource::coingecko()),
        }
    }

    /// Whether it makes sense.
    ///
    /// # Errors
    /// What is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.currency.trim().is_empty() || self.currency.len() > 8 {
            return Err("fiat.currency is a currency code (usd, eur, ...)".to_owned());
        }
        if self.max_per_payment_minor.is_none() && self.max_per_day_minor.is_none() {
            return Err("fiat needs maxPerPaymentMinor or maxPerDayMinor".to_owned());
        }
        if self.price_url.is_some() && self.price_pointer.is_none() {
            return Err("fiat.priceUrl needs fiat.pricePointer".to_owned());
        }
        Ok(())
    }
}

/// A fiat refusal: a stable code and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiatDenial {
    /// `no_price`, `over_fiat_payment_limit` or `over_fiat_day_limit`.
    pub code: &'static str,
    /// For people (and the agent).
    pub reason: String,
}

/// The fiat caps with their price source.
pub struct FiatGuard {
    limits: FiatLimits,
    source: Arc<dyn PriceSource>,
    /// Held from the check until the session reserved the payment, so two
    /// payments never pass the day's cap together.
    pub(crate) gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for FiatGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiatGuard")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl FiatGuard {
    /// The caps, priced by `source`.
    pub fn new(limits: FiatLimits, source: Arc<dyn PriceSource>) -> Self {
        FiatGuard {
            limits,
            source,
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Checks paying `sats` when `day_msat` already counts for the day
    /// (the journal's and this session's payments under way); returns the
    /// payment's value in minor units.
    ///
    /// # Errors
    /// A [`FiatDenial`]: no price (fail closed), or over a cap.
    pub async fn check(&self, sats: u64, day_msat: u64) -> Result<u64, FiatDenial> {
        let l = &self.limits;
        let price = self
            .source
            .btc_price(&l.currency)
            .await
            .map_err(|e| FiatDenial {
                code: "no_price",
                reason: format!(
                    "no BTC price in {} ({e}), so the fiat caps cannot be checked; not paid",
                    l.currency
                ),
            })?;
        let amount_msat = sats.saturating_mul(1000);
        let value = price.value_minor(amount_msat);
        let currency = l.currency.to_ascii_uppercase();
        if let Some(cap) = l.max_per_payment_minor
            && value > cap
        {
            return Err(FiatDenial {
                code: "over_fiat_payment_limit",
                reason: format!(
                    "{sats} sats is worth {value} minor units of {currency}, over the per-payment \
                     limit of {cap}"
                ),
            });
        }
        if let Some(cap) = l.max_per_day_minor {
            let day = price.value_minor(day_msat.saturating_add(amount_msat));
            if day > cap {
                return Err(FiatDenial {
                    code: "over_fiat_day_limit",
                    reason: format!(
                        "with {sats} sats the day's payments would be worth {day} minor units of \
                         {currency}, over the daily limit of {cap}"
                    ),
                });
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> FiatLimits {
        FiatLimits {
            currency: "usd".into(),
            max_per_payment_minor: Some(100),
            max_per_day_minor: Some(250),
            btc_price_minor: Some(10_000_000), // $100,000: 1,000 sats = 100 cents
            price_url: None,
            price_pointer: None,
        }
    }

    #[tokio::test]
    async fn per_payment_and_day_in_cents() {
        let l = limits();
        let g = FiatGuard::new(l.clone(), l.price_source());
        assert_eq!(g.check(1_000, 0).await.unwrap(), 100);
        assert_eq!(
            g.check(1_001, 0).await.unwrap_err().code,
            "over_fiat_payment_limit"
        );
        assert!(g.check(500, 2_000_000).await.is_ok());
        assert_eq!(
            g.check(501, 2_000_000).await.unwrap_err().code,
            "over_fiat_day_limit"
        );
    }

    #[tokio::test]
    async fn fails_closed_without_a_price() {
        let l = FiatLimits {
            currency: "eur".into(),
            ..limits()
        };
        // The static source has a USD price only.
        let g = FiatGuard::new(l, Arc::new(StaticPrice::new("usd", 1)));
        assert_eq!(g.check(1, 0).await.unwrap_err().code, "no_price");
        // An unreachable price URL: also refused.
        let l = FiatLimits {
            btc_price_minor: None,
            price_url: Some("http://127.0.0.1:9/price".into()),
            price_pointer: Some("/usd".into()),
            ..limits()
        };
        let g = FiatGuard::new(l.clone(), l.price_source());
        assert_eq!(g.check(1, 0).await.unwrap_err().code, "no_price");
    }
}

//! Fiat-denominated spending: a [`FiatEnvelope`] caps what may be spent in
//! minor units of a currency (cents, say), converted at payment time through
//! a [`PriceSource`]. When no price is available the payment is refused,
//! never guessed.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The rail name of L402 payments, for [`FiatEnvelope::allowed_rails`].
pub const RAIL_L402: &str = "l402";

/// The price of one bitcoin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtcPrice {
    /// The currency, lower case (`usd`).
    pub currency: String,
    /// Minor units of the currency (cents for `usd`) per bitcoin.
    pub minor_per_btc: u64,
    /// Where the price came from (`static`, `http:<url>`): recorded with
    /// every payment.
    pub source: String,
}

impl BtcPrice {
    /// The value of `amount_msat` in minor units, rounded up (so a cap is
    /// never undercounted).
    ///
    /// ```
    /// use l402_client::BtcPrice;
    /// let price = BtcPrice { currency: "usd".into(), minor_per_btc: 10_000_000, source: "static".into() };
    /// // $100,000 per BTC: 1,000 sats = $1.00 = 100 cents.
    /// assert_eq!(price.value_minor(1_000_000), 100);
    /// assert_eq!(price.value_minor(1), 1); // rounded up
    /// ```
    pub fn value_minor(&self, amount_msat: u64) -> u64 {
        let numerator = u128::from(amount_msat) * u128::from(self.minor_per_btc);
        let value = numerator.div_ceil(100_000_000_000);
        u64::try_from(value).unwrap_or(u64::MAX)
    }
}

/// No price could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    /// The source has no price in this currency.
    #[error("no BTC price in {0:?} from this price source")]
    UnsupportedCurrency(String),
    /// The price source could not be reached.
    #[error("price source {source_name} unreachable: {reason}")]
    Unreachable {
        /// The source.
        source_name: String,
        /// What failed.
        reason: String,
    },
    /// The price source answered something unusable.
    #[error("price source {source_name} answered badly: {reason}")]
    BadResponse {
        /// The source.
        source_name: String,
        /// What was wrong.
        reason: String,
    },
}

/// Where BTC prices come from.
///
/// ```
/// use l402_client::{PriceSource, StaticPrice};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = StaticPrice::new("usd", 10_000_000);
/// assert_eq!(source.btc_price("USD").await.unwrap().minor_per_btc, 10_000_000);
/// assert!(source.btc_price("eur").await.is_err());
/// # }
/// ```
#[async_trait::async_trait]
pub trait PriceSource: Send + Sync {
    /// The current price of one bitcoin in `currency` (case-insensitive).
    ///
    /// # Errors
    /// [`PriceError`] when no trustworthy price is available.
    async fn btc_price(&self, currency: &str) -> Result<BtcPrice, PriceError>;
}

/// A fixed price, for tests and for people who set their own rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPrice {
    currency: String,
    minor_per_btc: u64,
}

impl StaticPrice {
    /// One bitcoin is worth `minor_per_btc` minor units of `currency`.
    pub fn new(currency: &str, minor_per_btc: u64) -> Self {
        StaticPrice {
            currency: currency.to_ascii_lowercase(),
            minor_per_btc,
        }
    }
}

#[async_trait::async_trait]
impl PriceSource for StaticPrice {
    async fn btc_price(&self, currency: &str) -> Result<BtcPrice, PriceError> {
        if !currency.eq_ignore_ascii_case(&self.currency) || self.minor_per_btc == 0 {
            return Err(PriceError::UnsupportedCurrency(
                currency.to_ascii_lowercase(),
            ));
        }
        Ok(BtcPrice {
            currency: self.currency.clone(),
            minor_per_btc: self.minor_per_btc,
            source: "static".into(),
        })
    }
}

/// A price fetched over HTTP from a JSON API, cached for a while.
///
/// The URL and the JSON pointer may contain `{currency}` (lower case). The
/// value found must be a positive number of **major** units per bitcoin
/// (dollars, not cents); [`HttpPriceSource::decimals`] says how many minor
/// units a major one has (2 by default).
///
/// ```
/// use std::time::Duration;
/// use l402_client::HttpPriceSource;
/// let coingecko = HttpPriceSource::coingecko();
/// let custom = HttpPriceSource::new(
///     "http://127.0.0.1:9999/price?fiat={currency}",
///     "/bitcoin/{currency}",
/// )
/// .cache_for(Duration::from_secs(30));
/// # let _ = (coingecko, custom);
/// ```
pub struct HttpPriceSource {
    http: reqwest::Client,
    url: String,
    pointer: String,
    decimals: u32,
    cache_for: Duration,
    cache: Mutex<Option<(Instant, BtcPrice)>>,
}

impl fmt::Debug for HttpPriceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPriceSource")
            .field("url", &self.url)
            .field("pointer", &self.pointer)
            .field("decimals", &self.decimals)
            .field("cache_for", &self.cache_for)
            .finish()
    }
}

impl HttpPriceSource {
    /// A source reading `pointer` from the JSON at `url`. Cached for 60 s;
    /// requests time out after 5 s.
    pub fn new(url: impl Into<String>, pointer: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        HttpPriceSource {
            http,
            url: url.into(),
            pointer: pointer.into(),
            decimals: 2,
            cache_for: Duration::from_secs(60),
            cache: Mutex::new(None),
        }
    }

    /// CoinGecko's simple price API.
    pub fn coingecko() -> Self {
        HttpPriceSource::new(
            "https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies={currency}",
            "/bitcoin/{currency}",
        )
    }

    /// How many minor units a major unit has (2 by default).
    pub fn decimals(mut self, decimals: u32) -> Self {
        self.decimals = decimals.min(8);
        self
    }

    /// How long a fetched price is reused (60 s by default).
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache_for = ttl;
        self
    }

    /// Uses this HTTP client (for timeouts, proxies, TLS roots).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    fn name(&self, url: &str) -> String {
        format!("http:{url}")
    }
}

#[async_trait::async_trait]
impl PriceSource for HttpPriceSource {
    async fn btc_price(&self, currency: &str) -> Result<BtcPrice, PriceError> {
        let currency = currency.to_ascii_lowercase();
        if currency.is_empty() || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(PriceError::UnsupportedCurrency(currency));
        }
        if let Ok(cache) = self.cache.lock()
            && let Some((at, price)) = cache.as_ref()
            && price.currency == currency
            && at.elapsed() < self.cache_for
        {
            return Ok(price.clone());
        }
        let url = self.url.replace("{currency}", &currency);
        let pointer = self.pointer.replace("{currency}", &currency);
        let source_name = self.name(&url);
        let unreachable = |e: reqwest::Error| PriceError::Unreachable {
            source_name: source_name.clone(),
            reason: e.to_string(),
        };
        let bad = |reason: String| PriceError::BadResponse {
            source_name: source_name.clone(),
            reason,
        };
        let response = self
            .http
            .get(&url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(bad(format!("HTTP {}", response.status())));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| bad(e.to_string()))?;
        let value = body
            .pointer(&pointer)
            .ok_or_else(|| bad(format!("no value at {pointer}")))?;
        let major = match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| bad(format!("{value} is not a positive price")))?;
        let minor = (major * 10f64.powi(self.decimals as i32)).round();
        if !(1.0..1e18).contains(&minor) {
            return Err(bad(format!("{major} is out of range")));
        }
        let price = BtcPrice {
            currency,
            minor_per_btc: minor as u64,
            source: source_name.clone(),
        };
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), price.clone()));
        }
        Ok(price)
    }
}

/// A fiat-denominated spending envelope: a cap in minor units of a currency,
/// the rails it may pay on, and how long it lasts (from its first use, as
/// recorded in the ledger).
///
/// ```
/// use std::time::Duration;
/// use l402_client::FiatEnvelope;
/// let envelope = FiatEnvelope::new("session-1", "usd", 500) // $5.00
///     .allowed_rails(["l402"])
///     .ttl(Duration::from_secs(3600));
/// assert!(envelope.allows_rail("l402"));
/// assert!(!envelope.allows_rail("x402"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiatEnvelope {
    /// Identifies the envelope in the ledger: spending accumulates per id.
    pub id: String,
    /// The currency, lower case.
    pub currency: String,
    /// The cap, in minor units.
    pub cap_minor: u64,
    /// Rails it may pay on (lower case); `["l402"]` by default.
    pub rails: Vec<String>,
    /// How long it lasts after its first use; forever if `None`.
    pub ttl: Option<Duration>,
}

impl FiatEnvelope {
    /// An envelope of `cap_minor` minor units of `currency`, L402 only, no
    /// expiry.
    pub fn new(id: impl Into<String>, currency: &str, cap_minor: u64) -> Self {
        FiatEnvelope {
            id: id.into(),
            currency: currency.to_ascii_lowercase(),
            cap_minor,
            rails: vec![RAIL_L402.to_string()],
            ttl: None,
        }
    }

    /// The rails it may pay on.
    pub fn allowed_rails<I, S>(mut self, rails: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rails = rails
            .into_iter()
            .map(|r| r.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// How long it lasts after its first use.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Whether it may pay on `rail`.
    pub fn allows_rail(&self, rail: &str) -> bool {
        self.rails.iter().any(|r| r.eq_ignore_ascii_case(rail))
    }
}

/// A payment's value in fiat, and how it was priced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FiatValue {
    /// The value, in minor units, rounded up.
    pub minor: u64,
    /// The currency.
    pub currency: String,
    /// The rate used: minor units per bitcoin.
    pub minor_per_btc: u64,
    /// Where the rate came from.
    pub source: String,
}

/// A fiat charge against an envelope, as a ledger sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeCharge {
    /// The envelope.
    pub envelope: FiatEnvelope,
    /// What this payment is worth.
    pub value: FiatValue,
}

/// The envelope refuses a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The cap would be exceeded.
    #[error(
        "fiat envelope {id:?} would be exceeded: {spent_minor} + {amount_minor} > {cap_minor} \
         minor units of {currency}"
    )]
    CapExceeded {
        /// The envelope.
        id: String,
        /// Its currency.
        currency: String,
        /// Its cap.
        cap_minor: u64,
        /// Already spent from it.
        spent_minor: u64,
        /// This payment's value.
        amount_minor: u64,
    },
    /// Its time to live is over.
    #[error("fiat envelope {id:?} expired at unix time {expired_at}")]
    Expired {
        /// The envelope.
        id: String,
        /// When it expired.
        expired_at: u64,
    },
    /// It does not allow this rail.
    #[error("fiat envelope {id:?} does not allow the {rail} rail")]
    RailNotAllowed {
        /// The envelope.
        id: String,
        /// The rail.
        rail: String,
    },
    /// It is recorded with another currency than configured.
    #[error("fiat envelope {id:?} is recorded in {recorded}, not {configured}")]
    CurrencyChanged {
        /// The envelope.
        id: String,
        /// The currency in the ledger.
        recorded: String,
        /// The currency configured now.
        configured: String,
    },
}

/// Checks an envelope charge given what was already spent from it.
pub(crate) fn check_envelope(
    charge: &EnvelopeCharge,
    spent_minor: u64,
    expires_at: Option<u64>,
    recorded_currency: &str,
    now: u64,
) -> Result<(), EnvelopeError> {
    let env = &charge.envelope;
    if !recorded_currency.eq_ignore_ascii_case(&env.currency) {
        return Err(EnvelopeError::CurrencyChanged {
            id: env.id.clone(),
            recorded: recorded_currency.to_string(),
            configured: env.currency.clone(),
        });
    }
    if let Some(expired_at) = expires_at.filter(|&t| now >= t) {
        return Err(EnvelopeError::Expired {
            id: env.id.clone(),
            expired_at,
        });
    }
    if spent_minor.saturating_add(charge.value.minor) > env.cap_minor {
        return Err(EnvelopeError::CapExceeded {
            id: env.id.clone(),
            currency: env.currency.clone(),
            cap_minor: env.cap_minor,
            spent_minor,
            amount_minor: charge.value.minor,
        });
    }
    Ok(())
}

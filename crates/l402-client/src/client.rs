//! The paying client.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l402::invoice::{Currency, Invoice, InvoiceRequirements};
use l402::{Caveat, Challenges, Condition, Identifier, PaymentHash, Preimage, Scheme};
use l402_lightning::{OutgoingStatus, PayError, PayRequest, Payment, Wallet};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};

use crate::budget::Budget;
use crate::error::{ChallengeProblem, FetchError, MoneyMoved, Refusal};
use crate::fiat::{EnvelopeCharge, EnvelopeError, FiatEnvelope, FiatValue, PriceSource, RAIL_L402};
use crate::ledger::{JournalEntry, Ledger, LedgerError, MemoryLedger, PaymentState, Reserved};
use crate::scope::Scope;
use crate::sqlite::SqliteStore;
use crate::store::{MemoryTokenStore, StoreError, StoredToken, TokenStore};
use crate::trace::{MemoryTraceSink, Outcome, Trace, TraceSink};
use crate::{unix_ms, unix_now};

/// The default maximum per payment: 1,000 sats.
pub const DEFAULT_MAX_PAYMENT_SATS: u64 = 1_000;
/// The default largest response body read: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The default maximum routing fee: 10 sats.
pub const DEFAULT_MAX_FEE_SATS: u64 = 10;
/// The default waits before re-sending a paid credential the server did not
/// accept yet ("not yet settled"): 250 ms, 750 ms, 1.5 s.
pub const DEFAULT_BACKOFF: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_millis(1500),
];

/// What to do with an invoice that has no amount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmountlessPolicy {
    /// Refuse it (the default): the server could otherwise charge anything.
    #[default]
    Refuse,
    /// Pay this many sats (counted against every limit). Note that the
    /// wallets of `l402-lightning` cannot pay amountless invoices yet and
    /// refuse them, so no money moves.
    PayAmount {
        /// The amount to pay.
        sats: u64,
    },
}

/// What happens along the way, for progress output and observers.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The server asked for payment.
    Challenged(&'a Quote),
    /// Every check passed; the wallet is about to pay.
    Paying(&'a Quote),
    /// The wallet returned a payment, before anything is stored.
    Paid(&'a Payment),
    /// A token from an earlier, interrupted payment was recovered.
    Recovered(&'a PaymentHash),
    /// A stored token was refused; it is dropped.
    TokenRefused {
        /// The server's status.
        status: u16,
    },
    /// The server did not accept the paid credential yet; retrying.
    Retrying {
        /// Which retry (1-based).
        attempt: usize,
        /// The status that made it retry.
        status: u16,
        /// The wait before it.
        delay: Duration,
    },
}

type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// What the server asks to be paid, decoded from its challenge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quote {
    /// The invoice amount, if it has one.
    pub amount_msat: Option<u64>,
    /// The payment hash (the invoice's and the macaroon's, once checked).
    #[serde(serialize_with = "display")]
    pub payment_hash: PaymentHash,
    /// The BOLT11 invoice.
    pub invoice: String,
    /// When the invoice expires (unix seconds).
    pub expires_at: u64,
    /// The payee node key (hex).
    pub payee: String,
    /// The invoice description.
    pub description: Option<String>,
    /// The network of the invoice (`bitcoin`, `regtest`, ...).
    pub network: String,
    /// The challenge scheme (`L402` or `LSAT`).
    #[serde(serialize_with = "display")]
    pub scheme: Scheme,
}

impl Quote {
    /// The amount in sats, rounded up.
    pub fn amount_sats(&self) -> Option<u64> {
        self.amount_msat.map(|m| m.div_ceil(1000))
    }
}

fn display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A payment made (or recovered) for a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// The payment hash.
    #[serde(serialize_with = "display")]
    pub payment_hash: PaymentHash,
    /// The preimage: the proof of payment, checked against the hash.
    #[serde(serialize_with = "display")]
    pub preimage: Preimage,
    /// The amount paid, excluding fees.
    pub amount_msat: u64,
    /// The routing fee paid.
    pub fee_msat: u64,
    /// When it was paid (unix seconds).
    pub paid_at: u64,
    /// How long the wallet took, in milliseconds.
    pub pay_latency_ms: u64,
    /// Its fiat value, when a fiat envelope applies.
    pub fiat: Option<FiatValue>,
    /// Whether it was recovered from the journal after an interruption
    /// rather than paid by this request.
    pub recovered: bool,
}

/// How the request was authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    /// No token was sent (free resource, or a quote).
    None,
    /// A stored token was reused; nothing was paid.
    Cached,
    /// A payment was made by this request.
    Paid,
    /// A token from an earlier interrupted payment was recovered.
    Recovered,
}

/// The server's answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The URL requested.
    pub url: Url,
    /// How the request was authorized.
    pub token: TokenUse,
    /// The payment, when this request paid or recovered one.
    pub receipt: Option<Receipt>,
    /// The price asked, when the answer is a 402 that was not paid (auto-pay
    /// off, or dry run).
    pub quote: Option<Quote>,
    /// In a dry run: every check passed and the payment would have been made.
    pub would_pay: bool,
}

impl Response {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// If it is not JSON of that shape.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A fiat envelope needs a price source.
    #[error("a fiat envelope is set but no price source")]
    EnvelopeWithoutPriceSource,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// Configures a [`Client`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use l402_client::{Budget, Client, FiatEnvelope, StaticPrice};
/// use l402_lightning::dev::DevNode;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let client = Client::builder()
///     .wallet(Arc::new(node.wallet("buyer").await?))
///     .max_payment_sats(100)
///     .budget(Budget::new().per_hour_sats(1_000).per_day_sats(5_000))
///     .fiat_envelope(FiatEnvelope::new("agent", "usd", 500).ttl(Duration::from_secs(3600)))
///     .price_source(Arc::new(StaticPrice::new("usd", 10_000_000)))
///     .retry_backoff([Duration::from_millis(100), Duration::from_millis(400)])
///     .build()?;
/// # let _ = client;
/// # Ok(()) }
/// ```
pub struct ClientBuilder {
    http: Option<reqwest::Client>,
    timeout: Duration,
    wallet: Option<Arc<dyn Wallet>>,
    auto_pay: bool,
    dry_run: bool,
    max_payment_msat: u64,
    max_fee_msat: u64,
    amountless: AmountlessPolicy,
    network: Option<Currency>,
    budget: Budget,
    envelope: Option<FiatEnvelope>,
    price_source: Option<Arc<dyn PriceSource>>,
    tokens: Arc<dyn TokenStore>,
    ledger: Arc<dyn Ledger>,
    traces: Arc<dyn TraceSink>,
    backoff: Vec<Duration>,
    token_ttl: Option<Duration>,
    pin_payees: bool,
    expiry_margin: Duration,
    observer: Option<Observer>,
    max_body_bytes: usize,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("auto_pay", &self.auto_pay)
            .field("dry_run", &self.dry_run)
            .field("max_payment_msat", &self.max_payment_msat)
            .field("budget", &self.budget)
            .field("envelope", &self.envelope)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            http: None,
            timeout: Duration::from_secs(30),
            wallet: None,
            auto_pay: true,
            dry_run: false,
            max_payment_msat: DEFAULT_MAX_PAYMENT_SATS * 1000,
            max_fee_msat: DEFAULT_MAX_FEE_SATS * 1000,
            amountless: AmountlessPolicy::Refuse,
            network: None,
            budget: Budget::new(),
            envelope: None,
            price_source: None,
            tokens: Arc::new(MemoryTokenStore::new()),
            ledger: Arc::new(MemoryLedger::new()),
            traces: Arc::new(MemoryTraceSink::default()),
            backoff: DEFAULT_BACKOFF.to_vec(),
            token_ttl: None,
            pin_payees: true,
            expiry_margin: Duration::from_secs(5),
            observer: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl ClientBuilder {
    /// The wallet that pays.
    pub fn wallet(mut self, wallet: Arc<dyn Wallet>) -> Self {
        self.wallet = Some(wallet);
        self
    }

    /// Pay challenges automatically (on by default). When off, a 402 is
    /// returned as a [`Response`] with its [`Quote`].
    pub fn auto_pay(mut self, on: bool) -> Self {
        self.auto_pay = on;
        self
    }

    /// Run every check but do not pay: a 402 is returned with its
    /// [`Quote`] and [`Response::would_pay`], or the refusal as an error.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// The most one payment may be, in sats (default
    /// [`DEFAULT_MAX_PAYMENT_SATS`]).
    pub fn max_payment_sats(mut self, sats: u64) -> Self {
        self.max_payment_msat = sats.saturating_mul(1000);
        self
    }

    /// The most routing fee per payment, in sats (default
    /// [`DEFAULT_MAX_FEE_SATS`]); reserved against budgets while paying.
    pub fn max_fee_sats(mut self, sats: u64) -> Self {
        self.max_fee_msat = sats.saturating_mul(1000);
        self
    }

    /// What to do with amountless invoices (refused by default).
    pub fn amountless(mut self, policy: AmountlessPolicy) -> Self {
        self.amountless = policy;
        self
    }

    /// Only pay invoices for this network.
    pub fn network(mut self, network: Currency) -> Self {
        self.network = Some(network);
        self
    }

    /// Spending limits in sats.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// A fiat-denominated envelope (needs a [`price_source`](Self::price_source)).
    pub fn fiat_envelope(mut self, envelope: FiatEnvelope) -> Self {
        self.envelope = Some(envelope);
        self
    }

    /// Where BTC prices come from, for the fiat envelope and receipts.
    pub fn price_source(mut self, source: Arc<dyn PriceSource>) -> Self {
        self.price_source = Some(source);
        self
    }

    /// Where tokens are kept (memory by default).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.tokens = store;
        self
    }

    /// The journal and budget ledger (memory by default).
    pub fn ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = ledger;
        self
    }

    /// Where traces go (the last 1,000 in memory by default).
    pub fn trace_sink(mut self, sink: Arc<dyn TraceSink>) -> Self {
        self.traces = sink;
        self
    }

    /// Keeps tokens, journal, ledger and traces in one SQLite database.
    pub fn sqlite(self, store: SqliteStore) -> Self {
        let store = Arc::new(store);
        self.token_store(store.clone())
            .ledger(store.clone())
            .trace_sink(store)
    }

    /// Waits between re-sends of a paid credential the server did not accept
    /// yet (401, 402, 425, 503): one re-send per entry, never a new payment.
    /// Default [`DEFAULT_BACKOFF`]; empty for none.
    pub fn retry_backoff(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = delays.into_iter().collect();
        self
    }

    /// Stop using a token this long after buying it, whatever its caveats say
    /// (by default only its expiry caveats and server refusal end it).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = Some(ttl);
        self
    }

    /// Remember the node each origin was first paid to and refuse invoices
    /// to another (on by default).
    pub fn pin_payees(mut self, on: bool) -> Self {
        self.pin_payees = on;
        self
    }

    /// An invoice must stay valid at least this long after the checks
    /// (default 5 s).
    pub fn expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// The largest response body read, in bytes (default
    /// [`DEFAULT_MAX_BODY_BYTES`]); larger answers fail with
    /// [`FetchError::BodyTooLarge`].
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The HTTP timeout per request when the client builds its own reqwest
    /// client (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this reqwest client. Note: the default one follows no redirects.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Called at each step (progress output, metrics). [`Event::Paid`] comes
    /// right after the wallet returns, before anything is stored.
    pub fn on_event(mut self, observer: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`BuildError`] for inconsistent settings.
    pub fn build(self) -> Result<Client, BuildError> {
        if self.envelope.is_some() && self.price_source.is_none() {
            return Err(BuildError::EnvelopeWithoutPriceSource);
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(BuildError::Http)?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                wallet: self.wallet,
                auto_pay: self.auto_pay,
                dry_run: self.dry_run,
                max_payment_msat: self.max_payment_msat,
                max_fee_msat: self.max_fee_msat,
                amountless: self.amountless,
                network: self.network,
                budget: self.budget,
                envelope: self.envelope,
                price_source: self.price_source,
                tokens: self.tokens,
                ledger: self.ledger,
                traces: self.traces,
                backoff: self.backoff,
                token_ttl: self.token_ttl,
                pin_payees: self.pin_payees,
                expiry_margin: self.expiry_margin,
                observer: self.observer,
                max_body_bytes: self.max_body_bytes,
                locks: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// The paying HTTP client. Cheap to clone; clones share everything.
///
/// Per request, at most one payment: a stored token for the scope is tried
/// first; on a 402 the challenge is decoded and checked, the payment is
/// journaled and reserved against budgets, paid, checked
/// (`sha256(preimage) == payment_hash`), stored, and the request re-sent once
/// with the credential (re-sent again only after the configured backoff, never
/// paid again). Concurrent requests to one scope share one payment.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    wallet: Option<Arc<dyn Wallet>>,
    auto_pay: bool,
    dry_run: bool,
    max_payment_msat: u64,
    max_fee_msat: u64,
    amountless: AmountlessPolicy,
    network: Option<Currency>,
    budget: Budget,
    envelope: Option<FiatEnvelope>,
    price_source: Option<Arc<dyn PriceSource>>,
    tokens: Arc<dyn TokenStore>,
    ledger: Arc<dyn Ledger>,
    traces: Arc<dyn TraceSink>,
    backoff: Vec<Duration>,
    token_ttl: Option<Duration>,
    pin_payees: bool,
    expiry_margin: Duration,
    observer: Option<Observer>,
    max_body_bytes: usize,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("auto_pay", &self.inner.auto_pay)
            .field("dry_run", &self.inner.dry_run)
            .field("max_payment_msat", &self.inner.max_payment_msat)
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

/// A request being built; see [`Client::request`].
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    error: Option<String>,
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.error
                    .get_or_insert_with(|| format!("invalid header {name:?}"));
            }
        }
        self
    }

    /// Adds headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// Sets the body (re-sent unchanged with the credential).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends it, paying if needed and allowed.
    ///
    /// # Errors
    /// [`FetchError`]; [`FetchError::money_moved`] says whether money moved.
    pub async fn send(self) -> Result<Response, FetchError> {
        if let Some(e) = self.error {
            return Err(FetchError::InvalidRequest(e));
        }
        let url = Url::parse(&self.url)
            .map_err(|e| FetchError::InvalidRequest(format!("{}: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(FetchError::InvalidRequest(format!(
                "{url}: only http(s) URLs with a host"
            )));
        }
        let req = Parts {
            method: self.method,
            url,
            headers: self.headers,
            body: self.body,
        };
        self.client.execute(req).await
    }
}

/// Sending or reading failed.
enum HttpError {
    Http(reqwest::Error),
    TooLarge(usize),
}

impl HttpError {
    fn before_payment(self) -> FetchError {
        match self {
            HttpError::Http(e) => FetchError::Network(e),
            HttpError::TooLarge(limit) => FetchError::BodyTooLarge {
                limit,
                receipt: None,
            },
        }
    }
}

struct Parts {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

struct Sent {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Sent {
    fn into_response(self, url: &Url, token: TokenUse) -> Response {
        Response {
            status: self.status,
            headers: self.headers,
            body: self.body,
            url: url.clone(),
            token,
            receipt: None,
            quote: None,
            would_pay: false,
        }
    }

    fn body_start(&self) -> String {
        let end = self.body.len().min(512);
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

/// A challenge, decoded.
struct Offer {
    quote: Quote,
    macaroon: String,
    invoice: Invoice,
    token_expires_at: Option<u64>,
}

/// What the trace records, filled in along the way.
#[derive(Default)]
struct Draft {
    outcome: Option<Outcome>,
    status: Option<u16>,
    amount_msat: Option<u64>,
    fee_msat: Option<u64>,
    payment_hash: Option<String>,
    preimage: Option<String>,
    pay_latency_ms: Option<u64>,
    fiat: Option<FiatValue>,
    notes: Vec<String>,
}

fn is_refusal(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 402)
}

fn is_not_yet(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 402 | 425 | 503)
}

fn storage(moved: MoneyMoved) -> impl Fn(StoreError) -> FetchError {
    move |source| FetchError::Storage { source, moved }
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
fn macaroon_expiry(macaroon: &l402::Macaroon) -> Option<u64> {
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

impl Client {
    /// A builder with the defaults: auto-pay on, at most 1,000 sats per
    /// payment, amountless invoices refused, no budgets, memory stores.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A GET request.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            url: url.to_string(),
            headers: HeaderMap::new(),
            body: None,
            error: None,
        }
    }

    /// The most recent traces, newest first.
    ///
    /// # Errors
    /// [`StoreError`] if the sink fails.
    pub async fn traces(&self, limit: usize) -> Result<Vec<Trace>, StoreError> {
        self.inner.traces.recent(limit).await
    }

    /// The journal and budget ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.inner.ledger
    }

    /// The token store.
    pub fn token_store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.tokens
    }

    /// Resolves every pending journal entry with the wallet: a payment that
    /// went through gets its token stored; one that did not is released.
    /// Requests do this for their own scope on their own; this is for a
    /// clean start. Returns the entries resolved as paid.
    ///
    /// # Errors
    /// [`FetchError::Storage`] if the journal fails.
    pub async fn recover(&self) -> Result<Vec<PaymentHash>, FetchError> {
        let Some(wallet) = self.inner.wallet.clone() else {
            return Ok(Vec::new());
        };
        let mut recovered = Vec::new();
        for entry in self
            .inner
            .ledger
            .pending()
            .await
            .map_err(storage(MoneyMoved::Unknown))?
        {
            if let Resolution::Paid(_) = self.resolve_entry(&*wallet, &entry).await? {
                recovered.push(entry.payment_hash);
            }
        }
        Ok(recovered)
    }

    fn emit(&self, event: Event<'_>) {
        if let Some(observer) = &self.inner.observer {
            observer(&event);
        }
    }

    async fn execute(&self, req: Parts) -> Result<Response, FetchError> {
        let started = Instant::now();
        let at_ms = unix_ms();
        let mut draft = Draft::default();
        let result = self.fetch(&req, &mut draft).await;
        let outcome = match &result {
            Ok(_) => draft.outcome.unwrap_or(Outcome::Free),
            Err(e) => match e {
                FetchError::InvalidRequest(_)
                | FetchError::Storage { .. }
                | FetchError::BodyTooLarge { .. } => Outcome::Error,
                FetchError::Network(_) | FetchError::AfterPayment { .. } => Outcome::NetworkError,
                FetchError::BadChallenge(_) => Outcome::BadChallenge,
                FetchError::Refused(_) => Outcome::Refused,
                FetchError::PaymentFailed { .. } => Outcome::PaymentFailed,
                FetchError::PaymentUnknown { .. } => Outcome::PaymentUnknown,
                FetchError::ServerRefused { .. } => Outcome::ServerRefused,
            },
        };
        let mut error = result.as_ref().err().map(|e| e.to_string());
        if !draft.notes.is_empty() {
            let notes = draft.notes.join("; ");
            error = Some(match error {
                Some(e) => format!("{e}; {notes}"),
                None => notes,
            });
        }
        let status = match &result {
            Ok(r) => Some(r.status.as_u16()),
            Err(FetchError::ServerRefused { status, .. }) => Some(*status),
            Err(_) => draft.status,
        };
        let trace = Trace {
            id: 0,
            at_ms,
            method: req.method.to_string(),
            url: req.url.to_string(),
            outcome,
            status,
            amount_msat: draft.amount_msat,
            fee_msat: draft.fee_msat,
            payment_hash: draft.payment_hash,
            preimage: draft.preimage,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            pay_latency_ms: draft.pay_latency_ms,
            fiat_minor: draft.fiat.as_ref().map(|f| f.minor),
            fiat_currency: draft.fiat.as_ref().map(|f| f.currency.clone()),
            price_source: draft.fiat.as_ref().map(|f| f.source.clone()),
            btc_price_minor: draft.fiat.as_ref().map(|f| f.minor_per_btc),
            error,
        };
        // A trace that cannot be written must not fail a request that
        // otherwise succeeded (or hide its real error).
        let _ = self.inner.traces.record(&trace).await;
        result
    }

    async fn http_send(&self, req: &Parts, authorization: Option<&str>) -> Result<Sent, HttpError> {
        let mut headers = req.headers.clone();
        if let Some(value) = authorization.and_then(|a| HeaderValue::from_str(a).ok()) {
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), req.url.clone())
            .headers(headers);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(HttpError::Http)?;
        let status = response.status();
        let headers = response.headers().clone();
        let limit = self.inner.max_body_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(HttpError::Http)? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(HttpError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Sent {
            status,
            headers,
            body,
        })
    }

    async fn usable_token(&self, scope: &Scope) -> Result<Option<StoredToken>, StoreError> {
        let Some(token) = self.inner.tokens.get(scope.as_str()).await? else {
            return Ok(None);
        };
        if token.is_expired() {
            self.inner
                .tokens
                .remove(scope.as_str(), &token.payment_hash)
                .await?;
            return Ok(None);
        }
        Ok(Some(token))
    }

    async fn fetch(&self, req: &Parts, draft: &mut Draft) -> Result<Response, FetchError> {
        let scope = Scope::of(&req.url);
        let mut challenged = None;
        if let Some(token) = self
            .usable_token(&scope)
            .await
            .map_err(storage(MoneyMoved::No))?
        {
            let auth = token.authorization().map_err(storage(MoneyMoved::No))?;
            let sent = self
                .http_send(req, Some(&auth))
                .await
                .map_err(HttpError::before_payment)?;
            if !is_refusal(sent.status) {
                draft.outcome = Some(Outcome::Cached);
                draft.payment_hash = Some(token.payment_hash.to_string());
                return Ok(sent.into_response(&req.url, TokenUse::Cached));
            }
            self.emit(Event::TokenRefused {
                status: sent.status.as_u16(),
            });
            self.inner
                .tokens
                .remove(scope.as_str(), &token.payment_hash)
                .await
                .map_err(storage(MoneyMoved::No))?;
            if sent.status == StatusCode::PAYMENT_REQUIRED {
                challenged = Some(sent);
            }
        }
        let challenged = match challenged {
            Some(sent) => sent,
            None => {
                let sent = self
                    .http_send(req, None)
                    .await
                    .map_err(HttpError::before_payment)?;
                if sent.status != StatusCode::PAYMENT_REQUIRED {
                    draft.outcome = Some(Outcome::Free);
                    return Ok(sent.into_response(&req.url, TokenUse::None));
                }
                sent
            }
        };
        draft.status = Some(402);
        self.pay_and_retry(req, &scope, challenged, draft).await
    }

    fn decode_offer(&self, sent: &Sent) -> Result<Offer, ChallengeProblem> {
        let values = sent
            .headers
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
        if let Some(ttl) = self.inner.token_ttl {
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

    fn scope_lock(&self, scope: &Scope) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.inner.locks.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if locks.len() >= 4096 {
            // Forget locks nobody holds or waits for.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(scope.as_str().to_string()).or_default().clone()
    }

    /// The amount to pay and the checks that precede any payment.
    async fn check_offer(&self, offer: &Offer, scope: &Scope) -> Result<u64, FetchError> {
        let inner = &self.inner;
        let allow_amountless = !matches!(inner.amountless, AmountlessPolicy::Refuse);
        let now = unix_now().saturating_add(inner.expiry_margin.as_secs());
        let mut reqs = InvoiceRequirements::new()
            .payment_hash(offer.quote.payment_hash)
            .max_amount_msat(inner.max_payment_msat)
            .allow_amountless(allow_amountless)
            .at_unix_secs(now);
        if let Some(network) = &inner.network {
            reqs = reqs.network(network.clone());
        }
        offer
            .invoice
            .check(&reqs)
            .map_err(|e| FetchError::Refused(Refusal::Invoice(e)))?;
        let amount_msat = match (offer.quote.amount_msat, inner.amountless) {
            (Some(amount), _) => amount,
            (None, AmountlessPolicy::PayAmount { sats }) => {
                let amount = sats.saturating_mul(1000);
                if amount > inner.max_payment_msat {
                    return Err(Refusal::Invoice(l402::InvoiceError::OverLimit {
                        amount_msat: amount,
                        limit_msat: inner.max_payment_msat,
                    })
                    .into());
                }
                amount
            }
            (None, _) => return Err(Refusal::Invoice(l402::InvoiceError::Amountless).into()),
        };
        if inner.pin_payees
            && let Some(pinned) = inner
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

    async fn price(&self, amount_msat: u64) -> Result<Option<EnvelopeCharge>, FetchError> {
        let Some(envelope) = &self.inner.envelope else {
            return Ok(None);
        };
        if !envelope.allows_rail(RAIL_L402) {
            return Err(Refusal::Envelope(EnvelopeError::RailNotAllowed {
                id: envelope.id.clone(),
                rail: RAIL_L402.into(),
            })
            .into());
        }
        let Some(source) = &self.inner.price_source else {
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

    async fn pay_and_retry(
        &self,
        req: &Parts,
        scope: &Scope,
        challenged: Sent,
        draft: &mut Draft,
    ) -> Result<Response, FetchError> {
        let offer = self.decode_offer(&challenged)?;
        let hash = offer.quote.payment_hash;
        draft.amount_msat = offer.quote.amount_msat;
        draft.payment_hash = Some(hash.to_string());
        self.emit(Event::Challenged(&offer.quote));
        if !self.inner.auto_pay {
            draft.outcome = Some(Outcome::Quoted);
            let mut response = challenged.into_response(&req.url, TokenUse::None);
            response.quote = Some(offer.quote);
            return Ok(response);
        }
        let wallet = match (&self.inner.wallet, self.inner.dry_run) {
            (Some(wallet), _) => Some(wallet.clone()),
            (None, true) => None,
            (None, false) => return Err(Refusal::NoWallet.into()),
        };

        // Single flight: one payment per scope at a time. Whoever waited
        // finds the token the first one bought.
        let lock = self.scope_lock(scope);
        let _guard = lock.lock().await;
        if let Some(response) = self.try_stored(req, scope, draft).await? {
            return Ok(response);
        }
        if let Some(wallet) = &wallet
            && !self.inner.dry_run
            && let Some(response) = self.recover_scope(req, scope, &**wallet, draft).await?
        {
            return Ok(response);
        }

        let amount_msat = self.check_offer(&offer, scope).await?;
        let fee_reserve_msat = self.inner.max_fee_msat;
        let charge = self
            .price(amount_msat.saturating_add(fee_reserve_msat))
            .await?;
        draft.fiat = charge.as_ref().map(|c| c.value.clone());

        let Some(wallet) = wallet.filter(|_| !self.inner.dry_run) else {
            let spent = self
                .inner
                .ledger
                .spent(scope.domain())
                .await
                .map_err(storage(MoneyMoved::No))?;
            self.inner
                .budget
                .check(scope.domain(), amount_msat, fee_reserve_msat, &spent)
                .map_err(Refusal::Budget)?;
            if let Some(charge) = &charge
                && charge.value.minor > charge.envelope.cap_minor
            {
                return Err(Refusal::Envelope(EnvelopeError::CapExceeded {
                    id: charge.envelope.id.clone(),
                    currency: charge.envelope.currency.clone(),
                    cap_minor: charge.envelope.cap_minor,
                    spent_minor: 0,
                    amount_minor: charge.value.minor,
                })
                .into());
            }
            draft.outcome = Some(Outcome::DryRun);
            let mut response = challenged.into_response(&req.url, TokenUse::None);
            response.quote = Some(offer.quote);
            response.would_pay = true;
            return Ok(response);
        };

        let entry = JournalEntry {
            payment_hash: hash,
            scope: scope.as_str().to_string(),
            domain: scope.domain().to_string(),
            url: req.url.to_string(),
            macaroon: offer.macaroon.clone(),
            bolt11: offer.quote.invoice.clone(),
            amount_msat,
            fee_reserve_msat,
            state: PaymentState::Pending,
            preimage: None,
            fee_msat: None,
            fiat_minor: charge.as_ref().map(|c| c.value.minor),
            fiat_currency: charge.as_ref().map(|c| c.value.currency.clone()),
            envelope_id: charge.as_ref().map(|c| c.envelope.id.clone()),
            error: None,
            created_at: unix_now(),
            resolved_at: None,
        };
        // Another process may be paying for this scope right now: wait for
        // its token rather than paying a second time.
        let mut retried_failed = false;
        let mut waits = [50, 100, 200, 400, 800, 1600, 3200]
            .map(Duration::from_millis)
            .into_iter();
        loop {
            let reserved = self
                .inner
                .ledger
                .reserve(&entry, &self.inner.budget, charge.as_ref())
                .await;
            match reserved {
                Ok(Reserved::New) => {
                    // A payment that finished between our token check and
                    // the reservation left its token behind (tokens are
                    // stored before the journal is settled): use it.
                    if let Some(response) = self.try_stored(req, scope, draft).await? {
                        let _ = self
                            .inner
                            .ledger
                            .release(&hash, "a token for this scope appeared; not paid")
                            .await;
                        return Ok(response);
                    }
                    break;
                }
                Ok(Reserved::Existing(existing)) => {
                    // Never pay one invoice twice: the server sent an invoice
                    // this client paid (or is paying) already.
                    match self.resolve_entry(&*wallet, &existing).await? {
                        Resolution::Paid(receipt) => {
                            self.record_paid(
                                scope,
                                &offer.macaroon,
                                offer.token_expires_at,
                                &receipt,
                                None,
                                draft,
                            )
                            .await;
                            return self
                                .retry_with(req, scope, &offer.macaroon, receipt, draft)
                                .await;
                        }
                        // Resolved as not paid: reserve it again, once.
                        Resolution::Failed if !retried_failed => {
                            retried_failed = true;
                            continue;
                        }
                        Resolution::Failed => {
                            return Err(Refusal::AlreadyAttempted(hash).into());
                        }
                        Resolution::Unresolved(reason) => {
                            return Err(FetchError::PaymentUnknown {
                                payment_hash: hash,
                                reason,
                            });
                        }
                    }
                }
                Ok(Reserved::InFlight(other)) => {
                    let Some(delay) = waits.next() else {
                        return Err(FetchError::PaymentUnknown {
                            payment_hash: other.payment_hash,
                            reason: format!(
                                "another payment for {scope} is still in flight; not paying a \
                                 second time"
                            ),
                        });
                    };
                    tokio::time::sleep(delay).await;
                    if let Some(response) = self.try_stored(req, scope, draft).await? {
                        return Ok(response);
                    }
                }
                Err(LedgerError::Budget(e)) => return Err(Refusal::Budget(e).into()),
                Err(LedgerError::Envelope(e)) => return Err(Refusal::Envelope(e).into()),
                Err(LedgerError::Storage(e)) => return Err(storage(MoneyMoved::No)(e)),
            }
        }

        self.emit(Event::Paying(&offer.quote));
        let started = Instant::now();
        let request = PayRequest::new(&offer.quote.invoice).max_fee_msat(self.inner.max_fee_msat);
        let result = wallet.pay(&request).await;
        let pay_latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        draft.pay_latency_ms = Some(pay_latency_ms);
        if let Ok(payment) = &result {
            self.emit(Event::Paid(payment));
        }
        let payment = match result {
            Ok(p) if p.payment_hash == hash && p.preimage.matches(&hash) => p,
            Ok(_) => {
                return Err(FetchError::PaymentUnknown {
                    payment_hash: hash,
                    reason: "the wallet reported success without a preimage for this payment hash"
                        .into(),
                });
            }
            Err(e) => self.after_pay_error(&*wallet, &hash, e).await?,
        };
        let receipt = Receipt {
            payment_hash: hash,
            preimage: payment.preimage.clone(),
            amount_msat: payment.amount_msat,
            fee_msat: payment.fee_msat,
            paid_at: unix_now(),
            pay_latency_ms,
            fiat: charge.map(|c| c.value),
            recovered: false,
        };
        self.record_paid(
            scope,
            &offer.macaroon,
            offer.token_expires_at,
            &receipt,
            Some(&offer.quote.payee),
            draft,
        )
        .await;
        self.retry_with(req, scope, &offer.macaroon, receipt, draft)
            .await
    }

    /// A wallet error: the wallet's [`PayError::outcome`] says whether money
    /// may have moved. Only a payment that provably did not move money is
    /// released; anything else is looked up first, and if the wallet cannot
    /// say, the reservation and the pending journal entry stay (counted
    /// against every budget) until a later request or [`Client::recover`]
    /// resolves it.
    async fn after_pay_error(
        &self,
        wallet: &dyn Wallet,
        hash: &PaymentHash,
        error: PayError,
    ) -> Result<Payment, FetchError> {
        let release = |reason: String| async move {
            // If this fails the entry stays pending: conservative.
            let _ = self.inner.ledger.release(hash, &reason).await;
        };
        let failed = |error: PayError| FetchError::PaymentFailed {
            payment_hash: *hash,
            source: error,
        };
        // "Already paid" may mean this wallet paid it in an earlier,
        // interrupted attempt: ask before releasing.
        let already_paid = matches!(error, PayError::AlreadyPaid { .. });
        if error.outcome().no_money_moved() && !already_paid {
            release(error.to_string()).await;
            return Err(failed(error));
        }
        match wallet.lookup_payment(hash).await {
            Ok(OutgoingStatus::Succeeded(p)) if p.preimage.matches(hash) => Ok(p),
            Ok(OutgoingStatus::Failed { .. }) => {
                release(error.to_string()).await;
                Err(failed(error))
            }
            // Paid, but not by this wallet (and the pay request was refused).
            Ok(OutgoingStatus::Unknown) if error.outcome().no_money_moved() => {
                release(error.to_string()).await;
                Err(failed(error))
            }
            Ok(status) => Err(FetchError::PaymentUnknown {
                payment_hash: *hash,
                reason: format!("{error}; the wallet reports {status:?}"),
            }),
            Err(lookup) => Err(FetchError::PaymentUnknown {
                payment_hash: *hash,
                reason: format!("{error}; looking the payment up failed: {lookup}"),
            }),
        }
    }

    /// After a payment: settle the journal, store the token, pin the payee.
    /// Failures here do not stop the request (the payment is made; the
    /// journal entry stays pending and is recovered later); they are noted
    /// in the trace.
    async fn record_paid(
        &self,
        scope: &Scope,
        macaroon: &str,
        expires_at: Option<u64>,
        receipt: &Receipt,
        payee: Option<&str>,
        draft: &mut Draft,
    ) {
        draft.fee_msat = Some(receipt.fee_msat);
        draft.amount_msat = Some(receipt.amount_msat);
        draft.preimage = Some(receipt.preimage.to_hex());
        let inner = &self.inner;
        let token = StoredToken {
            scope: scope.as_str().to_string(),
            macaroon: macaroon.to_string(),
            payment_hash: receipt.payment_hash,
            preimage: receipt.preimage.clone(),
            created_at: unix_now(),
            expires_at,
        };
        if let Err(e) = inner.tokens.put(&token).await {
            draft.notes.push(format!("token store: {e}"));
        }
        // Settled only once the token is stored: a concurrent request that
        // finds no pending payment for the scope then finds the token.
        if let Err(e) = inner
            .ledger
            .settle(&receipt.payment_hash, &receipt.preimage, receipt.fee_msat)
            .await
        {
            draft.notes.push(format!("journal: {e}"));
        }
        if inner.pin_payees
            && let Some(payee) = payee
            && let Err(e) = inner.ledger.pin_payee(scope.origin(), payee).await
        {
            draft.notes.push(format!("payee pin: {e}"));
        }
    }

    /// Sends the request with a paid credential; re-sends after the backoff
    /// while the server says "not yet"; never pays.
    async fn retry_with(
        &self,
        req: &Parts,
        scope: &Scope,
        macaroon: &str,
        receipt: Receipt,
        draft: &mut Draft,
    ) -> Result<Response, FetchError> {
        draft.payment_hash = Some(receipt.payment_hash.to_string());
        draft.preimage = Some(receipt.preimage.to_hex());
        draft.amount_msat = Some(receipt.amount_msat);
        draft.fee_msat = Some(receipt.fee_msat);
        let authorization = StoredToken {
            scope: scope.as_str().to_string(),
            macaroon: macaroon.to_string(),
            payment_hash: receipt.payment_hash,
            preimage: receipt.preimage.clone(),
            created_at: 0,
            expires_at: None,
        }
        .authorization()
        .map_err(storage(MoneyMoved::Yes))?;
        let mut attempt = 0;
        loop {
            let sent = match self.http_send(req, Some(&authorization)).await {
                Ok(sent) => sent,
                Err(HttpError::Http(source)) => {
                    return Err(FetchError::AfterPayment {
                        receipt: Box::new(receipt),
                        source,
                    });
                }
                Err(HttpError::TooLarge(limit)) => {
                    return Err(FetchError::BodyTooLarge {
                        limit,
                        receipt: Some(Box::new(receipt)),
                    });
                }
            };
            if is_not_yet(sent.status)
                && let Some(&delay) = self.inner.backoff.get(attempt)
            {
                attempt += 1;
                self.emit(Event::Retrying {
                    attempt,
                    status: sent.status.as_u16(),
                    delay,
                });
                tokio::time::sleep(delay).await;
                continue;
            }
            if is_refusal(sent.status) {
                let _ = self
                    .inner
                    .tokens
                    .remove(scope.as_str(), &receipt.payment_hash)
                    .await;
                return Err(FetchError::ServerRefused {
                    status: sent.status.as_u16(),
                    body: sent.body_start(),
                    receipt: Box::new(receipt),
                });
            }
            let token = if receipt.recovered {
                TokenUse::Recovered
            } else {
                TokenUse::Paid
            };
            draft.outcome = Some(if receipt.recovered {
                Outcome::Recovered
            } else {
                Outcome::Paid
            });
            draft.fiat = receipt.fiat.clone().or(draft.fiat.take());
            let mut response = sent.into_response(&req.url, token);
            response.receipt = Some(receipt);
            return Ok(response);
        }
    }

    /// Under the scope lock: a token another request stored meanwhile.
    async fn try_stored(
        &self,
        req: &Parts,
        scope: &Scope,
        draft: &mut Draft,
    ) -> Result<Option<Response>, FetchError> {
        let Some(token) = self
            .usable_token(scope)
            .await
            .map_err(storage(MoneyMoved::No))?
        else {
            return Ok(None);
        };
        let auth = token.authorization().map_err(storage(MoneyMoved::No))?;
        let sent = self
            .http_send(req, Some(&auth))
            .await
            .map_err(HttpError::before_payment)?;
        if is_refusal(sent.status) {
            self.emit(Event::TokenRefused {
                status: sent.status.as_u16(),
            });
            self.inner
                .tokens
                .remove(scope.as_str(), &token.payment_hash)
                .await
                .map_err(storage(MoneyMoved::No))?;
            return Ok(None);
        }
        draft.outcome = Some(Outcome::Cached);
        draft.payment_hash = Some(token.payment_hash.to_string());
        Ok(Some(sent.into_response(&req.url, TokenUse::Cached)))
    }

    /// Under the scope lock: payments for this scope left pending by an
    /// interrupted run. A paid one gives its token (no new payment); an
    /// unresolved one forbids paying again until it is resolved.
    async fn recover_scope(
        &self,
        req: &Parts,
        scope: &Scope,
        wallet: &dyn Wallet,
        draft: &mut Draft,
    ) -> Result<Option<Response>, FetchError> {
        let pending = self
            .inner
            .ledger
            .pending()
            .await
            .map_err(storage(MoneyMoved::No))?;
        for entry in pending.iter().filter(|e| e.scope == scope.as_str()) {
            // Another process may be paying it right now: give it a moment.
            let mut resolution = self.resolve_entry(wallet, entry).await?;
            for delay in [100, 200, 400, 800, 1600, 3200].map(Duration::from_millis) {
                if !matches!(resolution, Resolution::Unresolved(_)) {
                    break;
                }
                tokio::time::sleep(delay).await;
                if let Some(response) = self.try_stored(req, scope, draft).await? {
                    return Ok(Some(response));
                }
                let Some(current) = self
                    .inner
                    .ledger
                    .entry(&entry.payment_hash)
                    .await
                    .map_err(storage(MoneyMoved::No))?
                else {
                    break;
                };
                resolution = self.resolve_entry(wallet, &current).await?;
            }
            match resolution {
                Resolution::Paid(receipt) => {
                    self.emit(Event::Recovered(&entry.payment_hash));
                    let auth = StoredToken {
                        scope: entry.scope.clone(),
                        macaroon: entry.macaroon.clone(),
                        payment_hash: entry.payment_hash,
                        preimage: receipt.preimage.clone(),
                        created_at: 0,
                        expires_at: None,
                    }
                    .authorization()
                    .map_err(storage(MoneyMoved::No))?;
                    let sent = self
                        .http_send(req, Some(&auth))
                        .await
                        .map_err(HttpError::before_payment)?;
                    if is_refusal(sent.status) {
                        // Bought earlier but no longer accepted: drop it
                        // and pay the new challenge.
                        let _ = self
                            .inner
                            .tokens
                            .remove(scope.as_str(), &entry.payment_hash)
                            .await;
                        continue;
                    }
                    draft.outcome = Some(Outcome::Recovered);
                    draft.payment_hash = Some(entry.payment_hash.to_string());
                    draft.preimage = Some(receipt.preimage.to_hex());
                    draft.amount_msat = Some(receipt.amount_msat);
                    draft.fee_msat = Some(receipt.fee_msat);
                    let mut response = sent.into_response(&req.url, TokenUse::Recovered);
                    response.receipt = Some(receipt);
                    return Ok(Some(response));
                }
                Resolution::Failed => {}
                Resolution::Unresolved(reason) => {
                    return Err(FetchError::PaymentUnknown {
                        payment_hash: entry.payment_hash,
                        reason: format!(
                            "an earlier payment for {scope} is unresolved ({reason}); not paying \
                             again until it is"
                        ),
                    });
                }
            }
        }
        Ok(None)
    }

    /// Asks the wallet about a journaled payment and records the answer.
    async fn resolve_entry(
        &self,
        wallet: &dyn Wallet,
        entry: &JournalEntry,
    ) -> Result<Resolution, FetchError> {
        let hash = entry.payment_hash;
        match entry.state {
            PaymentState::Paid => {
                let Some(preimage) = entry.preimage.clone().filter(|p| p.matches(&hash)) else {
                    return Ok(Resolution::Unresolved(
                        "journaled as paid without a valid preimage".into(),
                    ));
                };
                return Ok(Resolution::Paid(Receipt {
                    payment_hash: hash,
                    preimage,
                    amount_msat: entry.amount_msat,
                    fee_msat: entry.fee_msat.unwrap_or(0),
                    paid_at: entry.resolved_at.unwrap_or(entry.created_at),
                    pay_latency_ms: 0,
                    fiat: None,
                    recovered: true,
                }));
            }
            PaymentState::Failed => return Ok(Resolution::Failed),
            PaymentState::Pending => {}
        }
        let status = match wallet.lookup_payment(&hash).await {
            Ok(status) => status,
            Err(e) => return Ok(Resolution::Unresolved(format!("lookup failed: {e}"))),
        };
        let ledger = &self.inner.ledger;
        match status {
            OutgoingStatus::Succeeded(p) if p.preimage.matches(&hash) => {
                let receipt = Receipt {
                    payment_hash: hash,
                    preimage: p.preimage.clone(),
                    amount_msat: p.amount_msat,
                    fee_msat: p.fee_msat,
                    paid_at: unix_now(),
                    pay_latency_ms: 0,
                    fiat: entry.fiat_minor.zip(entry.fiat_currency.clone()).map(
                        |(minor, currency)| FiatValue {
                            minor,
                            currency,
                            minor_per_btc: 0,
                            source: "journal".into(),
                        },
                    ),
                    recovered: true,
                };
                let preimage = p.preimage.clone();
                let scope_url = Url::parse(&entry.url).ok();
                let token = StoredToken {
                    scope: entry.scope.clone(),
                    macaroon: entry.macaroon.clone(),
                    payment_hash: hash,
                    preimage: p.preimage,
                    created_at: unix_now(),
                    expires_at: entry
                        .macaroon
                        .parse::<l402::Macaroon>()
                        .ok()
                        .and_then(|m| macaroon_expiry(&m)),
                };
                self.inner
                    .tokens
                    .put(&token)
                    .await
                    .map_err(storage(MoneyMoved::Yes))?;
                ledger
                    .settle(&hash, &preimage, p.fee_msat)
                    .await
                    .map_err(storage(MoneyMoved::Yes))?;
                if self.inner.pin_payees
                    && let Some(url) = scope_url
                    && let Ok(invoice) = entry.bolt11.parse::<Invoice>()
                {
                    let _ = ledger
                        .pin_payee(Scope::of(&url).origin(), &invoice.payee().to_string())
                        .await;
                }
                Ok(Resolution::Paid(receipt))
            }
            OutgoingStatus::Succeeded(_) => Ok(Resolution::Unresolved(
                "the wallet reports success without a valid preimage".into(),
            )),
            OutgoingStatus::Failed { reason } => {
                ledger
                    .release(&hash, &reason)
                    .await
                    .map_err(storage(MoneyMoved::No))?;
                Ok(Resolution::Failed)
            }
            OutgoingStatus::Unknown => {
                // Never sent, or sent so long ago the invoice expired unpaid.
                let expired = entry
                    .bolt11
                    .parse::<Invoice>()
                    .map(|i| unix_now() >= i.expires_at())
                    .unwrap_or(true);
                let old = unix_now() > entry.created_at.saturating_add(60);
                if expired || old {
                    ledger
                        .release(&hash, "the wallet has no record of this payment")
                        .await
                        .map_err(storage(MoneyMoved::No))?;
                    Ok(Resolution::Failed)
                } else {
                    Ok(Resolution::Unresolved(
                        "the wallet has no record of it yet".into(),
                    ))
                }
            }
            OutgoingStatus::Pending => Ok(Resolution::Unresolved(
                "the wallet reports it as pending".into(),
            )),
            _ => Ok(Resolution::Unresolved("unrecognised wallet status".into())),
        }
    }
}

enum Resolution {
    Paid(Receipt),
    Failed,
    Unresolved(String),
}

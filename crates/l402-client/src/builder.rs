//! Configuring a [`Client`]: [`ClientBuilder`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l402::invoice::Currency;
use l402_lightning::Wallet;

use crate::budget::Budget;
use crate::client::Client;
use crate::engine::{DEFAULT_JOURNAL_LEASE, Engine, owner_id};
use crate::event::{Event, Observer};
use crate::fiat::{FiatEnvelope, PriceSource};
use crate::ledger::{Ledger, MemoryLedger};
use crate::redirect::DEFAULT_MAX_REDIRECTS;
use crate::retry::DEFAULT_BACKOFF;
use crate::sqlite::SqliteStore;
use crate::store::{MemoryTokenStore, TokenStore};
use crate::trace::{MemoryTraceSink, TraceSink};

/// The default maximum per payment: 1,000 sats.
pub const DEFAULT_MAX_PAYMENT_SATS: u64 = 1_000;
/// The default largest response body read: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The default maximum routing fee: 10 sats.
pub const DEFAULT_MAX_FEE_SATS: u64 = 10;

/// The default longest wait for another payment of the same scope: 30 s.
pub const DEFAULT_IN_FLIGHT_WAIT: Duration = Duration::from_secs(30);

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

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A fiat envelope needs a price source.
    #[error("a fiat envelope is set but no price source")]
    EnvelopeWithoutPriceSource,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// Configures a [`Client`].
///
/// The options of seed 001's JavaScript client (`l402`'s `fetch(url,
/// wallet, options)` and `parseChallenge`), and what they are here:
///
/// | `l402` (JavaScript) | here |
/// |---|---|
/// | `autoPay` (default `false`) | [`auto_pay`](Self::auto_pay) (default **on**; off returns the 402 with its [`Quote`](crate::Quote)); [`dry_run`](Self::dry_run) runs every check without paying |
/// | `maxSats` (default 1000) | [`max_payment_sats`](Self::max_payment_sats) (default 1000), plus [`max_fee_sats`](Self::max_fee_sats) and [`budget`](Self::budget) across requests |
/// | `allowUnknownAmount` (default `false`) | [`amountless`](Self::amountless): refused by default; [`AmountlessPolicy::PayAmount`] pays an amount you choose, within every limit (a Lightning payment needs one) |
/// | `retryBackoff` (default `[0, 250, 750, 1500]` ms) | [`retry_backoff`](Self::retry_backoff) (default 250, 750, 1500 ms after the first, immediate, paid retry; a server's `Retry-After` can lengthen a wait up to [`MAX_RETRY_AFTER`](crate::MAX_RETRY_AFTER)); never a second payment |
/// | `parseChallenge(status, headers, body)` → invoice, `amountSats`, `paymentHash` | [`parse_challenge`](crate::parse_challenge)`(status, &headers, body)` → [`Offer`](crate::Offer): the decoded invoice, amount, payment hash, the token and its [`TokenKind`](crate::TokenKind), and where it was read (header or JSON body) |
/// | `wallet.payInvoice(invoice)` → preimage | [`wallet`](Self::wallet): any [`l402_lightning::Wallet`]; the preimage is checked against the payment hash |
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
#[must_use]
pub struct ClientBuilder {
    http: Option<reqwest::Client>,
    timeout: Duration,
    wallet: Option<Arc<dyn Wallet>>,
    auto_pay: bool,
    dry_run: bool,
    max_payment_msat: u64,
    max_fee_msat: u64,
    amountless: AmountlessPolicy,
    require_macaroon: bool,
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
    max_redirects: usize,
    journal_lease: Duration,
    in_flight_wait: Duration,
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
            require_macaroon: false,
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
            max_redirects: DEFAULT_MAX_REDIRECTS,
            journal_lease: DEFAULT_JOURNAL_LEASE,
            in_flight_wait: DEFAULT_IN_FLIGHT_WAIT,
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
    /// returned as a [`Response`](crate::Response) with its [`Quote`](crate::Quote).
    pub fn auto_pay(mut self, on: bool) -> Self {
        self.auto_pay = on;
        self
    }

    /// Run every check but do not pay: a 402 is returned with its
    /// [`Quote`](crate::Quote) and [`Response::would_pay`](crate::Response::would_pay), or the refusal as an error.
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
    ///
    /// The cap is passed to the wallet
    /// ([`PayRequest::max_fee_msat`](l402_lightning::PayRequest::max_fee_msat)).
    /// Backends that enforce it before paying say so with
    /// [`Wallet::enforces_max_fee`](l402_lightning::Wallet::enforces_max_fee)
    /// (LND; the dev node charges no fee); LNbits' and phoenixd's payment
    /// APIs take no fee limit. Whatever the backend, the fee actually
    /// charged is checked after paying: an overrun is counted in full against
    /// budgets, recorded in the trace and returned as
    /// [`FetchError::FeeOverrun`](crate::FetchError::FeeOverrun) (money moved;
    /// the token is stored and used by the next request).
    pub fn max_fee_sats(mut self, sats: u64) -> Self {
        self.max_fee_msat = sats.saturating_mul(1000);
        self
    }

    /// What to do with amountless invoices (refused by default).
    pub fn amountless(mut self, policy: AmountlessPolicy) -> Self {
        self.amountless = policy;
        self
    }

    /// Refuse to pay for a token that is not an L402 macaroon (off by
    /// default). A macaroon names its payment hash, which is checked against
    /// the invoice's before paying; an opaque token (l402kit's base64 JSON,
    /// Alby's `base64url(JSON).hmac`) names none the client can read, so by
    /// default it is paid after the full invoice checks and marked
    /// [`TokenKind::Opaque`](crate::TokenKind::Opaque) in the receipt and
    /// trace. On, such offers are refused before paying
    /// ([`Refusal::OpaqueToken`](crate::Refusal::OpaqueToken)).
    pub fn require_macaroon(mut self, on: bool) -> Self {
        self.require_macaroon = on;
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
    /// [`FetchError::BodyTooLarge`](crate::FetchError::BodyTooLarge).
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

    /// How long a reserved journal entry stays this client's without renewal
    /// (default 30 s). While it pays, the client renews the lease every third
    /// of it; another process sharing the journal (a [`SqliteStore`] file)
    /// may release or take over the entry only once the lease expired, and
    /// only after looking the payment up in the wallet.
    pub fn journal_lease(mut self, lease: Duration) -> Self {
        self.journal_lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How long a request waits for another request or process that is
    /// paying for the same scope (default [`DEFAULT_IN_FLIGHT_WAIT`]) before
    /// giving up with [`FetchError::PaymentUnknown`](crate::FetchError::PaymentUnknown),
    /// never paying a second time.
    pub fn in_flight_wait(mut self, wait: Duration) -> Self {
        self.in_flight_wait = wait;
        self
    }

    /// Follows at most this many redirects per request (default
    /// [`DEFAULT_MAX_REDIRECTS`]; 0 returns a 3xx as it is). The client
    /// follows them itself, one hop at a time: the token scope, per-domain
    /// budgets and payee pinning follow each hop's URL; the caller's
    /// `Authorization` and `Cookie` headers are not sent to another origin;
    /// a 402 from another origin than the one requested is refused before
    /// paying ([`Refusal::CrossOriginRedirect`](crate::Refusal::CrossOriginRedirect));
    /// and no redirect is followed after a payment (the 3xx is returned with
    /// the receipt).
    pub fn max_redirects(mut self, hops: usize) -> Self {
        self.max_redirects = hops;
        self
    }

    /// Uses this reqwest client. Build it with
    /// `reqwest::redirect::Policy::none()` (the default one follows no
    /// redirects): the paying client follows redirects itself
    /// ([`max_redirects`](Self::max_redirects)). If the given client follows
    /// one anyway, the answer is refused before any payment
    /// ([`Refusal::RedirectedByHttpClient`](crate::Refusal::RedirectedByHttpClient)),
    /// so a caller's client cannot change where money goes.
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
        let engine = Engine {
            wallet: self.wallet,
            dry_run: self.dry_run,
            max_payment_msat: self.max_payment_msat,
            max_fee_msat: self.max_fee_msat,
            amountless: self.amountless,
            require_macaroon: self.require_macaroon,
            network: self.network,
            budget: self.budget,
            envelope: self.envelope,
            price_source: self.price_source,
            tokens: self.tokens,
            ledger: self.ledger,
            token_ttl: self.token_ttl,
            pin_payees: self.pin_payees,
            expiry_margin: self.expiry_margin,
            observer: self.observer,
            owner: owner_id(),
            lease: self.journal_lease,
            in_flight_wait: self.in_flight_wait,
            locks: Mutex::new(HashMap::new()),
        };
        Ok(Client::from_parts(
            http,
            engine,
            self.traces,
            self.auto_pay,
            self.backoff,
            self.max_body_bytes,
            self.max_redirects,
        ))
    }
}

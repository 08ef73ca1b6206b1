//! [`ProducerBuilder`]: the producer's settings and their defaults, and the
//! check of a trusted-proxy entry.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::l402::{Keyring, Verifier};
use ipnet::IpNet;
use l402_lightning::Receiver;
use l402_server::Issuer;
use l402_server::idempotency::Claims;
use l402_store::ProducerStore;

use crate::batch::Batcher;
use crate::ratelimit::{ClientAddr, DEFAULT_MAX_TRACKED_CLIENTS, RateLimiter};
use crate::{
    DirectoryConfig, IdentityConfig, Inner, PassConfig, Producer, SplitsConfig, WebhookConfig,
    directory, passes, sha256, splits, state, webhooks,
};

/// The default per-address limit of the l402kit-compatible `POST /api/invoice`.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 20;
/// The highest price a challenge may ask, in sats (1 BTC).
pub const DEFAULT_MAX_PRICE_SATS: u64 = 100_000_000;
/// How long a challenge that was never paid is kept by default.
pub const DEFAULT_CHALLENGE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The default bound on challenge records waiting to be written.
pub const DEFAULT_RECORD_QUEUE: usize = 1024;

/// Why a [`ProducerBuilder`] setting was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A trusted proxy is neither an IP address nor a CIDR block.
    #[error("trusted proxy {0:?} is not an IP address or a CIDR block (10.0.0.0/8)")]
    TrustedProxy(String),
}

/// Configures a [`Producer`].
#[must_use]
pub struct ProducerBuilder {
    store: Arc<dyn ProducerStore>,
    receiver: Arc<dyn Receiver>,
    keys: Keyring,
    admin_token: Option<String>,
    rate_limit_per_minute: u32,
    max_tracked_clients: usize,
    trusted_proxies: Vec<IpNet>,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    max_price_sats: u64,
    key_cache_ttl: Duration,
    flush_interval: Duration,
    challenge_retention: Duration,
    record_queue: usize,
    record_queue_timeout: Duration,
    identity: IdentityConfig,
    webhooks: WebhookConfig,
    directory: DirectoryConfig,
    splits: Option<SplitsConfig>,
    passes: PassConfig,
}

impl std::fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl ProducerBuilder {
    /// The defaults: see [`Producer::builder`].
    pub(crate) fn new(
        store: Arc<dyn ProducerStore>,
        receiver: Arc<dyn Receiver>,
        keys: Keyring,
    ) -> Self {
        Self {
            store,
            receiver,
            keys,
            admin_token: None,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            max_tracked_clients: DEFAULT_MAX_TRACKED_CLIENTS,
            trusted_proxies: Vec::new(),
            token_lifetime: l402_server::issuer::DEFAULT_TOKEN_LIFETIME,
            invoice_expiry: l402_server::issuer::DEFAULT_INVOICE_EXPIRY,
            max_price_sats: DEFAULT_MAX_PRICE_SATS,
            key_cache_ttl: Duration::from_secs(5),
            flush_interval: Duration::from_secs(1),
            challenge_retention: DEFAULT_CHALLENGE_RETENTION,
            record_queue: DEFAULT_RECORD_QUEUE,
            record_queue_timeout: Duration::from_secs(2),
            identity: IdentityConfig::default(),
            webhooks: WebhookConfig::default(),
            directory: DirectoryConfig::default(),
            splits: None,
            passes: PassConfig::default(),
        }
    }

    /// The admin token for `/api/admin/...` (no admin API without one).
    /// Only its hash is kept; presented tokens are compared in constant time.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// Requests per minute per client (an IPv4 address or an IPv6 /64) on
    /// `POST /api/invoice` (default 20; 0 turns the limit off).
    pub fn rate_limit_per_minute(mut self, n: u32) -> Self {
        self.rate_limit_per_minute = n;
        self
    }

    /// The most clients the rate limit tracks (default
    /// [`DEFAULT_MAX_TRACKED_CLIENTS`]); past it the least recently seen is
    /// forgotten.
    pub fn max_tracked_clients(mut self, n: usize) -> Self {
        self.max_tracked_clients = n.max(1);
        self
    }

    /// The proxies in front of this server (IP addresses or CIDR blocks):
    /// `X-Forwarded-For` is honoured only on connections from them, and the
    /// client is the right-most hop that is not one of them. Default: none
    /// (the peer address is the client).
    ///
    /// # Errors
    /// [`ConfigError::TrustedProxy`] for an entry that is neither.
    pub fn trusted_proxies<I, S>(mut self, proxies: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.trusted_proxies = proxies
            .into_iter()
            .map(|p| parse_trusted_proxy(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// How long tokens from `POST /api/l402/challenges` stay valid (default 1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How long invoices stay payable (default 10 minutes).
    pub fn invoice_expiry(mut self, expiry: Duration) -> Self {
        self.invoice_expiry = expiry;
        self
    }

    /// The highest price accepted, in sats (default 100,000,000).
    pub fn max_price_sats(mut self, sats: u64) -> Self {
        self.max_price_sats = sats.max(1);
        self
    }

    /// How long an authenticated API key is remembered (default 5 s).
    pub fn key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.key_cache_ttl = ttl;
        self
    }

    /// How often verification counts are written (default 1 s); expired
    /// idempotency claims and old unpaid challenges are deleted every 60
    /// of these.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long a challenge that was never paid is kept (default 7 days; at
    /// least the invoice expiry).
    pub fn challenge_retention(mut self, retention: Duration) -> Self {
        self.challenge_retention = retention;
        self
    }

    /// The most anonymous challenge records waiting to be written (default
    /// [`DEFAULT_RECORD_QUEUE`]), and how long a request waits for room
    /// before it answers 503 `store_busy` (default 2 s).
    pub fn record_queue(mut self, capacity: usize, timeout: Duration) -> Self {
        self.record_queue = capacity.max(1);
        self.record_queue_timeout = timeout;
        self
    }

    /// LNURL-auth and sessions (`GET /api/lnurl-auth`): the public URL,
    /// lifetimes and bounds (see [`IdentityConfig`]).
    pub fn identity(mut self, config: IdentityConfig) -> Self {
        self.identity = config;
        self
    }

    /// Webhooks out: retries, bounds, timeouts and which targets are
    /// allowed (see [`WebhookConfig`]).
    pub fn webhooks(mut self, config: WebhookConfig) -> Self {
        self.webhooks = config;
        self
    }

    /// Splits and payouts to owners' Lightning Addresses, paid by the
    /// config's wallet (see [`SplitsConfig`]); off by default.
    pub fn splits(mut self, config: SplitsConfig) -> Self {
        self.splits = Some(config);
        self
    }

    /// Passes: time-based access (see [`PassConfig`]).
    pub fn passes(mut self, config: PassConfig) -> Self {
        self.passes = config;
        self
    }

    /// The API directory: its rate limit, bound, fetch timeout and which
    /// hosts are allowed (see [`DirectoryConfig`]).
    pub fn directory(mut self, config: DirectoryConfig) -> Self {
        self.directory = config;
        self
    }

    /// Builds the producer. Inside a Tokio runtime this also starts the task
    /// that writes challenge records in batches and the one that flushes
    /// counters and deletes expired records; they stop when the last clone
    /// of the producer is dropped.
    pub fn build(self) -> Producer {
        let handle = tokio::runtime::Handle::try_current().ok();
        let batcher = handle.as_ref().map(|h| {
            Batcher::start(
                self.store.clone(),
                h,
                self.record_queue,
                self.record_queue_timeout,
            )
        });
        let issuer = |lifetime| {
            Issuer::builder(self.receiver.clone(), self.keys.clone())
                .token_lifetime(lifetime)
                .invoice_expiry(self.invoice_expiry)
                .build()
        };
        let inner = Arc::new(Inner {
            store: self.store.clone(),
            receiver: self.receiver.clone(),
            issuer: issuer(self.token_lifetime),
            kit_issuer: issuer(KIT_TOKEN_LIFETIME),
            claims: Claims::default(),
            verifier: Verifier::new(self.keys.clone()),
            admin_token_hash: self.admin_token.map(|t| sha256(t.as_bytes())),
            limiter: RateLimiter::new(self.rate_limit_per_minute, self.max_tracked_clients),
            clients: ClientAddr::new(self.trusted_proxies),
            max_price_sats: self.max_price_sats,
            key_cache_ttl: self.key_cache_ttl,
            challenge_retention: self.challenge_retention.max(self.invoice_expiry),
            batcher,
            keys: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            paid: Mutex::new(HashSet::new()),
            flushing: tokio::sync::Mutex::new(()),
            identity: self.identity,
            webhooks: webhooks::Webhooks::new(self.webhooks, self.keys.clone()),
            directory: directory::Directory::new(self.directory, self.max_tracked_clients),
            splits: self.splits.map(splits::Splits::new),
            passes: passes::Passes {
                issuer: issuer(self.passes.duration),
                config: self.passes,
            },
            proxy_catalog: std::sync::OnceLock::new(),
        });
        if let Some(handle) = handle {
            handle.spawn(state::background(
                Arc::downgrade(&inner),
                self.flush_interval,
            ));
            // The webhook delivery worker: one per producer.
            handle.spawn(webhooks::run(
                Arc::downgrade(&inner),
                inner.webhooks.wake.clone(),
            ));
            if let Some(splits) = &inner.splits {
                // The payout queue's worker: one per producer.
                handle.spawn(splits::worker::run(
                    Arc::downgrade(&inner),
                    splits.config.poll,
                ));
            }
        }
        Producer { inner }
    }
}

/// Checks one entry of [`ProducerBuilder::trusted_proxies`] (an IP address
/// or a CIDR block, surrounding spaces ignored) by the same rule the builder
/// applies, so that a configuration can be refused before anything starts.
///
/// ```
/// assert!(l402_producer::check_trusted_proxy("10.0.0.0/8").is_ok());
/// assert!(l402_producer::check_trusted_proxy(" ::1 ").is_ok());
/// assert!(l402_producer::check_trusted_proxy("10.0.0.0/33").is_err());
/// assert!(l402_producer::check_trusted_proxy("proxy.local").is_err());
/// ```
///
/// # Errors
/// [`ConfigError::TrustedProxy`] for an entry that is neither.
pub fn check_trusted_proxy(proxy: &str) -> Result<(), ConfigError> {
    parse_trusted_proxy(proxy).map(|_| ())
}

fn parse_trusted_proxy(proxy: &str) -> Result<IpNet, ConfigError> {
    let text = proxy.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigError::TrustedProxy(text.to_owned()))
}

/// l402kit's tokens expire an hour after they are minted.
const KIT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

//! Webhooks out: merchants register endpoints and are sent signed events,
//! through a durable queue in the store, with retries.
//!
//! # Events
//!
//! `payment.received` (a payment of one of the merchant's challenges, when
//! this server first learns of it: the node's settlement notification, a
//! backend's webhook, or the first valid verification), and `split.paid`,
//! `pass.activated` (emitted by other parts through [`Producer::emit`](crate::Producer::emit)),
//! plus `webhook.test` (`POST /api/webhooks/test`). The body is
//! `{"id":"evt_…","type":"payment.received","created":<unix>,"merchantId":1,
//! "data":{"paymentHash","amountSats","endpoint"}}`, as l402kit's
//! (`src/webhook.ts`) **without the preimage**: a webhook is news, never a
//! credential. One event per merchant, type and subject (a payment hash):
//! however many paths report a payment, and however often, it is sent once
//! to each endpoint. Receivers de-duplicate on `id` (a retry after a lost
//! answer sends it again).
//!
//! # Signature
//!
//! `l402-signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! l402kit's and Stripe's scheme: the key is the secret's text
//! (`whsec_<64 hex>`) as UTF-8 bytes; `t` is the time of the attempt, so a
//! receiver may refuse old ones (l402kit tolerates 300 s). Check it with
//! any HMAC implementation, comparing in constant time.
//!
//! # Secrets
//!
//! An endpoint's secret is shown once, in the answer that creates it. It is
//! **not stored**: it is derived, when signing, from the server secret
//! (the [`Keyring`](::l402::Keyring) that signs tokens) and a random nonce
//! kept with the endpoint: `HMAC-SHA256(root key of the nonce, "l402
//! webhook signing secret v1")`, hex. The database alone therefore does not
//! reveal it; instances sharing the server secret sign alike; and retiring
//! the key id the nonce names retires the secret (deliveries then fail with
//! `signing_key_retired`: create the endpoint again). Secrets are never
//! logged.
//!
//! # Delivery
//!
//! One worker per producer claims due deliveries with a lease in the store
//! (safe with several instances on one PostgreSQL), posts them (timeout
//! [`WebhookConfig::timeout`], no redirects, no proxy), and records each
//! outcome in the delivery log (`GET /api/webhooks/deliveries`). A 2xx
//! answer delivers; anything else is retried after a pause doubling from
//! [`WebhookConfig::backoff`] up to its maximum, at most
//! [`WebhookConfig::max_attempts`] times, then `failed`.
//!
//! # Bounds
//!
//! [`MAX_ENDPOINTS_PER_MERCHANT`] endpoints; at most
//! [`WebhookConfig::max_queued`] pending deliveries per merchant (past it a
//! delivery is logged `dropped`); finished deliveries and their events are
//! deleted after [`WebhookConfig::retention`]. Targets resolving to private,
//! loopback or link-local addresses are refused unless
//! [`WebhookConfig::allow_private_targets`].

mod api;
mod inbound;
mod settled;
mod sign;
pub(crate) mod target;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use ::l402::{Keyring, TokenId};
use hmac::{Hmac, Mac};
use l402_store::{Enqueued, NewEvent, StoreError};
use serde_json::{Value, json};
use sha2::Sha256;

pub(crate) use api::{create, deliveries, list, remove, test};
pub use inbound::{InboundSecretError, SVIX_TOLERANCE_SECS};
pub(crate) use inbound::{blink, phoenixd};
pub use settled::Settled;
pub use sign::signature_header;
pub(crate) use worker::run;

use crate::state::Inner;

/// The most endpoints one merchant may register.
pub const MAX_ENDPOINTS_PER_MERCHANT: u32 = 10;

/// The type of an event.
///
/// ```
/// use l402_producer::EventKind;
/// assert_eq!(EventKind::PaymentReceived.as_str(), "payment.received");
/// assert_eq!(EventKind::parse("pass.activated"), Some(EventKind::PassActivated));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A payment of one of the merchant's challenges.
    PaymentReceived,
    /// A split was paid out.
    SplitPaid,
    /// A pass was activated.
    PassActivated,
    /// `POST /api/webhooks/test`.
    Test,
}

impl EventKind {
    /// The types an endpoint can subscribe to.
    pub const ALL: [EventKind; 3] = [
        EventKind::PaymentReceived,
        EventKind::SplitPaid,
        EventKind::PassActivated,
    ];

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PaymentReceived => "payment.received",
            EventKind::SplitPaid => "split.paid",
            EventKind::PassActivated => "pass.activated",
            EventKind::Test => "webhook.test",
        }
    }

    /// The kind of a name (the subscribable ones and `webhook.test`).
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .chain([EventKind::Test])
            .find(|k| k.as_str() == name)
    }
}

/// The settings of webhooks out ([`ProducerBuilder::webhooks`](crate::ProducerBuilder::webhooks)).
///
/// ```
/// use std::time::Duration;
/// use l402_producer::WebhookConfig;
/// let config = WebhookConfig::default()
///     .backoff(Duration::from_secs(2), Duration::from_secs(600))
///     .max_attempts(8);
/// assert_eq!(config.attempts(), 8);
/// ```
#[derive(Clone)]
#[must_use]
pub struct WebhookConfig {
    pub(crate) first_retry: Duration,
    pub(crate) max_retry: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) max_queued: u32,
    pub(crate) timeout: Duration,
    pub(crate) poll: Duration,
    pub(crate) lease: Duration,
    pub(crate) retention: Duration,
    pub(crate) allow_private: bool,
    pub(crate) phoenixd_secret: Option<String>,
    pub(crate) svix_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the inbound secrets.
        f.debug_struct("WebhookConfig")
            .field("max_attempts", &self.max_attempts)
            .field("max_queued", &self.max_queued)
            .field("allow_private", &self.allow_private)
            .field("phoenixd_in", &self.phoenixd_secret.is_some())
            .field("blink_in", &self.svix_key.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(3600),
            max_attempts: 12,
            max_queued: 10_000,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            retention: Duration::from_secs(30 * 24 * 3600),
            allow_private: false,
            phoenixd_secret: None,
            svix_key: None,
        }
    }
}

impl WebhookConfig {
    /// The pause after the first failed attempt (default 5 s), doubling
    /// after each further one up to `max` (default 1 hour).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_retry = first.max(Duration::from_millis(10));
        self.max_retry = max.max(self.first_retry);
        self
    }

    /// Attempts per delivery before it is `failed` (default 12: with the
    /// default backoff, about 4.5 hours).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The attempts per delivery.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Pending deliveries per merchant (default 10,000); past it a new
    /// delivery is logged `dropped`.
    pub fn max_queued(mut self, n: u32) -> Self {
        self.max_queued = n.max(1);
        self
    }

    /// How long an endpoint may take to answer (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(100));
        self
    }

    /// How often the worker looks for due deliveries besides being woken by
    /// a new event (default 1 s).
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// How long finished deliveries and their events are kept (default 30 days).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Allows endpoints on private, loopback and link-local addresses
    /// (default: refused; for tests and closed networks).
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// phoenixd's `webhook-secret`: turns on `POST /api/webhooks/in/phoenixd`.
    pub fn phoenixd_webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.phoenixd_secret = Some(secret.into()).filter(|s| !s.is_empty());
        self
    }

    /// Blink's Svix signing secret (`whsec_<base64>`): turns on
    /// `POST /api/webhooks/in/blink` and `POST /api/blink-webhook`.
    ///
    /// ```
    /// use l402_producer::WebhookConfig;
    /// assert!(WebhookConfig::default().blink_webhook_secret("whsec_c2VjcmV0").is_ok());
    /// assert!(WebhookConfig::default().blink_webhook_secret("whsec_***").is_err());
    /// ```
    ///
    /// # Errors
    /// [`InboundSecretError`] if it is not `whsec_` and base64.
    pub fn blink_webhook_secret(mut self, secret: &str) -> Result<Self, InboundSecretError> {
        self.svix_key = Some(inbound::svix_key(secret)?);
        Ok(self)
    }
}

/// The webhooks' state in the producer.
pub(crate) struct Webhooks {
    pub(crate) config: WebhookConfig,
    keys: Keyring,
    pub(crate) client: reqwest::Client,
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

impl Webhooks {
    pub(crate) fn new(config: WebhookConfig, keys: Keyring) -> Webhooks {
        let client = target::client(config.timeout, config.allow_private);
        Webhooks {
            config,
            keys,
            client,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// A fresh nonce naming the current key id (its first four bytes).
    pub(crate) fn new_nonce(&self) -> Result<String, StoreError> {
        let mut nonce = [0u8; 32];
        getrandom::getrandom(&mut nonce[4..]).map_err(|e| StoreError::Random(e.to_string()))?;
        nonce[..4].copy_from_slice(&self.keys.current_key_id().to_be_bytes());
        Ok(hex::encode(nonce))
    }

    /// The secret of the endpoint whose nonce this is; `None` if the nonce
    /// is not 32 bytes of hex or its key id was retired.
    pub(crate) fn secret(&self, nonce: &str) -> Option<String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(nonce, &mut bytes).ok()?;
        let root = self.keys.root_key(&TokenId(bytes))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(root.as_bytes()).ok()?;
        mac.update(b"l402 webhook signing secret v1");
        Some(format!(
            "whsec_{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }
}

/// A new event id, `evt_<32 hex>`.
fn event_id() -> Result<String, StoreError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(format!("evt_{}", hex::encode(b)))
}

impl Inner {
    /// Stores an event for the merchant's endpoints (once per kind and
    /// subject) and wakes the worker.
    pub(crate) async fn emit(
        &self,
        merchant_id: i64,
        kind: EventKind,
        subject: &str,
        data: Value,
        only_endpoint: Option<&str>,
    ) -> Result<(String, Enqueued), StoreError> {
        let id = event_id()?;
        let body = json!({
            "id": id,
            "type": kind.as_str(),
            "created": l402_server::unix_now(),
            "merchantId": merchant_id,
            "data": data,
        })
        .to_string();
        let event = NewEvent {
            id: &id,
            merchant_id,
            kind: kind.as_str(),
            subject,
            body: &body,
            only_endpoint,
        };
        let done = self
            .store
            .enqueue_event(&event, self.webhooks.config.max_queued, crate::now_ms())
            .await?;
        if let Enqueued::New { queued, dropped } = done {
            if queued > 0 {
                self.webhooks.wake.notify_one();
            }
            if dropped > 0 {
                tracing::warn!(
                    merchant_id,
                    dropped,
                    "webhooks: the merchant's delivery queue is full; deliveries dropped"
                );
            }
        }
        Ok((id, done))
    }

    /// `payment.received` for a payment of the merchant's (no event for
    /// merchant 0, which has no endpoints). Never fails the caller: a store
    /// failure is logged.
    pub(crate) async fn payment_event(
        &self,
        merchant_id: i64,
        payment_hash: &str,
        amount_sats: u64,
        resource: Option<&str>,
    ) {
        if merchant_id <= 0 {
            return;
        }
        let data = json!({
            "paymentHash": payment_hash,
            "amountSats": amount_sats,
            "endpoint": resource,
        });
        if let Err(e) = self
            .emit(
                merchant_id,
                EventKind::PaymentReceived,
                payment_hash,
                data,
                None,
            )
            .await
        {
            tracing::error!(error = %e, merchant_id, "webhooks: cannot queue payment.received");
        }
    }
}

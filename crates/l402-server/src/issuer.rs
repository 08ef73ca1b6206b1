//! The one issuing path: every selling surface (the [`L402Layer`], the
//! producer API, the proxy) mints its challenges through an [`Issuer`], so
//! invoice memos, the caveat set of each kind of token and idempotency follow
//! one set of rules.
//!
//! A challenge is an invoice from the [`Receiver`] plus a macaroon for its
//! payment hash carrying, in order: the issuer's own caveats (the
//! `services=` caveat first, when a service is named), the offer's extra
//! caveats (the producer's `merchant=`, say), then `resource=`,
//! `amount_sats=` and `valid_until=`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use l402::{Caveat, Keyring, Macaroon};
//! use l402_lightning::dev::DevNode;
//! use l402_server::{Issuer, Offer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let issuer = Issuer::builder(Arc::new(node.wallet("merchant").await?), Keyring::new(1, [7; 32]))
//!     .token_lifetime(Duration::from_secs(600))
//!     .build();
//!
//! let offer = Offer::new("/weather", 21)
//!     .description("one weather report")
//!     .caveat(Caveat::merchant("42"));
//! let issued = issuer.issue(&offer).await?;
//! assert_eq!(issued.amount_sats, 21);
//! assert_eq!(issued.resource, "/weather");
//!
//! let macaroon: Macaroon = issued.challenge.macaroon.parse()?;
//! let caveats: Vec<_> = macaroon.caveats().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
//! assert_eq!(caveats[..3], ["merchant=42", "resource=/weather", "amount_sats=21"]);
//! assert!(caveats[3].starts_with("valid_until="));
//!
//! // Idempotent: one scope, one invoice, however many ask at once.
//! let scope = l402_server::idempotency::scope("key:order-7", "/weather", 21);
//! let a = issuer.issue_idempotent(scope, &offer).await?;
//! let b = issuer.issue_idempotent(scope, &offer).await?;
//! assert_eq!(a.payment_hash, b.payment_hash);
//! # Ok(()) }
//! ```
//!
//! [`L402Layer`]: crate::L402Layer

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use l402::{Caveat, Keyring, MintError, Minter};
use l402_lightning::{InvoiceRequest, ReceiveError, Receiver};

use crate::idempotency::{Claims, Scope};
use crate::paid::Paid;
use crate::response::IssuedChallenge;
use l402::time::unix_now;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The longest invoice memo, in bytes: BOLT11 descriptions hold at most 639.
pub const MAX_MEMO_BYTES: usize = 639;

/// The default lifetime of a paid token.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The default time an invoice stays payable.
pub const DEFAULT_INVOICE_EXPIRY: Duration = Duration::from_secs(600);

/// The one invoice-memo rule: the description, or the resource when there is
/// none, cut at a character boundary to at most [`MAX_MEMO_BYTES`] bytes.
///
/// ```
/// use l402_server::issuer::{MAX_MEMO_BYTES, invoice_memo};
/// assert_eq!(invoice_memo(Some("a joke"), "/joke"), "a joke");
/// assert_eq!(invoice_memo(None, "/joke"), "/joke");
/// let long = "é".repeat(400); // 800 bytes
/// let memo = invoice_memo(Some(&long), "/joke");
/// assert!(memo.len() <= MAX_MEMO_BYTES && long.starts_with(&memo));
/// ```
pub fn invoice_memo(description: Option<&str>, resource: &str) -> String {
    let text = description.unwrap_or(resource);
    let mut end = text.len().min(MAX_MEMO_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Why a sale could not be recorded. The layer answers 503 rather than send
/// a challenge it could not record.
#[derive(Debug, thiserror::Error)]
#[error("cannot record the sale: {0}")]
pub struct RecordError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl RecordError {
    /// Wraps the cause (a store error, or a message).
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        RecordError(cause.into())
    }
}

/// Observes what is sold, for bookkeeping: each new challenge before it is
/// sent, and each paid request before it reaches the service.
///
/// ```
/// use l402_server::{BoxFuture, IssuedChallenge, Paid, RecordError, SalesRecorder};
/// struct Log;
/// impl SalesRecorder for Log {
///     fn challenge_issued(&self, issued: &IssuedChallenge) -> BoxFuture<Result<(), RecordError>> {
///         println!("invoice {} for {}", issued.payment_hash, issued.resource);
///         Box::pin(async { Ok(()) })
///     }
///     fn paid_request(&self, _paid: &Paid) -> Option<BoxFuture<()>> {
///         None // nothing to record
///     }
/// }
/// ```
pub trait SalesRecorder: Send + Sync + 'static {
    /// A challenge was minted (idempotent repeats are not reported again).
    /// It is sent only after this succeeds; an error answers 503.
    fn challenge_issued(&self, issued: &IssuedChallenge) -> BoxFuture<Result<(), RecordError>>;

    /// A verified credential is about to reach the service. Return `None`
    /// when there is nothing to record (this token was seen before, say), so
    /// the paid path costs nothing more.
    fn paid_request(&self, paid: &Paid) -> Option<BoxFuture<()>>;
}

/// Why no challenge could be issued. Each answers 503 with `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The Lightning backend could not create the invoice.
    #[error("no invoice could be created")]
    Invoice(#[source] ReceiveError),
    /// The token could not be minted.
    #[error("no token could be minted")]
    Mint(#[source] MintError),
    /// The [`SalesRecorder`] could not record the challenge.
    #[error("the challenge could not be recorded")]
    Record(#[source] RecordError),
}

impl IssueError {
    /// The stable error code: `invoice_unavailable`, `mint_failed` or
    /// `record_failed`.
    pub fn code(&self) -> &'static str {
        match self {
            IssueError::Invoice(_) => "invoice_unavailable",
            IssueError::Mint(_) => "mint_failed",
            IssueError::Record(_) => "record_failed",
        }
    }

    /// A message for an unauthenticated caller: no backend URL or internal
    /// detail.
    pub fn public_message(&self) -> &'static str {
        match self {
            IssueError::Invoice(_) => {
                "the Lightning backend cannot create an invoice right now; retry later"
            }
            IssueError::Mint(_) => "cannot mint a token right now; retry later",
            IssueError::Record(_) => "the challenge could not be recorded; retry later",
        }
    }
}

/// What a challenge sells: a resource at a price, with an optional
/// description (the invoice memo) and extra caveats.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Offer<'a> {
    /// The resource the token will be good for.
    pub resource: Cow<'a, str>,
    /// The price in sats.
    pub price_sats: u64,
    /// The invoice description (default: the resource).
    pub description: Option<Cow<'a, str>>,
    /// Caveats added after the issuer's own, before `resource=`.
    pub caveats: Vec<Caveat>,
    /// When set, the invoice commits to this hash instead of carrying the
    /// memo (LNURL-pay: `sha256(metadata)`; see
    /// [`InvoiceRequest::description_hash`]).
    pub description_hash: Option<[u8; 32]>,
    /// The text `description_hash` is the hash of, when known (see
    /// [`InvoiceRequest::hashed_description`]: Core Lightning needs it).
    pub hashed_description: Option<Cow<'a, str>>,
}

impl<'a> Offer<'a> {
    /// An offer of `resource` for `price_sats`.
    pub fn new(resource: impl Into<Cow<'a, str>>, price_sats: u64) -> Self {
        Offer {
            resource: resource.into(),
            price_sats,
            description: None,
            caveats: Vec::new(),
            description_hash: None,
            hashed_description: None,
        }
    }

    /// Sets the invoice description.
    pub fn description(mut self, description: impl Into<Cow<'a, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a caveat (`merchant=`, say).
    pub fn caveat(mut self, caveat: Caveat) -> Self {
        self.caveats.push(caveat);
        self
    }

    /// Commits the invoice to `hash` instead of the memo (LNURL-pay).
    pub fn description_hash(mut self, hash: [u8; 32]) -> Self {
        self.description_hash = Some(hash);
        self.hashed_description = None;
        self
    }

    /// Commits the invoice to `sha256(text)` instead of the memo, keeping
    /// the text for backends that hash it themselves (LNURL-pay metadata).
    pub fn hashed_description(mut self, text: impl Into<Cow<'a, str>>) -> Self {
        use sha2::Digest as _;
        let text = text.into();
        self.description_hash = Some(sha2::Sha256::digest(text.as_bytes()).into());
        self.hashed_description = Some(text);
        self
    }
}

/// Mints challenges: creates the invoice, mints the macaroon for it, records
/// the sale. Cheap to clone (shared).
#[derive(Clone)]
pub struct Issuer {
    inner: Arc<Inner>,
}

struct Inner {
    receiver: Arc<dyn Receiver>,
    minter: Minter,
    location: String,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    caveats: Vec<Caveat>,
    service: Option<String>,
    recorder: Option<Arc<dyn SalesRecorder>>,
    claims: Claims,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("backend", &self.inner.receiver.backend())
            .field("token_lifetime", &self.inner.token_lifetime)
            .field("invoice_expiry", &self.inner.invoice_expiry)
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Starts an issuer that creates invoices with `receiver` and signs
    /// tokens with `keys`.
    pub fn builder(receiver: Arc<dyn Receiver>, keys: Keyring) -> IssuerBuilder {
        IssuerBuilder {
            receiver,
            keys,
            location: None,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            invoice_expiry: DEFAULT_INVOICE_EXPIRY,
            caveats: Vec::new(),
            service: None,
            recorder: None,
            max_claims: crate::idempotency::DEFAULT_MAX_CLAIMS,
        }
    }

    /// The macaroon location tokens carry.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The service named with [`IssuerBuilder::service`], if any.
    pub fn service(&self) -> Option<&str> {
        self.inner.service.as_deref()
    }

    /// How long a paid token stays valid after it is minted.
    pub fn token_lifetime(&self) -> Duration {
        self.inner.token_lifetime
    }

    /// The recorder, if one was set.
    pub fn recorder(&self) -> Option<&Arc<dyn SalesRecorder>> {
        self.inner.recorder.as_ref()
    }

    /// The caveats of a token for `offer`, minted at `now` (unix seconds),
    /// in order (see the [module docs](self)).
    pub fn caveats(&self, offer: &Offer<'_>, now: u64) -> Vec<Caveat> {
        let mut caveats = self.inner.caveats.clone();
        caveats.extend(offer.caveats.iter().cloned());
        caveats.push(Caveat::resource(&offer.resource));
        caveats.push(Caveat::amount_sats(offer.price_sats));
        caveats.push(Caveat::valid_until(
            now.saturating_add(self.inner.token_lifetime.as_secs()),
        ));
        caveats
    }

    /// Issues a new challenge for `offer`: a new invoice, a macaroon for it,
    /// and the sale recorded (when a recorder is set).
    ///
    /// # Errors
    /// [`IssueError`] if the invoice, the token or the record fails.
    pub async fn issue(&self, offer: &Offer<'_>) -> Result<IssuedChallenge, IssueError> {
        let inner = &self.inner;
        let memo = invoice_memo(offer.description.as_deref(), &offer.resource);
        let mut request = InvoiceRequest::sats(offer.price_sats)
            .memo(memo)
            .expiry(inner.invoice_expiry);
        match (&offer.hashed_description, offer.description_hash) {
            (Some(text), _) => request = request.hashed_description(text.as_ref()),
            (None, Some(hash)) => request = request.description_hash(hash),
            (None, None) => {}
        }
        let invoice = inner
            .receiver
            .create_invoice(&request)
            .await
            .map_err(IssueError::Invoice)?;
        let caveats = self.caveats(offer, unix_now());
        let macaroon = inner
            .minter
            .mint(invoice.payment_hash, &caveats)
            .map_err(IssueError::Mint)?;
        let issued = IssuedChallenge {
            challenge: l402::Challenge::new(macaroon.to_string(), invoice.bolt11.clone()),
            amount_sats: offer.price_sats,
            payment_hash: invoice.payment_hash,
            expires_at: invoice.expires_at_unix(),
            resource: offer.resource.clone().into_owned(),
        };
        if let Some(recorder) = &inner.recorder {
            recorder
                .challenge_issued(&issued)
                .await
                .map_err(IssueError::Record)?;
        }
        Ok(issued)
    }

    /// The challenge of an idempotency [`Scope`]: the one issued in it within
    /// [`IDEMPOTENCY_WINDOW`](crate::IDEMPOTENCY_WINDOW), else a new one.
    /// Concurrent calls in one scope share one invoice. The scope should be
    /// [`idempotency::scope`](crate::idempotency::scope) of the client's key
    /// and the offer's resource and price.
    ///
    /// # Errors
    /// [`IssueError`] as [`Issuer::issue`]; a failure is not remembered.
    pub async fn issue_idempotent(
        &self,
        scope: Scope,
        offer: &Offer<'_>,
    ) -> Result<Arc<IssuedChallenge>, IssueError> {
        self.inner
            .claims
            .get_or_issue(scope, || self.issue(offer))
            .await
    }
}

/// Configures an [`Issuer`].
#[must_use]
pub struct IssuerBuilder {
    receiver: Arc<dyn Receiver>,
    keys: Keyring,
    location: Option<String>,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    caveats: Vec<Caveat>,
    service: Option<String>,
    recorder: Option<Arc<dyn SalesRecorder>>,
    max_claims: usize,
}

impl IssuerBuilder {
    /// How long a paid token stays valid after it is minted (default 1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How long an invoice stays payable (default 10 minutes).
    pub fn invoice_expiry(mut self, expiry: Duration) -> Self {
        self.invoice_expiry = expiry;
        self
    }

    /// An extra caveat on every token (capabilities, say).
    pub fn caveat(mut self, caveat: Caveat) -> Self {
        self.caveats.push(caveat);
        self
    }

    /// Names the service (Aperture's `services=<name>:0` caveat, first).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if self.service.is_some() {
            self.caveats.remove(0);
        }
        self.caveats
            .insert(0, Caveat::services([(name.as_str(), 0)]));
        self.service = Some(name);
        self
    }

    /// The macaroon location (default `"lsat"`, as Aperture).
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Records each challenge before it is sent (see [`SalesRecorder`]).
    pub fn recorder(mut self, recorder: Arc<dyn SalesRecorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The most idempotency scopes held in memory (default
    /// [`DEFAULT_MAX_CLAIMS`](crate::idempotency::DEFAULT_MAX_CLAIMS)).
    pub fn max_idempotency_claims(mut self, max: usize) -> Self {
        self.max_claims = max;
        self
    }

    /// The keyring tokens are signed with (for a verifier to share).
    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// Builds the issuer.
    pub fn build(self) -> Issuer {
        let location = self
            .location
            .unwrap_or_else(|| l402::mint::DEFAULT_LOCATION.to_owned());
        Issuer {
            inner: Arc::new(Inner {
                receiver: self.receiver,
                minter: Minter::new(self.keys).location(location.clone()),
                location,
                token_lifetime: self.token_lifetime,
                invoice_expiry: self.invoice_expiry,
                caveats: self.caveats,
                service: self.service,
                recorder: self.recorder,
                claims: Claims::new(self.max_claims),
            }),
        }
    }
}

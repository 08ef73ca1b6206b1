//! Idempotent challenges: a repeated request with the same key, resource and
//! price within [`IDEMPOTENCY_WINDOW`] gets the same challenge instead of a
//! new invoice.
//!
//! The rules, shared by every selling surface (the layer here, the producer
//! API on its store):
//! - the window is [`IDEMPOTENCY_WINDOW`];
//! - a key is 1 to [`MAX_KEY_BYTES`] visible ASCII characters; any other key
//!   is refused ([`check_key`]), never truncated or silently ignored;
//! - what is remembered is the [`scope`] of (client key, resource, price): a
//!   SHA-256 over the length-prefixed parts, so memory per entry does not
//!   depend on the key's or the resource's length.
//!
//! In memory ([`Claims`]) a claim is atomic: concurrent requests in one scope
//! wait for the first one's challenge, so they get one invoice between them.
//! The claims are bounded in entries and expire in O(1): entries sit in a
//! queue in the order they were made, which, with one window for all, is the
//! order they expire in.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderName;
use http::request::Parts;
use l402::bitcoin::hashes::{Hash, HashEngine, sha256};
use tokio::sync::OnceCell;

use crate::response::IssuedChallenge;

/// How long a repeated request gets the same challenge.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(60);

/// The longest idempotency key accepted, in bytes (keys are ASCII, so also
/// in characters). Longer keys are refused (see [`check_key`]).
pub const MAX_KEY_BYTES: usize = 256;

/// Former name of [`MAX_KEY_BYTES`].
pub const MAX_KEY_LEN: usize = MAX_KEY_BYTES;

/// The most idempotent challenges remembered in memory at once by default.
/// An entry costs about 1.5 KiB (the challenge: macaroon, invoice, resource;
/// a 32-byte scope; the queue slot), so the default bound is about 15 MiB.
pub const DEFAULT_MAX_CLAIMS: usize = 10_000;

/// Why an idempotency key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty.
    #[error("the idempotency key is empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_BYTES`].
    #[error("the idempotency key is longer than {MAX_KEY_BYTES} characters")]
    TooLong,
    /// The key has a character that is not visible ASCII.
    #[error("the idempotency key must be visible ASCII characters")]
    NotAscii,
}

impl KeyError {
    /// The stable error code: `invalid_idempotency_key`.
    pub fn code(&self) -> &'static str {
        "invalid_idempotency_key"
    }
}

/// The one rule for idempotency keys: 1 to [`MAX_KEY_BYTES`] visible ASCII
/// characters (`!` to `~`). Returns the key unchanged.
///
/// ```
/// use l402_server::idempotency::{KeyError, MAX_KEY_BYTES, check_key};
/// assert_eq!(check_key("order-42"), Ok("order-42"));
/// assert_eq!(check_key(""), Err(KeyError::Empty));
/// assert_eq!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)), Err(KeyError::TooLong));
/// assert_eq!(check_key("a b"), Err(KeyError::NotAscii));
/// ```
///
/// # Errors
/// [`KeyError`] saying which part of the rule the key breaks.
pub fn check_key(key: &str) -> Result<&str, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeyError::NotAscii);
    }
    Ok(key)
}

/// The scope of an idempotent request: SHA-256 over the length-prefixed
/// client key (an idempotency key, or whatever identifies the client),
/// resource and price. Two requests share a challenge exactly when their
/// scopes are equal.
///
/// ```
/// use l402_server::idempotency::scope;
/// assert_eq!(scope("k", "/a", 1), scope("k", "/a", 1));
/// assert_ne!(scope("k", "/a", 1), scope("k", "/a", 2));
/// assert_ne!(scope("k/", "a", 1), scope("k", "/a", 1));
/// ```
pub fn scope(client: &str, resource: &str, price_sats: u64) -> Scope {
    let mut engine = sha256::Hash::engine();
    for part in [
        client.as_bytes(),
        resource.as_bytes(),
        &price_sats.to_be_bytes(),
    ] {
        engine.input(&(part.len() as u64).to_be_bytes());
        engine.input(part);
    }
    Scope(sha256::Hash::from_engine(engine).to_byte_array())
}

/// See [`scope`]. `Display` is lower-case hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope(pub [u8; 32]);

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

type KeyFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// Where the idempotency key of a request comes from.
#[derive(Clone)]
pub enum IdempotencyKey {
    /// A request header, e.g. `X-Idempotency-Key`.
    Header(HeaderName),
    /// A function of the request (a client id, an address, ...).
    Function(Arc<KeyFn>),
}

impl std::fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdempotencyKey::Header(name) => write!(f, "Header({name})"),
            IdempotencyKey::Function(_) => f.write_str("Function(..)"),
        }
    }
}

impl IdempotencyKey {
    /// The key of a request: `Ok(None)` if it has none, an error if the key
    /// it has breaks [`check_key`]'s rule.
    ///
    /// # Errors
    /// [`KeyError`] for an unusable key (the layer answers 400).
    pub fn key(&self, parts: &Parts) -> Result<Option<String>, KeyError> {
        let key = match self {
            IdempotencyKey::Header(name) => match parts.headers.get(name) {
                None => return Ok(None),
                Some(value) => value.to_str().map_err(|_| KeyError::NotAscii)?.to_owned(),
            },
            IdempotencyKey::Function(f) => match f(parts) {
                None => return Ok(None),
                Some(key) => key,
            },
        };
        check_key(&key)?;
        Ok(Some(key))
    }

    /// The header the key is read from, if it is one.
    pub fn header(&self) -> Option<&HeaderName> {
        match self {
            IdempotencyKey::Header(name) => Some(name),
            IdempotencyKey::Function(_) => None,
        }
    }
}

type Cell = Arc<OnceCell<Arc<IssuedChallenge>>>;

struct Entry {
    at: Instant,
    generation: u64,
    cell: Cell,
}

#[derive(Default)]
struct State {
    entries: HashMap<Scope, Entry>,
    /// (made at, scope, generation), oldest first.
    queue: VecDeque<(Instant, Scope, u64)>,
    generation: u64,
}

impl State {
    fn pop_oldest(&mut self) {
        if let Some((_, scope, generation)) = self.queue.pop_front()
            && self
                .entries
                .get(&scope)
                .is_some_and(|e| e.generation == generation)
        {
            self.entries.remove(&scope);
        }
    }
}

/// Idempotency claims in memory: atomic, bounded in entries, O(1) expiry.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use l402_server::idempotency::{Claims, scope};
/// let claims = Claims::new(100);
/// let s = scope("key", "/weather", 21);
/// assert!(claims.get(&s).is_none());
/// assert_eq!(claims.len(), 0);
/// # }
/// ```
pub struct Claims {
    max_entries: usize,
    window: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("max_entries", &self.max_entries)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for Claims {
    fn default() -> Self {
        Claims::new(DEFAULT_MAX_CLAIMS)
    }
}

impl Claims {
    /// Claims holding at most `max_entries` scopes (at least one) for
    /// [`IDEMPOTENCY_WINDOW`].
    pub fn new(max_entries: usize) -> Self {
        Claims::with_window(max_entries, IDEMPOTENCY_WINDOW)
    }

    /// Claims with another window (for tests).
    pub fn with_window(max_entries: usize, window: Duration) -> Self {
        Claims {
            max_entries: max_entries.max(1),
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// How many scopes are held (expired ones included until they are
    /// dropped by the next claim).
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.entries.len())
    }

    /// Whether no scope is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The challenge issued in this scope within the window, if any.
    pub fn get(&self, scope: &Scope) -> Option<Arc<IssuedChallenge>> {
        let state = self.state.lock().ok()?;
        let entry = state.entries.get(scope)?;
        if entry.at.elapsed() >= self.window {
            return None;
        }
        entry.cell.get().cloned()
    }

    /// Claims `scope`: the cell every request in it shares for the window.
    fn claim(&self, scope: Scope) -> Option<Cell> {
        let mut state = self.state.lock().ok()?;
        let now = Instant::now();
        // Drop what expired: the oldest are at the front.
        while state
            .queue
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) >= self.window)
        {
            state.pop_oldest();
        }
        if let Some(entry) = state.entries.get(&scope) {
            return Some(entry.cell.clone());
        }
        while state.entries.len() >= self.max_entries {
            state.pop_oldest();
        }
        state.generation += 1;
        let generation = state.generation;
        let cell = Cell::default();
        state.entries.insert(
            scope,
            Entry {
                at: now,
                generation,
                cell: cell.clone(),
            },
        );
        state.queue.push_back((now, scope, generation));
        Some(cell)
    }

    /// The challenge of this scope: the one issued within the window, else
    /// the one `issue` makes. Concurrent callers in one scope wait for the
    /// first; if it fails (or is dropped), the next one issues. A failed
    /// issue is not remembered.
    ///
    /// # Errors
    /// `issue`'s error.
    pub async fn get_or_issue<F, Fut, E>(
        &self,
        scope: Scope,
        issue: F,
    ) -> Result<Arc<IssuedChallenge>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedChallenge, E>>,
    {
        match self.claim(scope) {
            Some(cell) => cell
                .get_or_try_init(|| async { issue().await.map(Arc::new) })
                .await
                .cloned(),
            // A poisoned lock: no idempotency, still an answer.
            None => issue().await.map(Arc::new),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use l402::{Challenge, PaymentHash};

    fn issued(n: u8) -> IssuedChallenge {
        IssuedChallenge {
            challenge: Challenge::new(format!("mac{n}"), format!("inv{n}")),
            amount_sats: 1,
            payment_hash: PaymentHash([n; 32]),
            expires_at: 0,
            resource: "/r".into(),
        }
    }

    #[tokio::test]
    async fn concurrent_claims_in_one_scope_issue_once() {
        let claims = Arc::new(Claims::new(10));
        let issued_count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (claims, count) = (claims.clone(), issued_count.clone());
            tasks.push(tokio::spawn(async move {
                claims
                    .get_or_issue(scope("k", "/r", 1), || async move {
                        let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>(issued(n as u8))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().payment_hash, PaymentHash([0; 32]));
        }
        assert_eq!(issued_count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_issue_is_not_remembered() {
        let claims = Claims::new(10);
        let s = scope("k", "/r", 1);
        assert_eq!(claims.get_or_issue(s, || async { Err(7) }).await, Err(7));
        let ok = claims.get_or_issue(s, || async { Ok::<_, i32>(issued(1)) });
        assert_eq!(ok.await.unwrap().payment_hash, PaymentHash([1; 32]));
    }

    #[tokio::test]
    async fn past_the_bound_the_oldest_scope_goes_first() {
        let claims = Claims::new(3);
        for n in 0..5u8 {
            let s = scope(&n.to_string(), "/r", 1);
            claims
                .get_or_issue(s, || async move { Ok::<_, ()>(issued(n)) })
                .await
                .unwrap();
            assert!(claims.len() <= 3);
        }
        assert_eq!(claims.len(), 3);
        assert!(claims.get(&scope("0", "/r", 1)).is_none());
        assert!(claims.get(&scope("1", "/r", 1)).is_none());
        for n in 2..5u8 {
            let got = claims.get(&scope(&n.to_string(), "/r", 1)).unwrap();
            assert_eq!(got.payment_hash, PaymentHash([n; 32]));
        }
    }

    #[tokio::test]
    async fn expired_scopes_are_dropped_and_issue_anew() {
        let claims = Claims::with_window(10, Duration::from_millis(30));
        let s = scope("k", "/r", 1);
        claims
            .get_or_issue(s, || async { Ok::<_, ()>(issued(1)) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(claims.get(&s).is_none());
        let again = claims
            .get_or_issue(s, || async { Ok::<_, ()>(issued(2)) })
            .await
            .unwrap();
        assert_eq!(again.payment_hash, PaymentHash([2; 32]));
        assert_eq!(claims.len(), 1, "the expired entry was dropped");
    }
}

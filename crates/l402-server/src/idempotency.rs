//! Opt-in idempotent challenges: the same key, resource and price within the
//! window returns the same challenge instead of minting another invoice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderName;
use http::request::Parts;

use crate::response::IssuedChallenge;

/// How long a repeated request gets the same challenge.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(60);

/// Keys longer than this are ignored (no idempotency for that request).
pub const MAX_KEY_LEN: usize = 256;

/// The most challenges remembered at once.
const MAX_ENTRIES: usize = 100_000;

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
    /// The key of a request, if it has a usable one.
    pub fn key(&self, parts: &Parts) -> Option<String> {
        let key = match self {
            IdempotencyKey::Header(name) => parts.headers.get(name)?.to_str().ok()?.to_owned(),
            IdempotencyKey::Function(f) => f(parts)?,
        };
        (!key.is_empty() && key.len() <= MAX_KEY_LEN).then_some(key)
    }
}

/// (idempotency key, resource, price) → when issued, what was issued.
type Entries = HashMap<(String, String, u64), (Instant, Arc<IssuedChallenge>)>;

#[derive(Debug, Default)]
pub(crate) struct ChallengeCache {
    entries: Mutex<Entries>,
}

impl ChallengeCache {
    pub(crate) fn get(
        &self,
        key: &str,
        resource: &str,
        price: u64,
    ) -> Option<Arc<IssuedChallenge>> {
        let entries = self.entries.lock().ok()?;
        let (at, issued) = entries.get(&(key.to_owned(), resource.to_owned(), price))?;
        (at.elapsed() < IDEMPOTENCY_WINDOW).then(|| issued.clone())
    }

    pub(crate) fn insert(
        &self,
        key: String,
        resource: String,
        price: u64,
        issued: Arc<IssuedChallenge>,
    ) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= 1024 {
                entries.retain(|_, (at, _)| at.elapsed() < IDEMPOTENCY_WINDOW);
            }
            // Bounded: past the cap a request simply gets a fresh challenge.
            if entries.len() < MAX_ENTRIES {
                entries.insert((key, resource, price), (Instant::now(), issued));
            }
        }
    }
}

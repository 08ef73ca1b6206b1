//! The API directory, l402kit's (seed 004): `POST /api/register` and
//! `GET /api/apis.json?category=`, with a domain proof l402kit lacks.
//!
//! - `POST /api/register` `{url, name (2–100), price_sats (≥ 1),
//!   lightning_address, description?, category?}` → `{ok, id, verified,
//!   nonce, wellKnown}`. Idempotent on `url` (one listing per URL, updated
//!   in place), rate limited per client ([`DirectoryConfig::per_hour`], 10
//!   as l402kit's; 429 past it), at most [`DirectoryConfig::max_listings`]
//!   listings (503 `directory_full` for a new URL past it).
//! - **Verification**: the server issues each listing a nonce (in the
//!   answer; derived from a random seed kept with the listing and the
//!   payout address); the listing is `verified` once the URL's host serves a
//!   body containing it at `/.well-known/l402.txt` when the URL is
//!   registered (again). The producer fetches it itself: one GET, no
//!   redirects, no proxy, [`DirectoryConfig::timeout`], at most
//!   [`MAX_PROOF_BYTES`] read, private addresses refused unless
//!   [`DirectoryConfig::allow_private_targets`]. The nonce changes when the
//!   `lightning_address` does, and a verified listing is changed only by a
//!   registration that verifies again (409 `verification_required`
//!   otherwise, with the nonce to serve): no one can re-point someone
//!   else's listing to their own address.
//! - `GET /api/apis.json` → `{version:"1", count, apis:[{url, name,
//!   description, price_sats, category, created_at, verified}]}`, the
//!   newest 100, of one category with `?category=`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::response::Response;
use http::StatusCode;
use l402_store::{Listing, Upserted};
use serde_json::{Value, json};

use crate::decode::Fields;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use crate::webhooks::target::{self, check_url};
use crate::{Shared, json, read_body, store_unavailable};

/// The categories, as l402kit's.
pub const CATEGORIES: [&str; 7] = [
    "data", "ai", "finance", "weather", "compute", "storage", "other",
];
/// The most bytes of `/.well-known/l402.txt` read.
pub const MAX_PROOF_BYTES: usize = 4096;
/// Listings `GET /api/apis.json` returns.
const LIST_LIMIT: u32 = 100;

/// The directory's settings ([`ProducerBuilder::directory`](crate::ProducerBuilder::directory)).
///
/// ```
/// use std::time::Duration;
/// use l402_producer::DirectoryConfig;
/// let config = DirectoryConfig::default().per_hour(5).timeout(Duration::from_secs(3));
/// assert_eq!(config.registrations_per_hour(), 5);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DirectoryConfig {
    per_hour: u32,
    max_listings: u32,
    timeout: Duration,
    allow_private: bool,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            per_hour: 10,
            max_listings: 10_000,
            timeout: Duration::from_secs(5),
            allow_private: false,
        }
    }
}

impl DirectoryConfig {
    /// Registrations per client per hour (default 10; 0 turns the limit off).
    pub fn per_hour(mut self, n: u32) -> Self {
        self.per_hour = n;
        self
    }

    /// The registrations allowed per client per hour.
    pub fn registrations_per_hour(&self) -> u32 {
        self.per_hour
    }

    /// The most listings held (default 10,000).
    pub fn max_listings(mut self, n: u32) -> Self {
        self.max_listings = n.max(1);
        self
    }

    /// How long fetching `/.well-known/l402.txt` may take (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(100));
        self
    }

    /// Allows listings on private, loopback and link-local hosts (default:
    /// refused, as the producer fetches from them; for tests and closed
    /// networks).
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }
}

/// The directory's state in the producer.
pub(crate) struct Directory {
    config: DirectoryConfig,
    client: reqwest::Client,
    limiter: RateLimiter,
}

impl Directory {
    pub(crate) fn new(config: DirectoryConfig, max_clients: usize) -> Directory {
        Directory {
            client: target::client(config.timeout, config.allow_private),
            limiter: RateLimiter::per_window(
                config.per_hour,
                Duration::from_secs(3600),
                max_clients,
            ),
            config,
        }
    }

    /// Whether `url`'s host serves `nonce` at `/.well-known/l402.txt`.
    async fn proves(&self, url: &reqwest::Url, nonce: &str) -> bool {
        let mut proof = url.clone();
        proof.set_path("/.well-known/l402.txt");
        proof.set_query(None);
        proof.set_fragment(None);
        let Ok(mut response) = self.client.get(proof).send().await else {
            return false;
        };
        if !response.status().is_success() {
            return false;
        }
        let mut body: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = MAX_PROOF_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_PROOF_BYTES {
                break;
            }
        }
        String::from_utf8_lossy(&body).contains(nonce)
    }
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut b = vec![0u8; bytes];
    getrandom::getrandom(&mut b)
        .map_err(|e| store_unavailable(&l402_store::StoreError::Random(e.to_string())))?;
    Ok(hex::encode(b))
}

/// The nonce a listing's host serves: `l402-` and 32 hex digits of
/// `sha256(seed, "\n", address)`.
fn nonce_of(seed: &str, address: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(seed.as_bytes())
        .chain_update(b"\n")
        .chain_update(address.as_bytes())
        .finalize();
    format!("l402-{}", &hex::encode(digest)[..32])
}

/// `user@domain.tld`, lower-case letters, digits and `-_.+` in the user part.
fn valid_address(address: &str) -> bool {
    let Some((user, domain)) = address.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
}

fn listing_json(l: &Listing) -> Value {
    json!({
        "url": l.url,
        "name": l.name,
        "description": l.description,
        "price_sats": l.price_sats,
        "category": l.category,
        "created_at": l402_server::rfc3339(l.created_at),
        "verified": l.verified,
    })
}

/// `POST /api/register`.
pub(crate) async fn register(
    State(inner): State<Shared>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let directory = &inner.directory;
    inner.limit_by(&directory.limiter, &parts.headers, peer)?;
    let body = read_body(body).await?;
    let fields = Fields::parse(
        &body,
        &[
            "url",
            "name",
            "price_sats",
            "lightning_address",
            "description",
            "category",
        ],
    )?;
    let url_text = fields.string("url", target::MAX_URL_CHARS)?;
    let url = check_url(url_text, directory.config.allow_private)
        .map_err(|e| ApiError::field("invalid_url", "url", e.message("url")))?;
    let name = fields.string("name", 100)?.trim().to_owned();
    if name.chars().count() < 2 {
        return Err(ApiError::field(
            "invalid_field",
            "name",
            "name must be 2 to 100 characters",
        ));
    }
    let price = fields.integer("price_sats", 1, inner.max_price_sats)?;
    let address = fields
        .string("lightning_address", 320)?
        .trim()
        .to_ascii_lowercase();
    if !valid_address(&address) {
        return Err(ApiError::field(
            "invalid_field",
            "lightning_address",
            "lightning_address must be a Lightning Address (user@domain.tld)",
        ));
    }
    let description = fields
        .opt_string("description", 500)?
        .map(|d| d.trim().to_owned());
    let category = fields.opt_string("category", 16)?.unwrap_or("other");
    if !CATEGORIES.contains(&category) {
        return Err(ApiError::field(
            "invalid_field",
            "category",
            format!("category must be one of {}", CATEGORIES.join(", ")),
        ));
    }
    let url_text = url.to_string();
    let existing = inner
        .store
        .listing_by_url(&url_text)
        .await
        .map_err(|e| store_unavailable(&e))?;
    // The listing keeps a random seed (stored, never shown); the nonce is
    // derived from it and the payout address, so it stays while the
    // address does and differs for another one.
    let (id, seed, created_at) = match &existing {
        Some(l) => (l.id.clone(), l.nonce.clone(), l.created_at),
        None => (
            format!("api_{}", random_hex(8)?),
            random_hex(16)?,
            l402_server::unix_now(),
        ),
    };
    let nonce = nonce_of(&seed, &address);
    // A new listing's host cannot serve a nonce it has not been told yet.
    let verified = existing.is_some() && directory.proves(&url, &nonce).await;
    let well_known = format!(
        "{}://{}/.well-known/l402.txt",
        url.scheme(),
        url.host_str().map_or(String::new(), |h| match url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        })
    );
    if existing.as_ref().is_some_and(|l| l.verified) && !verified {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "verification_required",
            format!(
                "this URL's listing is verified; to change it, serve {nonce} at {well_known} and register again"
            ),
        );
        e.field = Some("url".to_owned());
        return Err(e);
    }
    let listing = Listing {
        id,
        url: url_text,
        name,
        description,
        price_sats: price,
        category: category.to_owned(),
        lightning_address: address,
        nonce: seed,
        verified,
        created_at,
        updated_at: l402_server::unix_now(),
    };
    let stored = match inner
        .store
        .upsert_listing(&listing, directory.config.max_listings)
        .await
        .map_err(|e| store_unavailable(&e))?
    {
        Upserted::Stored(l) => l,
        Upserted::Full => {
            return Err(ApiError::unavailable(
                "directory_full",
                "the directory holds as many listings as it may",
            ));
        }
    };
    Ok(json(
        StatusCode::OK,
        json!({
            "ok": true,
            "id": stored.id,
            "verified": stored.verified,
            "nonce": nonce,
            "wellKnown": well_known,
        }),
    ))
}

/// `GET /api/apis.json?category=`.
pub(crate) async fn list(
    State(inner): State<Shared>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut category: Option<&str> = None;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("category", "")) => {}
            Some(("category", c)) => {
                category = Some(
                    CATEGORIES
                        .iter()
                        .copied()
                        .find(|k| *k == c)
                        .ok_or_else(|| {
                            ApiError::field(
                                "invalid_field",
                                "category",
                                format!("category must be one of {}", CATEGORIES.join(", ")),
                            )
                        })?,
                );
            }
            _ => {
                return Err(ApiError::field(
                    "unknown_parameter",
                    "(query)",
                    "the only query parameter is category",
                ));
            }
        }
    }
    let listings = inner
        .store
        .listings(category, LIST_LIMIT)
        .await
        .map_err(|e| store_unavailable(&e))?;
    let apis: Vec<Value> = listings.iter().map(listing_json).collect();
    let mut response = json(
        StatusCode::OK,
        json!({"version": "1", "count": apis.len(), "apis": apis}),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lightning_addresses() {
        for ok in ["alice@example.com", "a.b+c@pay.example.co.uk", "x_1@d-1.io"] {
            assert!(super::valid_address(ok), "{ok}");
        }
        for bad in [
            "alice",
            "@example.com",
            "alice@example",
            "al ice@example.com",
            "a@.com",
            "a@b.com.",
        ] {
            assert!(!super::valid_address(bad), "{bad}");
        }
    }
}

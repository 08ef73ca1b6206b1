//! LNURL-auth (LUD-04) and sessions: the dashboard login of l402kit's
//! `GET /api/lnurl-auth`, done properly.
//!
//! - `GET /api/lnurl-auth` issues a single-use 32-byte `k1` (hex) living
//!   [`IdentityConfig::k1_ttl`], and the bech32 `lnurl1…` of
//!   `<public url>/api/lnurl-auth?tag=login&k1=<k1>&action=login`. At most
//!   [`IdentityConfig::max_pending`] live `k1`s are held (503 `too_many_pending`;
//!   one statement counts and inserts: exact on SQLite's single writer, on
//!   PostgreSQL concurrent requests may pass the bound by their number).
//! - The wallet's callback (`k1`, `sig`, `key`) is accepted only if `sig` is a
//!   DER ECDSA signature over the raw 32 bytes of `k1` by the 33-byte
//!   compressed `key` (secp256k1), and the `k1` is live and unused; the answer
//!   is LUD-04's `{"status":"OK"}` or `{"status":"ERROR","reason"}` (with
//!   `code` and `message`).
//! - `GET /api/lnurl-auth?poll=<k1>` answers `{verified:false, token:null}`
//!   until then, then once `{verified:true, token, expiresAt, key}`: a session
//!   of that linking key (only `sha256(token)` is stored; at most
//!   [`IdentityConfig::max_sessions_per_key`] per key). The `k1` is deleted.
//! - `DELETE /api/session` revokes the presented session.
//!
//! A linking key acts for the merchant the admin API links it to
//! (`POST /api/admin/merchants/{id}/linking-keys`); its session is then
//! accepted wherever an `X-API-Key` is, as `Authorization: Bearer l402s_…`.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, ecdsa::Signature};
use http::{HeaderMap, StatusCode};
use l402_store::{K1Accepted, K1Issued, K1Poll, SESSION_TOKEN_PREFIX, Session};
use serde_json::json;

use crate::error::ApiError;
use crate::{Shared, json, store_unavailable};

/// The settings of LNURL-auth and sessions
/// ([`ProducerBuilder::identity`](crate::ProducerBuilder::identity)).
///
/// ```
/// use std::time::Duration;
/// use l402_producer::IdentityConfig;
/// let config = IdentityConfig::default()
///     .public_url("https://pay.example.com")
///     .k1_ttl(Duration::from_secs(120));
/// assert_eq!(config.max_pending_k1(), 10_000);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct IdentityConfig {
    pub(crate) public_url: Option<String>,
    pub(crate) k1_ttl: Duration,
    pub(crate) max_pending: u32,
    pub(crate) session_ttl: Duration,
    pub(crate) max_sessions_per_key: u32,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            public_url: None,
            k1_ttl: Duration::from_secs(300),
            max_pending: 10_000,
            session_ttl: Duration::from_secs(24 * 3600),
            max_sessions_per_key: 10,
        }
    }
}

impl IdentityConfig {
    /// The server's public base URL (`https://host[:port]`), which the
    /// `lnurl1…` callback is built on; the wallet derives its linking key
    /// from its host. Without it, the request's `Host` header is used over
    /// `http` (fine for local use only).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url =
            Some(url.into().trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
        self
    }

    /// How long a `k1` may be signed and polled (default 5 minutes).
    pub fn k1_ttl(mut self, ttl: Duration) -> Self {
        self.k1_ttl = ttl;
        self
    }

    /// The most live `k1`s held at once (default 10,000).
    pub fn max_pending(mut self, n: u32) -> Self {
        self.max_pending = n.max(1);
        self
    }

    /// The bound on live `k1`s.
    pub fn max_pending_k1(&self) -> u32 {
        self.max_pending
    }

    /// How long a session lasts (default 24 hours).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The most sessions of one linking key; a new one replaces the oldest
    /// (default 10).
    pub fn max_sessions_per_key(mut self, n: u32) -> Self {
        self.max_sessions_per_key = n.max(1);
        self
    }
}

/// The query parameters, as given (values are hex: nothing to decode; a
/// parameter twice is refused).
fn params(query: Option<&str>) -> Result<Vec<(&str, &str)>, ApiError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(ApiError::field(
                "duplicate_parameter",
                k,
                format!("{k} is given more than once"),
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn get<'a>(params: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// A hex parameter of exactly `bytes` bytes (or at most `bytes` with `max`).
fn hex_param(
    value: Option<&str>,
    name: &str,
    bytes: usize,
    exact: bool,
) -> Result<Vec<u8>, ApiError> {
    let bad = || {
        ApiError::field(
            "invalid_field",
            name,
            if exact {
                format!("{name} must be {bytes} bytes of hex")
            } else {
                format!("{name} must be at most {bytes} bytes of hex")
            },
        )
    };
    let value = value
        .ok_or_else(|| ApiError::field("missing_field", name, format!("{name} is required")))?;
    if value.len() > bytes * 2 || (exact && value.len() != bytes * 2) {
        return Err(bad());
    }
    hex::decode(value).map_err(|_| bad())
}

fn lud04_error(status: StatusCode, code: &'static str, reason: &str) -> Response {
    json(
        status,
        json!({"status": "ERROR", "reason": reason, "code": code, "message": reason}),
    )
}

/// A linking key as given by a wallet or an operator: a 33-byte compressed
/// secp256k1 public key in hex, returned in lowercase; `None` if it is not one.
///
/// ```
/// let key = "02".to_owned() + &"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"[..];
/// assert_eq!(l402_producer::parse_linking_key(&key.to_uppercase()), Some(key));
/// assert_eq!(l402_producer::parse_linking_key("02ff"), None);
/// assert_eq!(l402_producer::parse_linking_key(&format!("05{}", &"11".repeat(32))), None);
/// ```
pub fn parse_linking_key(text: &str) -> Option<String> {
    let key = text.trim().to_ascii_lowercase();
    let bytes = hex::decode(&key).ok()?;
    (bytes.len() == 33 && matches!(bytes[0], 2 | 3) && PublicKey::from_slice(&bytes).is_ok())
        .then_some(key)
}

/// Whether `sig` (DER) signs the raw 32 bytes of `k1` for the compressed `key`.
pub(crate) fn verify_k1(k1: &[u8; 32], sig_der: &[u8], key: &[u8]) -> Result<(), &'static str> {
    if key.len() != 33 || !matches!(key[0], 2 | 3) {
        return Err("key must be a 33-byte compressed public key");
    }
    let key = PublicKey::from_slice(key).map_err(|_| "key is not a public key")?;
    let mut sig = Signature::from_der(sig_der).map_err(|_| "sig is not a DER ECDSA signature")?;
    // Some wallets sign with a high S; libsecp256k1 accepts only low S.
    sig.normalize_s();
    let msg = Message::from_digest(*k1);
    Secp256k1::verification_only()
        .verify_ecdsa(&msg, &sig, &key)
        .map_err(|_| "the signature does not verify for this key and k1")
}

fn base_url(inner: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = &inner.identity.public_url {
        return Ok(url.clone());
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()) && !h.contains('/'))
        .ok_or_else(|| {
            ApiError::field(
                "missing_host",
                "Host",
                "no public URL is configured and the request has no usable Host header",
            )
        })?;
    Ok(format!("http://{host}"))
}

/// `GET /api/lnurl-auth`: issue, wallet callback, or poll.
pub(crate) async fn lnurl_auth(
    State(inner): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(query.as_deref())?;
    if let Some(k1) = get(&params, "poll") {
        return poll(&inner, k1).await;
    }
    if get(&params, "sig").is_some() || get(&params, "key").is_some() {
        return Ok(callback(&inner, &params).await);
    }
    issue(&inner, &headers).await
}

async fn issue(inner: &Shared, headers: &HeaderMap) -> Result<Response, ApiError> {
    let base = base_url(inner, headers)?;
    let mut k1 = [0u8; 32];
    getrandom::getrandom(&mut k1).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_randomness",
            "no randomness",
        )
    })?;
    let k1 = hex::encode(k1);
    let ttl_ms = u64::try_from(inner.identity.k1_ttl.as_millis()).unwrap_or(u64::MAX);
    let expires_at_ms = crate::now_ms().saturating_add(ttl_ms);
    match inner
        .store
        .issue_k1(&k1, expires_at_ms, inner.identity.max_pending)
        .await
        .map_err(|e| store_unavailable(&e))?
    {
        K1Issued::Stored => {}
        K1Issued::Full => {
            return Err(ApiError::unavailable(
                "too_many_pending",
                "too many logins are pending; try again shortly",
            ));
        }
    }
    let callback = format!("{base}/api/lnurl-auth?tag=login&k1={k1}&action=login");
    let lnurl = bitcoin::bech32::encode::<bitcoin::bech32::Bech32>(
        bitcoin::bech32::Hrp::parse_unchecked("lnurl"),
        callback.as_bytes(),
    )
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "public_url_too_long",
            "the public URL is too long for an lnurl",
        )
    })?;
    Ok(json(
        StatusCode::OK,
        json!({
            "k1": k1,
            "lnurl": lnurl,
            "callback": callback,
            "expiresAt": l402_server::rfc3339(expires_at_ms / 1000),
        }),
    ))
}

async fn callback(inner: &Shared, params: &[(&str, &str)]) -> Response {
    let parsed = (|| {
        let k1 = hex_param(get(params, "k1"), "k1", 32, true)?;
        let sig = hex_param(get(params, "sig"), "sig", 73, false)?;
        let key = hex_param(get(params, "key"), "key", 33, true)?;
        Ok::<_, ApiError>((k1, sig, key))
    })();
    let (k1, sig, key) = match parsed {
        Ok(v) => v,
        Err(e) => return lud04_error(StatusCode::BAD_REQUEST, e.code, &e.message),
    };
    let mut k1_bytes = [0u8; 32];
    k1_bytes.copy_from_slice(&k1);
    if let Err(reason) = verify_k1(&k1_bytes, &sig, &key) {
        tracing::info!("lnurl-auth: a callback's signature was refused");
        return lud04_error(StatusCode::BAD_REQUEST, "bad_signature", reason);
    }
    let (k1, key) = (hex::encode(k1), hex::encode(key));
    match inner.store.accept_k1(&k1, &key).await {
        Ok(K1Accepted::Accepted) => json(StatusCode::OK, json!({"status": "OK"})),
        Ok(K1Accepted::Unknown) => lud04_error(
            StatusCode::BAD_REQUEST,
            "unknown_k1",
            "this k1 was not issued here, or was used",
        ),
        Ok(K1Accepted::Expired) => {
            lud04_error(StatusCode::BAD_REQUEST, "expired_k1", "this k1 has expired")
        }
        Ok(K1Accepted::Used) => lud04_error(
            StatusCode::BAD_REQUEST,
            "used_k1",
            "this k1 was already used",
        ),
        Err(e) => {
            let e = store_unavailable(&e);
            lud04_error(e.status, e.code, &e.message)
        }
    }
}

async fn poll(inner: &Shared, k1: &str) -> Result<Response, ApiError> {
    let k1 = hex::encode(hex_param(Some(k1), "poll", 32, true)?);
    match inner
        .store
        .poll_k1(&k1)
        .await
        .map_err(|e| store_unavailable(&e))?
    {
        K1Poll::Pending => Ok(json(
            StatusCode::OK,
            json!({"verified": false, "token": null}),
        )),
        K1Poll::Unknown => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_k1",
            "no pending login with this k1 (never issued, expired, or already polled)",
        )),
        K1Poll::Verified(key) => {
            let session = inner
                .store
                .create_session(
                    &key,
                    inner.identity.session_ttl.as_secs(),
                    inner.identity.max_sessions_per_key,
                )
                .await
                .map_err(|e| store_unavailable(&e))?;
            Ok(json(
                StatusCode::OK,
                json!({
                    "verified": true,
                    "token": session.token,
                    "key": key,
                    "expiresAt": l402_server::rfc3339(session.expires_at),
                }),
            ))
        }
    }
}

/// The session token of `Authorization: Bearer l402s_…`, if one is presented.
pub(crate) fn presented_session(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(SESSION_TOKEN_PREFIX))
}

/// The live session a presented token authenticates, or 401.
pub(crate) async fn session(inner: &Shared, token: &str) -> Result<Session, ApiError> {
    inner
        .store
        .session(token)
        .await
        .map_err(|e| store_unavailable(&e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_session",
                "the session is unknown, expired or revoked",
            )
            .field_named("Authorization")
        })
}

/// `DELETE /api/session`: revokes the presented session.
pub(crate) async fn revoke(
    State(inner): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = presented_session(&headers).ok_or_else(|| {
        ApiError::unauthorized("missing session (Authorization: Bearer l402s_…)")
            .field_named("Authorization")
    })?;
    session(&inner, token).await?;
    inner
        .store
        .revoke_session(token)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(json(StatusCode::OK, json!({"revoked": true})))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::SecretKey;

    #[test]
    fn signatures_verify_only_for_their_key_and_k1() {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[7; 32]).unwrap();
        let pk = PublicKey::from_secret_key(&secp, &sk).serialize();
        let k1 = [9u8; 32];
        let sig = secp
            .sign_ecdsa(&Message::from_digest(k1), &sk)
            .serialize_der();
        assert!(verify_k1(&k1, &sig, &pk).is_ok());
        assert!(verify_k1(&[8; 32], &sig, &pk).is_err());
        let other = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[6; 32]).unwrap());
        assert!(verify_k1(&k1, &sig, &other.serialize()).is_err());
        assert!(verify_k1(&k1, &sig, &[2; 33]).is_err());
        assert!(verify_k1(&k1, &sig[..10], &pk).is_err());
        let uncompressed = PublicKey::from_secret_key(&secp, &sk).serialize_uncompressed();
        assert!(verify_k1(&k1, &sig, &uncompressed).is_err());
    }

    #[test]
    fn params_refuse_duplicates_and_never_panic() {
        assert!(params(Some("k1=a&k1=b")).is_err());
        assert_eq!(params(Some("a&b=c")).unwrap(), vec![("a", ""), ("b", "c")]);
        assert!(params(None).unwrap().is_empty());
        assert!(hex_param(Some("zz"), "k1", 32, true).is_err());
        assert!(hex_param(Some(&"ab".repeat(74)), "sig", 73, false).is_err());
    }
}

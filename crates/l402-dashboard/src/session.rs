//! Dashboard sessions: a random 32-byte id in an `HttpOnly; SameSite=Strict;
//! Path=/dashboard` cookie, kept here only as its SHA-256, expiring, at
//! most [`MAX_SESSIONS`] at a time. Each session's CSRF token, which every
//! state-changing form carries (compared in constant time), is derived, not
//! stored: HMAC-SHA256 of the session id under the dashboard's secret
//! ([`csrf_token`]), so any instance holding the secret checks it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "l402_dashboard";
/// The pre-sign-in cookie holding the sign-in form's CSRF token.
pub const LOGIN_COOKIE: &str = "l402_dashboard_login";
/// The most sessions kept at once (the oldest is dropped past it).
pub const MAX_SESSIONS: usize = 10_000;
/// How long a session lasts by default.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Who a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The merchant shown.
    pub(crate) merchant_id: i64,
    /// Signed in with the admin token: may switch merchants.
    pub(crate) admin: bool,
    /// The CSRF token of this session's forms ([`csrf_token`]).
    pub(crate) csrf: String,
}

/// What the table keeps of a session (no secret: the id only as its key's
/// SHA-256, the CSRF token not at all).
#[derive(Debug, Clone)]
struct Entry {
    merchant_id: i64,
    admin: bool,
    expires: Instant,
    created: Instant,
}

/// The bounded session table.
pub(crate) struct Sessions {
    ttl: Duration,
    max: usize,
    secret: [u8; 32],
    table: Mutex<HashMap<[u8; 32], Entry>>,
}

/// The CSRF token of session `id`: HMAC-SHA256 of the id under `secret`,
/// hex. Nothing secret is stored for it; an instance with the same secret
/// derives the same token.
pub fn csrf_token(secret: &[u8; 32], id: &str) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(b"l402-dashboard-csrf:");
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// A random secret for this process's CSRF tokens (the builder's default).
pub(crate) fn random_secret() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No system randomness: a secret no client sees still keys the
        // tokens (a token also needs the HttpOnly session id).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = Sha256::digest(format!("{nanos}:{}", std::process::id())).into();
    }
    bytes
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The value of cookie `name` in the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether two secrets are equal, in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    pub(crate) fn new(ttl: Duration, max: usize, secret: [u8; 32]) -> Self {
        Self {
            ttl,
            max: max.max(1),
            secret,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session; returns its id (for the cookie) and CSRF token.
    pub(crate) fn start(&self, merchant_id: i64, admin: bool) -> Option<(String, String)> {
        let id = random_hex()?;
        let csrf = csrf_token(&self.secret, &id);
        let now = Instant::now();
        let mut table = self.lock();
        table.retain(|_, s| s.expires > now);
        while table.len() >= self.max {
            let oldest = table
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| *k)?;
            table.remove(&oldest);
        }
        table.insert(
            digest(&id),
            Entry {
                merchant_id,
                admin,
                expires: now + self.ttl,
                created: now,
            },
        );
        Some((id, csrf))
    }

    /// The live session of the request's cookie.
    pub(crate) fn of(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE)?;
        let key = digest(id);
        let mut table = self.lock();
        match table.get(&key) {
            Some(s) if s.expires > Instant::now() => Some((
                id.to_owned(),
                Session {
                    merchant_id: s.merchant_id,
                    admin: s.admin,
                    csrf: csrf_token(&self.secret, id),
                },
            )),
            Some(_) => {
                table.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Shows another merchant in an admin's session.
    pub(crate) fn switch(&self, id: &str, merchant_id: i64) {
        if let Some(s) = self.lock().get_mut(&digest(id)) {
            s.merchant_id = merchant_id;
        }
    }

    /// Ends a session.
    pub(crate) fn end(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// How many sessions are kept.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The `Set-Cookie` value starting a session.
    pub(crate) fn set_cookie(&self, id: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/dashboard; Max-Age={}{secure}",
            self.ttl.as_secs()
        )
    }
}

/// The `Set-Cookie` value clearing the session cookie.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/dashboard; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, cookie.parse().unwrap());
        h
    }

    #[test]
    fn the_table_is_bounded_and_drops_the_oldest() {
        let sessions = Sessions::new(DEFAULT_SESSION_TTL, 3, [1; 32]);
        let ids: Vec<String> = (0..5)
            .map(|i| sessions.start(i, false).unwrap().0)
            .collect();
        assert_eq!(sessions.len(), 3);
        assert!(
            sessions
                .of(&headers(&format!("{COOKIE}={}", ids[0])))
                .is_none()
        );
        let (_, s) = sessions
            .of(&headers(&format!("a=b; {COOKIE}={}", ids[4])))
            .unwrap();
        assert_eq!(s.merchant_id, 4);
    }

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::new(Duration::from_millis(1), 10, [1; 32]);
        let (id, _) = sessions.start(1, true).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(sessions.of(&headers(&format!("{COOKIE}={id}"))).is_none());
        let sessions = Sessions::new(DEFAULT_SESSION_TTL, 10, [1; 32]);
        let (id, _) = sessions.start(1, true).unwrap();
        sessions.end(&id);
        assert!(sessions.of(&headers(&format!("{COOKIE}={id}"))).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped() {
        let sessions = Sessions::new(DEFAULT_SESSION_TTL, 10, [1; 32]);
        let c = sessions.set_cookie("abc", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(c.contains("Path=/dashboard"));
    }

    #[test]
    fn the_csrf_token_is_derived_from_the_id_and_the_secret() {
        let one = Sessions::new(DEFAULT_SESSION_TTL, 10, [1; 32]);
        let (id, csrf) = one.start(7, false).unwrap();
        let (_, s) = one.of(&headers(&format!("{COOKIE}={id}"))).unwrap();
        assert_eq!(s.csrf, csrf);
        // Another instance with the same secret derives the same token; a
        // different secret or session id does not.
        assert_eq!(csrf_token(&[1; 32], &id), csrf);
        assert_ne!(csrf_token(&[2; 32], &id), csrf);
        let (other, _) = one.start(7, false).unwrap();
        assert_ne!(csrf_token(&[1; 32], &other), csrf);
        assert_eq!(csrf.len(), 64);
    }
}

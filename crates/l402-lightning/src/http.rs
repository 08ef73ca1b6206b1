//! What the HTTP backends share: building the client, telling whether a
//! failed request may have been sent, reading an answer within a bound, and
//! quoting an unreadable one.

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::{Backend, BackendError, TransportError};

/// The client builder every HTTP backend starts from: `timeout` to
/// connect, `headers` on every request, and no redirects (the credentials
/// would follow them, and a redirected payment would be ambiguous).
pub(crate) fn client_builder(timeout: Duration, headers: HeaderMap) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
}

/// The header carrying a credential, marked sensitive (kept out of hyper's
/// and reqwest's debug output); `None` if `secret` is not a header value.
#[cfg(any(feature = "lnd", feature = "cln"))]
pub(crate) fn secret_header(name: &'static str, secret: &str) -> Option<HeaderMap> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut value = HeaderValue::from_str(secret).ok()?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static(name), value);
    Some(headers)
}

/// Classifies a transport failure by whether the request may have been
/// sent: only a failure to connect proves it was not (hyper reports a
/// connect error only from the connector, TLS handshake included, before a
/// byte of the request is written). Everything else (a reset, a connection
/// closed before the whole answer, a timeout) may follow a request the node
/// acted on.
pub(crate) fn transport(backend: Backend, timeout: Duration, e: reqwest::Error) -> BackendError {
    if e.is_connect() {
        BackendError::Unreachable {
            backend,
            source: TransportError::new(e),
        }
    } else if e.is_timeout() {
        BackendError::Timeout {
            backend,
            after: timeout,
        }
    } else {
        BackendError::Interrupted {
            backend,
            source: TransportError::new(e),
        }
    }
}

/// The start of a body, for an error message (at most 200 bytes, lossy).
pub(crate) fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}

/// `BackendError::BadResponse` for `backend`.
pub(crate) fn bad(backend: Backend, reason: impl Into<String>) -> BackendError {
    BackendError::BadResponse {
        backend,
        reason: reason.into(),
    }
}

/// Checks that a base URL is absolute http(s) with a host; returns it
/// without a trailing slash.
pub(crate) fn base_url(url: &str) -> Option<String> {
    let base = url.trim().trim_end_matches('/').to_string();
    reqwest::Url::parse(&base)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .map(|_| base)
}

/// The largest answer body read (a node's answers are a few kB; a listing
/// can be larger, never this large).
pub(crate) const MAX_BODY_BYTES: usize = 4 << 20;

/// Reads a whole answer body, at most [`MAX_BODY_BYTES`]: a larger one is
/// [`BackendError::BadResponse`] (after a payment request: unknown), never an
/// unbounded allocation.
pub(crate) async fn read_body(
    backend: Backend,
    timeout: Duration,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, BackendError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(bad(backend, "answer larger than 4 MiB"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport(backend, timeout, e))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(bad(backend, "answer larger than 4 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long a node may keep routing a payment this client waits
/// `pay_timeout` for: 5 s less, at least 1 s, so the node gives up (and says
/// so) before the client stops waiting.
#[cfg(any(feature = "lnd", feature = "cln"))]
pub(crate) fn routing_budget(pay_timeout: Duration) -> Duration {
    pay_timeout
        .saturating_sub(Duration::from_secs(5))
        .max(Duration::from_secs(1))
}

/// A node's answer, read whole: its status and body, and how the node
/// words a refusal in it. (CLN's answers are JSON-RPC results and errors
/// instead: `cln::Reply`.)
#[cfg(any(feature = "lnd", feature = "phoenixd"))]
pub(crate) struct Answer {
    pub(crate) backend: Backend,
    pub(crate) status: reqwest::StatusCode,
    pub(crate) body: Vec<u8>,
    /// The node's own words for a refusal, from the body.
    pub(crate) words: fn(&[u8]) -> String,
}

#[cfg(any(feature = "lnd", feature = "phoenixd"))]
impl Answer {
    /// The body as `T`; otherwise `BadResponse` naming `what`, the status
    /// and the start of the body.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
    ) -> Result<T, BackendError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            bad(
                self.backend,
                format!(
                    "{what}: {e} (HTTP {}: {:?})",
                    self.status,
                    snippet(&self.body)
                ),
            )
        })
    }

    /// Why the node refused, in its words.
    pub(crate) fn detail(&self) -> String {
        (self.words)(&self.body)
    }

    /// `BackendError::Rejected`: the node refused the call.
    pub(crate) fn rejected(&self) -> BackendError {
        BackendError::Rejected {
            backend: self.backend,
            status: self.status.as_u16(),
            detail: self.detail(),
        }
    }
}

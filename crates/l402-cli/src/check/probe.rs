//! The checker's own requests: plain HTTP, no payment, bodies bounded.

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue, ORIGIN};
use reqwest::{Method, Url};

use super::challenge::Answer;

/// The most of a body the checker reads (a challenge body is small).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The `Origin` sent with every probe, so that servers that answer CORS
/// only to cross-origin requests show their CORS headers.
pub const PROBE_ORIGIN: &str = "https://l402-check.invalid";

/// How to send the probes.
#[derive(Debug, Clone)]
pub struct Prober {
    /// The HTTP client (no redirects, a timeout).
    pub http: reqwest::Client,
    /// The method.
    pub method: Method,
    /// Extra headers (`-H`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Prober {
    /// Sends one request to `url`, with `authorization` if given.
    ///
    /// # Errors
    /// The transport's error (connection, timeout, an unreadable body).
    pub async fn send(&self, url: &Url, authorization: Option<&str>) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .request(self.method.clone(), url.clone())
            .header(ORIGIN, PROBE_ORIGIN);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(auth) = authorization {
            let mut value = HeaderValue::from_str(auth)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let mut response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_BODY_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_BODY_BYTES {
                break;
            }
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// A credential that is not one: `L402 <base64 of a sentence>:<zeros>`.
pub const GARBAGE_CREDENTIAL: &str = "L402 bm90IGEgbWFjYXJvb24gYXQgYWxs:\
     0000000000000000000000000000000000000000000000000000000000000000";

//! Sending one HTTP request and reading its answer, bounded in size.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};

use crate::error::{FetchError, Refusal};
use crate::request::Parts;
use crate::response::{Response, TokenUse};

/// Sending or reading failed.
pub(crate) enum HttpError {
    Http(reqwest::Error),
    TooLarge(usize),
}

impl HttpError {
    /// The error when no money has moved yet.
    pub(crate) fn before_payment(self) -> FetchError {
        match self {
            HttpError::Http(e) => FetchError::Network(e),
            HttpError::TooLarge(limit) => FetchError::BodyTooLarge {
                limit,
                receipt: None,
            },
        }
    }
}

/// An answer, read whole.
pub(crate) struct Sent {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    /// The URL that answered: the one requested, unless a caller-supplied
    /// reqwest client followed a redirect on its own.
    pub(crate) url: Url,
}

impl Sent {
    /// Refuses an answer a caller-supplied reqwest client reached by
    /// following a redirect on its own (before any payment).
    pub(crate) fn reached(self, requested: &Url) -> Result<Sent, FetchError> {
        if &self.url != requested {
            return Err(Refusal::RedirectedByHttpClient {
                requested: requested.to_string(),
                reached: self.url.to_string(),
            }
            .into());
        }
        Ok(self)
    }

    pub(crate) fn into_response(self, url: &Url, token: TokenUse) -> Response {
        Response {
            status: self.status,
            headers: self.headers,
            body: self.body,
            url: url.clone(),
            token,
            receipt: None,
            quote: None,
            would_pay: false,
            refused_token: None,
        }
    }

    /// The start of the body, for error messages.
    pub(crate) fn body_start(&self) -> String {
        let end = self.body.len().min(512);
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

/// Whether the server refused a credential (401 or 402).
pub(crate) fn is_refusal(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 402)
}

/// Sends `req` with an `Authorization` header if given; reads at most
/// `max_body_bytes` of the answer.
pub(crate) async fn send(
    http: &reqwest::Client,
    req: &Parts,
    authorization: Option<&str>,
    max_body_bytes: usize,
) -> Result<Sent, HttpError> {
    let mut headers = req.headers.clone();
    if let Some(value) = authorization.and_then(|a| HeaderValue::from_str(a).ok()) {
        headers.insert(AUTHORIZATION, value);
    }
    let mut builder = http
        .request(req.method.clone(), req.url.clone())
        .headers(headers);
    if let Some(body) = &req.body {
        builder = builder.body(body.clone());
    }
    let mut response = builder.send().await.map_err(HttpError::Http)?;
    let status = response.status();
    let headers = response.headers().clone();
    let url = response.url().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(HttpError::Http)? {
        if body.len().saturating_add(chunk.len()) > max_body_bytes {
            return Err(HttpError::TooLarge(max_body_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Sent {
        status,
        headers,
        body,
        url,
    })
}

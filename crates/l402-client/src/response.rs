//! The server's answer, as the paying client returns it.

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};

use crate::receipt::{Quote, Receipt};

/// How the request was authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    /// No token was sent (free resource, or a quote).
    None,
    /// A stored token was reused; nothing was paid.
    Cached,
    /// A payment was made by this request.
    Paid,
    /// A token from an earlier interrupted payment was recovered.
    Recovered,
}

/// The server's answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The URL requested.
    pub url: Url,
    /// How the request was authorized.
    pub token: TokenUse,
    /// The payment, when this request paid or recovered one.
    pub receipt: Option<Receipt>,
    /// The price asked, when the answer is a 402 that was not paid (auto-pay
    /// off, or dry run).
    pub quote: Option<Quote>,
    /// In a dry run: every check passed and the payment would have been made.
    pub would_pay: bool,
}

impl Response {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL requested.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// If it is not JSON of that shape.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

//! The server's answer, as the paying client returns it.

use l402::PaymentHash;
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};

use crate::challenge::TokenKind;
use crate::receipt::{Quote, Receipt};

/// A stored token the server refused during a request (single-use tokens,
/// revoked ones): it was dropped from the store, and the request went on
/// as if there had been none (at most one payment, within every limit).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefusedToken {
    /// The server's answer to it (401 or 402).
    pub status: u16,
    /// Its payment hash.
    #[serde(serialize_with = "crate::receipt::display")]
    pub payment_hash: PaymentHash,
    /// Its kind.
    pub kind: TokenKind,
}

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

/// The server's answer, read whole (at most
/// [`ClientBuilder::max_body_bytes`](crate::ClientBuilder::max_body_bytes)),
/// with what the paying client did for it.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) url: Url,
    pub(crate) token: TokenUse,
    pub(crate) receipt: Option<Receipt>,
    pub(crate) quote: Option<Quote>,
    pub(crate) would_pay: bool,
    pub(crate) refused_token: Option<RefusedToken>,
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

    /// The URL that answered (after any redirects followed).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How the request was authorized.
    pub fn token(&self) -> TokenUse {
        self.token
    }

    /// The payment, when this request paid or recovered one.
    pub fn receipt(&self) -> Option<&Receipt> {
        self.receipt.as_ref()
    }

    /// The price asked, when the answer is a 402 that was not paid (auto-pay
    /// off, or dry run).
    pub fn quote(&self) -> Option<&Quote> {
        self.quote.as_ref()
    }

    /// In a dry run: every check passed and the payment would have been made.
    pub fn would_pay(&self) -> bool {
        self.would_pay
    }

    /// A stored token the server refused during this request, and that
    /// was dropped from the store (the request then bought a new one, or
    /// answered as it could).
    pub fn refused_token(&self) -> Option<&RefusedToken> {
        self.refused_token.as_ref()
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

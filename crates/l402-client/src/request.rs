//! Building a request: [`RequestBuilder`], as in reqwest.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::client::Client;
use crate::error::{FetchError, InvalidRequest};
use crate::response::Response;

/// What is sent: method, URL, headers and body.
#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Vec<u8>>,
}

/// A request being built; see [`Client::request`]. The first invalid
/// setting is kept and comes out of [`send`](Self::send); later settings do
/// nothing.
///
/// ```
/// use l402_client::{Client, FetchError};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = Client::builder().build().unwrap();
/// let err = client
///     .get("http://127.0.0.1:1/")
///     .header("bad header", "x")
///     .send()
///     .await
///     .unwrap_err();
/// assert!(matches!(err, FetchError::InvalidRequest(_)));
/// # }
/// ```
#[derive(Debug)]
#[must_use = "RequestBuilder does nothing until you 'send' it"]
pub struct RequestBuilder {
    client: Client,
    parts: Result<Parts, FetchError>,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: Result<Url, FetchError>) -> Self {
        RequestBuilder {
            client,
            parts: url.map(|url| Parts {
                method,
                url,
                headers: HeaderMap::new(),
                body: None,
            }),
        }
    }

    /// Adds a header: anything `HeaderName` and `HeaderValue` can be built
    /// from (`&str`, `String`, the `http` constants...).
    pub fn header<K, V>(mut self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        if let Ok(parts) = &mut self.parts {
            let header = HeaderName::try_from(key).map_err(Into::into).and_then(|k| {
                HeaderValue::try_from(value)
                    .map(|v| (k, v))
                    .map_err(Into::into)
            });
            match header {
                Ok((k, v)) => {
                    parts.headers.append(k, v);
                }
                Err(e) => self.parts = Err(FetchError::InvalidRequest(InvalidRequest::Header(e))),
            }
        }
        self
    }

    /// Adds headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        if let Ok(parts) = &mut self.parts {
            for (name, value) in &headers {
                parts.headers.append(name.clone(), value.clone());
            }
        }
        self
    }

    /// Sets the body (re-sent unchanged with the credential).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        if let Ok(parts) = &mut self.parts {
            parts.body = Some(body.into());
        }
        self
    }

    /// Sends it, paying if needed and allowed.
    ///
    /// # Errors
    /// [`FetchError`]; [`FetchError::money_moved`] says whether money moved.
    pub async fn send(self) -> Result<Response, FetchError> {
        self.client.execute(self.parts?).await
    }
}

//! [`IntoUrl`]: what [`Client::get`](crate::Client::get) and
//! [`Client::request`](crate::Client::request) accept, as in reqwest.

use reqwest::Url;

use crate::error::{FetchError, InvalidRequest};

/// A value that can be turned into an `http(s)` URL with a host: [`Url`],
/// `&str`, `String` and `&String`. Sealed: it cannot be implemented outside
/// this crate.
///
/// ```
/// use l402_client::IntoUrl;
/// fn takes(url: impl IntoUrl) {}
/// takes("http://127.0.0.1:8402/demo");
/// takes(String::from("https://example.com/"));
/// ```
pub trait IntoUrl: sealed::Sealed {}

impl IntoUrl for Url {}
impl IntoUrl for &str {}
impl IntoUrl for String {}
impl IntoUrl for &String {}

pub(crate) mod sealed {
    use super::*;

    pub trait Sealed {
        /// Parses and checks the URL.
        fn into_url(self) -> Result<Url, FetchError>;
    }

    impl Sealed for Url {
        fn into_url(self) -> Result<Url, FetchError> {
            if !matches!(self.scheme(), "http" | "https") || self.host().is_none() {
                return Err(FetchError::InvalidRequest(InvalidRequest::Url {
                    url: self.to_string(),
                    source: None,
                }));
            }
            Ok(self)
        }
    }

    impl Sealed for &str {
        fn into_url(self) -> Result<Url, FetchError> {
            Url::parse(self)
                .map_err(|e| {
                    FetchError::InvalidRequest(InvalidRequest::Url {
                        url: self.to_string(),
                        source: Some(e),
                    })
                })?
                .into_url()
        }
    }

    impl Sealed for String {
        fn into_url(self) -> Result<Url, FetchError> {
            self.as_str().into_url()
        }
    }

    impl Sealed for &String {
        fn into_url(self) -> Result<Url, FetchError> {
            self.as_str().into_url()
        }
    }
}

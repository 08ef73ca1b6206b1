//! Shadow mode: the service's layer judges a copy of the request (headers
//! only) in front of a stand-in that answers `204`; whatever it decides
//! (pass, a fresh challenge, a refusal), the real request is forwarded and
//! the answer says what would have happened.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use tower_service::Service as TowerService;

use crate::forward::{ProxyBody, full};

/// The header naming what would have happened.
pub(crate) const SHADOW: HeaderName = HeaderName::from_static("x-l402-shadow");
/// The header with the price the request would have cost.
pub(crate) const SHADOW_PRICE: HeaderName = HeaderName::from_static("x-l402-shadow-price-sats");

/// The stand-in behind a shadow layer: a request the layer lets through
/// gets `204` here, which the layer itself never answers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Passed;

impl<B> TowerService<Request<B>> for Passed {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut response = Response::new(full(bytes::Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        Box::pin(std::future::ready(Ok(response)))
    }
}

/// What the layer's answer means.
pub(crate) fn verdict(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NO_CONTENT => "paid",
        StatusCode::PAYMENT_REQUIRED => "challenge",
        StatusCode::UNAUTHORIZED => "reject",
        _ => "error",
    }
}

/// Adds the shadow headers to a forwarded response.
pub(crate) fn mark<B>(response: &mut Response<B>, verdict: &'static str, price_sats: u64) {
    let headers = response.headers_mut();
    headers.insert(SHADOW, HeaderValue::from_static(verdict));
    headers.insert(SHADOW_PRICE, HeaderValue::from(price_sats));
}

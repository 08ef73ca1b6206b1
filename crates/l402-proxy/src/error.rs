//! What goes wrong between the proxy and an upstream, and how the client is
//! told: JSON [`ErrorBody`] with a stable code, or for a gRPC client a
//! `200` with `grpc-status` (as Aperture answers gRPC clients).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use l402_server::ErrorBody;

/// A request the proxy could not forward or answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// No configured service takes this host and path.
    #[error("no service is configured for this host and path")]
    NoService,
    /// The path has a `.` or `..` segment (raw or percent-encoded) and
    /// would be forwarded under a prefix it could leave (a merchant's
    /// proxy, a rewrite prefix).
    #[error("the path has a `.` or `..` segment (raw or percent-encoded): not forwarded")]
    BadPath,
    /// The request body is larger than the service allows.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(u64),
    /// The upstream could not be connected to.
    #[error("the upstream service cannot be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The upstream did not send its response headers in time.
    #[error("the upstream service did not answer within {0} s")]
    Timeout(u64),
    /// The exchange with the upstream failed after connecting.
    #[error("the upstream service failed to answer")]
    Upstream(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A path that never gets an invoice, asked without a credential.
    #[error("{0}: this path sells no invoices: present a token bought for the service")]
    NoInvoice(String),
    /// The client asked for an upgrade the upstream cannot do here.
    #[error("{0}")]
    BadUpgrade(&'static str),
    /// The TLS handshake with an `https` upstream failed: its certificate
    /// was refused, or it does not speak TLS.
    #[error("the TLS handshake with the upstream failed: {0}")]
    UpstreamTls(String),
    /// The service's pricer gave no price and there is no fallback.
    #[error("the price of this request cannot be computed right now: {0}")]
    PricerUnavailable(#[source] crate::pricer::PricerError),
    /// A rate limit of the service refused the request.
    #[error("{service}: too many requests: retry in {retry_after_secs} s")]
    RateLimited {
        /// The service.
        service: String,
        /// When to retry (`Retry-After`), in seconds.
        retry_after_secs: u64,
    },
}

impl ProxyError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoService => StatusCode::NOT_FOUND,
            ProxyError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Unreachable(_) | ProxyError::Upstream(_) | ProxyError::UpstreamTls(_) => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::PricerUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadUpgrade(_) | ProxyError::BadPath => StatusCode::BAD_REQUEST,
            ProxyError::NoInvoice(_) => StatusCode::UNAUTHORIZED,
            ProxyError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::NoService => "no_service",
            ProxyError::BodyTooLarge(_) => "body_too_large",
            ProxyError::Unreachable(_) => "upstream_unreachable",
            ProxyError::Timeout(_) => "upstream_timeout",
            ProxyError::Upstream(_) => "upstream_failed",
            ProxyError::BadUpgrade(_) => "bad_upgrade",
            ProxyError::BadPath => "bad_path",
            ProxyError::NoInvoice(_) => "credential_required",
            ProxyError::UpstreamTls(_) => "upstream_tls",
            ProxyError::PricerUnavailable(_) => "pricer_unavailable",
            ProxyError::RateLimited { .. } => "rate_limited",
        }
    }

    /// The gRPC status a gRPC client gets instead.
    fn grpc_status(&self) -> &'static str {
        match self {
            ProxyError::NoService => "12",      // UNIMPLEMENTED
            ProxyError::BodyTooLarge(_) => "8", // RESOURCE_EXHAUSTED
            ProxyError::Unreachable(_)
            | ProxyError::Upstream(_)
            | ProxyError::UpstreamTls(_)
            | ProxyError::PricerUnavailable(_) => "14", // UNAVAILABLE
            ProxyError::Timeout(_) => "4",      // DEADLINE_EXCEEDED
            ProxyError::BadUpgrade(_) | ProxyError::BadPath => "3", // INVALID_ARGUMENT
            ProxyError::NoInvoice(_) => "16",   // UNAUTHENTICATED
            ProxyError::RateLimited { .. } => "8", // RESOURCE_EXHAUSTED
        }
    }

    /// The response: JSON, or gRPC's `200` + `grpc-status` for a gRPC
    /// request (with `Retry-After` when rate limited).
    pub fn response(&self, grpc: bool) -> Response<Bytes> {
        if grpc {
            let mut response = Response::new(Bytes::new());
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            headers.insert("grpc-status", HeaderValue::from_static(self.grpc_status()));
            if let Ok(message) = HeaderValue::from_str(&self.to_string()) {
                headers.insert("grpc-message", message);
            }
            if let Some(secs) = self.retry_after_secs() {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return response;
        }
        let body = ErrorBody::new(self.status(), self.code(), self.to_string());
        match self.retry_after_secs() {
            Some(secs) => body.retry_after(secs),
            None => body,
        }
        .response()
    }

    /// When to ask again (`Retry-After`), for the errors that pass.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ProxyError::PricerUnavailable(_) => Some(crate::pricer::RETRY_AFTER_SECS),
            ProxyError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_and_grpc_shapes() {
        let e = ProxyError::Timeout(5);
        let r = e.response(false);
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["code"], "upstream_timeout");
        let r = e.response(true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["grpc-status"], "4");
    }

    #[test]
    fn rate_limited_says_when_to_retry() {
        let e = ProxyError::RateLimited {
            service: "llm".into(),
            retry_after_secs: 7,
        };
        let r = e.response(false);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["code"], "rate_limited");
        let r = e.response(true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["grpc-status"], "8");
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }
}

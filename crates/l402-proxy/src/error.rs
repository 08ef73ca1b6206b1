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
}

impl ProxyError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoService => StatusCode::NOT_FOUND,
            ProxyError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Unreachable(_) | ProxyError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadUpgrade(_) => StatusCode::BAD_REQUEST,
            ProxyError::NoInvoice(_) => StatusCode::UNAUTHORIZED,
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
            ProxyError::NoInvoice(_) => "credential_required",
        }
    }

    /// The gRPC status a gRPC client gets instead.
    fn grpc_status(&self) -> &'static str {
        match self {
            ProxyError::NoService => "12",      // UNIMPLEMENTED
            ProxyError::BodyTooLarge(_) => "8", // RESOURCE_EXHAUSTED
            ProxyError::Unreachable(_) | ProxyError::Upstream(_) => "14", // UNAVAILABLE
            ProxyError::Timeout(_) => "4",      // DEADLINE_EXCEEDED
            ProxyError::BadUpgrade(_) => "3",   // INVALID_ARGUMENT
            ProxyError::NoInvoice(_) => "16",   // UNAUTHENTICATED
        }
    }

    /// The response: JSON, or gRPC's `200` + `grpc-status` for a gRPC
    /// request.
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
            return response;
        }
        ErrorBody::new(self.status(), self.code(), self.to_string()).response()
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
}

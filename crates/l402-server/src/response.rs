//! The answers the layer writes itself: 402 challenges and JSON errors with a
//! stable `code`.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use l402::{Challenge, ChallengeStyle, PaymentHash, VerifyError};
use serde_json::json;

use l402::time::rfc3339;

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The one JSON error shape of every selling surface (the layer, the
/// `Paid` extractor and the producer API):
/// `{"error": <text>, "code": <stable code>, "message": <text>}`, plus
/// `"field"` when one request field or header is at fault. `error` defaults
/// to the status's reason phrase; clients that show `body.error` can be given
/// another text with [`ErrorBody::error`].
///
/// ```
/// use http::StatusCode;
/// use l402_server::ErrorBody;
///
/// let body = ErrorBody::new(StatusCode::BAD_REQUEST, "invalid_field", "priceSats must be positive")
///     .field("priceSats");
/// assert_eq!(
///     body.json(),
///     serde_json::json!({
///         "error": "Bad Request",
///         "code": "invalid_field",
///         "message": "priceSats must be positive",
///         "field": "priceSats",
///     })
/// );
/// let response = body.retry_after(5).response();
/// assert_eq!(response.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// assert_eq!(response.headers()["retry-after"], "5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ErrorBody {
    status: StatusCode,
    code: &'static str,
    message: String,
    error: Option<String>,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl ErrorBody {
    /// An error with a status, a stable code and a message for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ErrorBody {
            status,
            code,
            message: message.into(),
            error: None,
            field: None,
            retry_after: None,
        }
    }

    /// Names the request field (or header) at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Replaces the `error` text (default: the status's reason phrase).
    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// Adds a `Retry-After` header (seconds) to the response.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The JSON body.
    pub fn json(&self) -> serde_json::Value {
        let error = self
            .error
            .clone()
            .unwrap_or_else(|| self.status.canonical_reason().unwrap_or("Error").to_owned());
        let mut body = json!({
            "error": error,
            "code": self.code,
            "message": self.message,
        });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        body
    }

    /// The headers every error carries: JSON, `Cache-Control: no-store`,
    /// and `Retry-After` when set.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, APPLICATION_JSON);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers
    }

    /// The complete response, with [`ErrorBody::json`] (or `body`, for a
    /// surface that adds fields of its own) as its body.
    pub fn response_with(&self, body: &serde_json::Value) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers();
        response
    }

    /// The complete response.
    pub fn response(&self) -> Response<Bytes> {
        self.response_with(&self.json())
    }
}

/// A JSON error response in [`ErrorBody`]'s shape.
pub(crate) fn error_response(
    status: StatusCode,
    code: &'static str,
    message: &str,
) -> Response<Bytes> {
    ErrorBody::new(status, code, message).response()
}

/// A challenge as issued: what the 402 says and what idempotent repeats
/// return unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedChallenge {
    /// The macaroon (base64) and invoice.
    pub challenge: Challenge,
    /// The price in sats.
    pub amount_sats: u64,
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// When the invoice expires (unix seconds).
    pub expires_at: u64,
    /// The resource the token will be good for.
    pub resource: String,
}

impl IssuedChallenge {
    /// The JSON body l402-express sends with a 402.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": "Payment Required",
            "code": "payment_required",
            "l402": {
                "macaroon": self.challenge.macaroon,
                "invoice": self.challenge.invoice,
                "amount_sats": self.amount_sats,
                "payment_hash": self.payment_hash.to_string(),
                "expires_at": rfc3339(self.expires_at),
                "resource": self.resource,
            }
        })
    }

    /// The complete 402 response (or, for gRPC requests, Aperture's
    /// `200` with `grpc-status: 13`).
    pub fn response(&self, style: &ChallengeStyle, grpc: bool) -> Response<Bytes> {
        let mut response = if grpc {
            let mut r = Response::new(Bytes::new());
            let headers = r.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            headers.insert(
                HeaderName::from_static("grpc-status"),
                HeaderValue::from_static("13"),
            );
            headers.insert(
                HeaderName::from_static("grpc-message"),
                HeaderValue::from_static("payment required"),
            );
            r
        } else {
            let mut r = Response::new(Bytes::from(self.body().to_string()));
            *r.status_mut() = StatusCode::PAYMENT_REQUIRED;
            r.headers_mut()
                .insert(header::CONTENT_TYPE, APPLICATION_JSON);
            r
        };
        let headers = response.headers_mut();
        for value in self.challenge.header_values(style) {
            // Macaroons are base64 and invoices bech32: always valid header
            // values; skip defensively rather than panic.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
        response
    }
}

/// Why a presented credential was not accepted, for the rejection hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The verifier's reason.
    pub reason: VerifyError,
    /// The resource requested.
    pub resource: String,
    /// The price of the request in sats.
    pub price_sats: u64,
}

impl Rejection {
    /// The status the layer answers with by default: 402 (and a fresh
    /// challenge) for a genuine token that is stale or for something else,
    /// 401 (with no challenge) for a forged or unpaid one.
    pub fn status(&self) -> StatusCode {
        if self.reason.is_genuine() {
            StatusCode::PAYMENT_REQUIRED
        } else {
            StatusCode::UNAUTHORIZED
        }
    }

    /// The stable error code for this rejection ([`VerifyError::code`]).
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }
}

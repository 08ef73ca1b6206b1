//! The answers the layer writes itself: 402 challenges and JSON errors with a
//! stable `code`.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use l402::{Challenge, ChallengeStyle, PaymentHash, VerifyError};
use serde_json::json;

use l402::time::rfc3339;

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON error body `{"error": <reason phrase>, "code": <code>, "message": <message>}`.
pub(crate) fn json_error(
    status: StatusCode,
    code: &'static str,
    message: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let body = json!({
        "error": status.canonical_reason().unwrap_or("Error"),
        "code": code,
        "message": message,
    });
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, APPLICATION_JSON);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (status, headers, Bytes::from(body.to_string()))
}

pub(crate) fn error_response(
    status: StatusCode,
    code: &'static str,
    message: &str,
) -> Response<Bytes> {
    let (status, headers, body) = json_error(status, code, message);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
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

    /// The stable error code for this rejection.
    pub fn code(&self) -> &'static str {
        use l402::CaveatError as C;
        match &self.reason {
            VerifyError::WrongPreimage(_) => "wrong_preimage",
            VerifyError::BadSignature | VerifyError::WrongLocation(_) => "forged_token",
            VerifyError::UnknownKey(_) => "unknown_key",
            VerifyError::Identifier(_) => "bad_identifier",
            VerifyError::MultipleMacaroons(_) => "multiple_macaroons",
            VerifyError::Caveat(C::Expired { .. }) => "token_expired",
            VerifyError::Caveat(C::WrongResource { .. }) => "wrong_resource",
            VerifyError::Caveat(C::WrongAmount { .. }) => "wrong_amount",
            VerifyError::Caveat(C::WrongMethod { .. }) => "wrong_method",
            VerifyError::Caveat(_) => "caveat_not_satisfied",
        }
    }
}

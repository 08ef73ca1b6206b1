//! The producer API's JSON errors, in the one shape of every selling surface
//! ([`l402_server::ErrorBody`]): `{"error", "code", "message", "field"?}`.
//!
//! `error` is what Lightning Enable's and l402kit's clients show (`body.error
//! ?? body.message`): here the message itself, or the exact text l402kit's
//! clients match on. `code` is stable and machine-readable, `field` names the
//! request field (or header) at fault, if one is. Messages seen by callers
//! never carry backend URLs or internal errors (those are logged).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use l402_server::{ErrorBody, IssueError};
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) field: Option<String>,
    pub(crate) message: String,
    /// Overrides `error` (l402kit's clients match on its exact text).
    pub(crate) error: Option<&'static str>,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
            error: None,
            retry_after: None,
        }
    }

    /// A 400 about one field.
    pub(crate) fn field(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, code, message)
        }
    }

    pub(crate) fn field_named(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub(crate) fn with_error(mut self, error: &'static str) -> Self {
        self.error = Some(error);
        self
    }

    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub(crate) fn unauthorized(message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry_after(5)
    }

    /// A 503 for a challenge that could not be issued: the issuer's stable
    /// code and public message; the cause (which may name the backend's URL)
    /// is logged, never sent.
    pub(crate) fn issue(e: &IssueError) -> Self {
        tracing::warn!(error = %e, cause = ?std::error::Error::source(e), "producer: cannot issue a challenge");
        ApiError::unavailable(e.code(), e.public_message())
    }

    fn body(&self) -> ErrorBody {
        let mut body = ErrorBody::new(self.status, self.code, self.message.clone())
            .error(self.error.unwrap_or(&self.message).to_owned());
        if let Some(field) = &self.field {
            body = body.field(field.clone());
        }
        if let Some(secs) = self.retry_after {
            body = body.retry_after(secs);
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut json = body.json();
        if self.status == StatusCode::FORBIDDEN {
            json["current_plan"] = json!("suspended");
        }
        body.response_with(&json).map(axum::body::Body::from)
    }
}

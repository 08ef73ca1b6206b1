//! The producer API's JSON errors: `{"error", "code", "field", "message"}`.
//!
//! `error` is what Lightning Enable's and l402kit's clients show (`body.error
//! ?? body.message`), `code` is stable and machine-readable, `field` names the
//! request field (or header) at fault, if one is.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": self.error.map_or_else(|| self.message.clone(), str::to_owned),
            "code": self.code,
            "message": self.message,
        });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        if self.status == StatusCode::FORBIDDEN {
            body["current_plan"] = json!("suspended");
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

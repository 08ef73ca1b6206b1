//! What a paid request carries into the handler.

use std::sync::Arc;

use l402::{Caveat, PaymentHash, TokenId};

/// A verified, paid L402 credential, put into the request's extensions by
/// the layer. In axum, take it as an extractor:
///
/// ```
/// use l402_server::Paid;
///
/// async fn weather(paid: Paid) -> String {
///     format!("paid {} sats for {}", paid.amount_sats, paid.resource)
/// }
/// # let _ = axum::Router::<()>::new().route("/weather", axum::routing::get(weather));
/// ```
///
/// Take `Option<Paid>` to let one handler serve both free and paid callers
/// (`None` when the request carried no verified credential).
///
/// Taking `Paid` in a handler that the layer does not wrap is a programming
/// error: the extractor answers 500 with code `l402_layer_missing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    /// The resource the token was bought for.
    pub resource: String,
    /// The price paid, in sats.
    pub amount_sats: u64,
    /// The payment hash of the invoice paid.
    pub payment_hash: PaymentHash,
    /// The token's id (stable across uses of the same token).
    pub token_id: TokenId,
    /// Every caveat of the token, in order (shared: a token's caveats are
    /// parsed once, not on each request).
    pub caveats: Arc<[Caveat]>,
    /// When the token stops being valid (unix seconds), if it says.
    pub valid_until: Option<u64>,
}

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::Paid;
    use crate::response::ErrorBody;

    /// The layer was not applied to the route whose handler takes [`Paid`]
    /// (a programming error: 500, code `l402_layer_missing`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct PaidMissing;

    impl PaidMissing {
        /// The status of the answer: 500.
        pub fn status(&self) -> http::StatusCode {
            http::StatusCode::INTERNAL_SERVER_ERROR
        }

        /// The message of the answer.
        pub fn body_text(&self) -> String {
            self.to_string()
        }
    }

    impl std::fmt::Display for PaidMissing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("this route takes a paid credential but is not behind the L402 layer")
        }
    }

    impl std::error::Error for PaidMissing {}

    impl IntoResponse for PaidMissing {
        fn into_response(self) -> Response {
            let error = ErrorBody::new(self.status(), "l402_layer_missing", self.body_text());
            (error.status(), error.headers(), error.json().to_string()).into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Paid {
        type Rejection = PaidMissing;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<Paid>().cloned().ok_or(PaidMissing)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for Paid {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<Paid>().cloned())
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::PaidMissing;

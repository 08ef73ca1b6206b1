//! What a handler needs from the request, as axum extractors that reject
//! with [`ApiError`]: the [`Merchant`] an `X-API-Key` authenticates, the
//! [`Admin`] token, and the optional [`IdempotencyKey`].

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use l402_server::idempotency::{KeyError, MAX_KEY_BYTES, check_key};
use l402_store::Authenticated;

use crate::Shared;
use crate::error::ApiError;

/// A merchant that a surface mounted in this process has authenticated by
/// its own means (`l402 serve`'s dashboard: its session), carried as a
/// request extension on the requests it sends to the producer's router in
/// process: the merchant routes and `/api/delete-data` act for it as for
/// its API key (403 when it is suspended). No request from the network
/// carries one: only code in this process sets extensions.
#[derive(Debug, Clone)]
pub struct ActingMerchant(pub Authenticated);

/// The [`ActingMerchant`] of a request, if any (403 when suspended).
pub(crate) fn acting(parts: &Parts) -> Option<Result<Authenticated, ApiError>> {
    let who = parts.extensions.get::<ActingMerchant>()?.0.clone();
    Some(
        if who.merchant.status == l402_store::MerchantStatus::Active {
            Ok(who)
        } else {
            Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                "merchant_suspended",
                format!("merchant {} is suspended", who.merchant.id),
            ))
        },
    )
}

/// The merchant an `X-API-Key` authenticates, or (without that header) the
/// merchant linked to the LNURL-auth session of `Authorization: Bearer
/// l402s_…` (401 without a valid key or session, 403 for a suspended
/// merchant or a session whose key is linked to none), or an
/// [`ActingMerchant`] set in process.
pub(crate) struct Merchant(pub(crate) Authenticated);

impl FromRequestParts<Shared> for Merchant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        if let Some(who) = acting(parts) {
            return who.map(Merchant);
        }
        if !parts.headers.contains_key("x-api-key")
            && let Some(token) = crate::lnurl_auth::presented_session(&parts.headers)
        {
            let session = crate::lnurl_auth::session(state, token).await?;
            return crate::erasure::session_merchant(&session).map(Merchant);
        }
        state.merchant(&parts.headers).await.map(Merchant)
    }
}

/// The admin token was presented (401 otherwise, or when the admin API is off).
pub(crate) struct Admin;

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        state.is_admin(&parts.headers).map(|()| Admin)
    }
}

/// `X-Idempotency-Key`, under the rule every selling surface shares
/// ([`check_key`]): `Option<IdempotencyKey>` is `None` without the header,
/// and a key that breaks the rule is refused with 400 naming the header.
pub(crate) struct IdempotencyKey(pub(crate) String);

const HEADER: &str = "X-Idempotency-Key";

impl OptionalFromRequestParts<Shared> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Shared,
    ) -> Result<Option<Self>, ApiError> {
        let Some(value) = parts.headers.get(HEADER) else {
            return Ok(None);
        };
        let refuse = |e: KeyError| {
            ApiError::field(
                e.code(),
                HEADER,
                format!("{HEADER} must be 1 to {MAX_KEY_BYTES} visible ASCII characters: {e}"),
            )
        };
        let text = value.to_str().map_err(|_| refuse(KeyError::NotAscii))?;
        check_key(text).map_err(refuse)?;
        Ok(Some(IdempotencyKey(text.to_owned())))
    }
}

impl crate::Producer {
    /// The merchant `headers` authenticate, by the code every merchant route
    /// runs ([`Merchant`]: `X-API-Key`, or an LNURL-auth session), for
    /// surfaces mounted beside the API (`l402 serve`'s `/mcp`). The error is
    /// the API's own JSON answer (401, 403 for a suspended merchant, 503).
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Authenticated, Box<axum::response::Response>> {
        use axum::response::IntoResponse;
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.headers = headers.clone();
        Merchant::from_request_parts(&mut parts, &self.inner)
            .await
            .map(|m| m.0)
            .map_err(|e| Box::new(e.into_response()))
    }

    /// Whether `headers` carry the admin token (`Authorization: Bearer`),
    /// by the admin routes' own check ([`Admin`]); the error is their JSON
    /// answer.
    pub fn check_admin(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<(), Box<axum::response::Response>> {
        use axum::response::IntoResponse;
        self.inner
            .is_admin(headers)
            .map_err(|e| Box::new(e.into_response()))
    }
}

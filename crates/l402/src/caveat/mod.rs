//! First-party caveats: `condition=value`, with Aperture's conditions and the
//! ones this project binds a token to what was paid with.
//!
//! | Condition | Value | Satisfied when |
//! |---|---|---|
//! | `services` | `name:tier[,name:tier…]` (Aperture) | the request's service is listed |
//! | `<service>_capabilities` | `a,b` (Aperture) | the request's capability for that service, if any, is listed |
//! | `<service>_valid_until` | unix seconds (Aperture) | for that service, now is before it |
//! | `valid_until` | unix seconds | now is before it |
//! | `expiration` | unix milliseconds (lsat-js) | now is before it |
//! | `resource` | a resource (by default a path) | the request's resource is exactly this |
//! | `resource_prefix` | a prefix | the request's resource starts with it |
//! | `method` | `GET,HEAD,…` | the request's method is listed |
//! | `amount_sats` | sats paid | it equals the request's price |
//! | `merchant` | merchant id | it equals the merchant verifying |
//! | `preimage` | hex (Aperture's header-less gRPC form) | always (it carries the proof) |
//!
//! Any other condition is refused. Of several caveats with one condition, each
//! later one must be at least as strict as the one before it (a subset, an
//! earlier time, a longer prefix, the same resource, amount or merchant), and the
//! last one must be satisfied by the request.
//!
//! ```
//! use l402::{Caveat, RequestContext, check_caveats};
//!
//! let caveats = [
//!     Caveat::resource_prefix("/api/"),
//!     Caveat::resource("/api/weather"),
//!     Caveat::valid_until(2_000_000_000),
//! ];
//! let ctx = RequestContext::new(1_900_000_000).resource("/api/weather");
//! assert!(check_caveats(caveats.iter(), &ctx).is_ok());
//! let other = RequestContext::new(1_900_000_000).resource("/api/stocks");
//! assert!(check_caveats(caveats.iter(), &other).is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// A first-party caveat, `condition=value`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Caveat {
    condition: String,
    value: String,
}

/// Why a caveat could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaveatParseError {
    /// The caveat is not UTF-8.
    #[error("caveat is not UTF-8")]
    NotUtf8,
    /// The caveat has no `=`.
    #[error("caveat {0:?} is not of the form condition=value")]
    NoEquals(String),
    /// The condition before `=` is empty.
    #[error("caveat {0:?} has an empty condition")]
    EmptyCondition(String),
}

impl Caveat {
    /// A caveat from its two parts. Surrounding whitespace is trimmed, as
    /// Aperture does.
    ///
    /// # Errors
    /// [`CaveatParseError`] if the condition is empty or contains `=`.
    pub fn new(condition: &str, value: &str) -> Result<Self, CaveatParseError> {
        let condition = condition.trim();
        if condition.is_empty() {
            return Err(CaveatParseError::EmptyCondition(format!("={value}")));
        }
        if condition.contains('=') {
            return Err(CaveatParseError::NoEquals(condition.to_owned()));
        }
        Ok(Caveat {
            condition: condition.to_owned(),
            value: value.trim().to_owned(),
        })
    }

    fn known(condition: &str, value: String) -> Self {
        Caveat {
            condition: condition.to_owned(),
            value,
        }
    }

    /// Parses caveat bytes as found in a macaroon.
    ///
    /// # Errors
    /// [`CaveatParseError`] if they are not UTF-8 `condition=value`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CaveatParseError> {
        std::str::from_utf8(bytes)
            .map_err(|_| CaveatParseError::NotUtf8)?
            .parse()
    }

    /// `services=name:tier,…` (Aperture).
    pub fn services<'a>(services: impl IntoIterator<Item = (&'a str, u8)>) -> Self {
        let value = services
            .into_iter()
            .map(|(name, tier)| format!("{name}:{tier}"))
            .collect::<Vec<_>>()
            .join(",");
        Caveat::known("services", value)
    }

    /// `<service>_capabilities=a,b` (Aperture).
    pub fn capabilities<'a>(
        service: &str,
        capabilities: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let value = capabilities.into_iter().collect::<Vec<_>>().join(",");
        Caveat::known(&format!("{service}_capabilities"), value)
    }

    /// `<service>_valid_until=<unix seconds>` (Aperture).
    pub fn service_valid_until(service: &str, unix_secs: u64) -> Self {
        Caveat::known(&format!("{service}_valid_until"), unix_secs.to_string())
    }

    /// `valid_until=<unix seconds>`: the token expires at this time.
    pub fn valid_until(unix_secs: u64) -> Self {
        Caveat::known("valid_until", unix_secs.to_string())
    }

    /// `resource=<resource>`: the token is good for exactly this resource.
    pub fn resource(resource: &str) -> Self {
        Caveat::known("resource", resource.to_owned())
    }

    /// `resource_prefix=<prefix>`: the token is good for resources starting
    /// with this prefix (for delegating a part of an API, say).
    pub fn resource_prefix(prefix: &str) -> Self {
        Caveat::known("resource_prefix", prefix.to_owned())
    }

    /// `method=GET,…`: the token is good for these HTTP methods only.
    pub fn methods<'a>(methods: impl IntoIterator<Item = &'a str>) -> Self {
        let value = methods.into_iter().collect::<Vec<_>>().join(",");
        Caveat::known("method", value)
    }

    /// `amount_sats=<n>`: the price paid; the token is good where the price is
    /// the same.
    pub fn amount_sats(sats: u64) -> Self {
        Caveat::known("amount_sats", sats.to_string())
    }

    /// `merchant=<id>`: the token is good at this merchant only.
    pub fn merchant(merchant: &str) -> Self {
        Caveat::known("merchant", merchant.to_owned())
    }

    /// The condition, before `=`.
    pub fn condition(&self) -> &str {
        &self.condition
    }

    /// The value, after `=`.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FromStr for Caveat {
    type Err = CaveatParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (condition, value) = s
            .split_once('=')
            .ok_or_else(|| CaveatParseError::NoEquals(s.to_owned()))?;
        if condition.trim().is_empty() {
            return Err(CaveatParseError::EmptyCondition(s.to_owned()));
        }
        Caveat::new(condition, value)
    }
}

impl fmt::Display for Caveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.condition, self.value)
    }
}

impl fmt::Debug for Caveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Caveat({self})")
    }
}

/// The kinds of condition this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// `services`
    Services,
    /// `<service>_capabilities`
    Capabilities(&'a str),
    /// `<service>_valid_until`
    ServiceValidUntil(&'a str),
    /// `valid_until`
    ValidUntil,
    /// `expiration` (lsat-js, milliseconds)
    Expiration,
    /// `resource`
    Resource,
    /// `resource_prefix`
    ResourcePrefix,
    /// `method`
    Method,
    /// `amount_sats`
    AmountSats,
    /// `merchant`
    Merchant,
    /// `preimage`
    Preimage,
}

impl<'a> Condition<'a> {
    /// Classifies a condition; `None` for one this crate does not know.
    pub fn classify(condition: &'a str) -> Option<Self> {
        Some(match condition {
            "services" => Condition::Services,
            "valid_until" => Condition::ValidUntil,
            "expiration" => Condition::Expiration,
            "resource" => Condition::Resource,
            "resource_prefix" => Condition::ResourcePrefix,
            "method" => Condition::Method,
            "amount_sats" => Condition::AmountSats,
            "merchant" => Condition::Merchant,
            "preimage" => Condition::Preimage,
            other => {
                if let Some(service) = other
                    .strip_suffix("_capabilities")
                    .filter(|s| !s.is_empty())
                {
                    Condition::Capabilities(service)
                } else if let Some(service) =
                    other.strip_suffix("_valid_until").filter(|s| !s.is_empty())
                {
                    Condition::ServiceValidUntil(service)
                } else {
                    return None;
                }
            }
        })
    }
}

mod check;
mod context;
#[cfg(test)]
mod tests;

pub use check::{CaveatError, check_caveats};
pub use context::{Ignorable, RequestContext};

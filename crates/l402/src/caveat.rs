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

use std::borrow::Cow;
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

/// What a request offers to satisfy caveats against.
///
/// A caveat about something the context does not state (a `resource` caveat
/// when no resource is given, say) is refused as unverifiable, so that a
/// restriction is never silently skipped; [`RequestContext::ignore`] says
/// explicitly that a dimension is not checked.
///
/// It borrows what it can (`&str` from the request) and owns what it must
/// (`String`): building one on a hot path allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct RequestContext<'a> {
    now_millis: u64,
    resource: Option<Cow<'a, str>>,
    method: Option<Cow<'a, str>>,
    amount_sats: Option<u64>,
    merchant: Option<Cow<'a, str>>,
    service: Option<Cow<'a, str>>,
    capability: Option<Cow<'a, str>>,
    ignored: Vec<Ignorable>,
}

/// A dimension a [`RequestContext`] can declare it does not check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignorable {
    /// `resource` caveats are not checked.
    Resource,
    /// `method` caveats are not checked.
    Method,
    /// `amount_sats` caveats are not checked.
    AmountSats,
    /// `merchant` caveats are not checked.
    Merchant,
    /// `services` caveats are not checked.
    Services,
}

impl<'a> RequestContext<'a> {
    /// A context at `now_unix_secs`, stating nothing else yet.
    pub fn new(now_unix_secs: u64) -> Self {
        RequestContext {
            now_millis: now_unix_secs.saturating_mul(1000),
            ..RequestContext::default()
        }
    }

    /// A context at the given time in milliseconds since the Unix epoch.
    pub fn at_millis(now_unix_millis: u64) -> Self {
        RequestContext {
            now_millis: now_unix_millis,
            ..RequestContext::default()
        }
    }

    /// A context at the system clock's current time.
    pub fn now() -> Self {
        RequestContext::at_millis(crate::time::unix_millis())
    }

    /// The resource requested (by default the path).
    pub fn resource(mut self, resource: impl Into<Cow<'a, str>>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The HTTP method of the request.
    pub fn method(mut self, method: impl Into<Cow<'a, str>>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// The price of the request, in sats.
    pub fn amount_sats(mut self, sats: u64) -> Self {
        self.amount_sats = Some(sats);
        self
    }

    /// The merchant verifying the token.
    pub fn merchant(mut self, merchant: impl Into<Cow<'a, str>>) -> Self {
        self.merchant = Some(merchant.into());
        self
    }

    /// The service the request is for (Aperture's target service).
    pub fn service(mut self, service: impl Into<Cow<'a, str>>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The capability the request needs within its service.
    pub fn capability(mut self, capability: impl Into<Cow<'a, str>>) -> Self {
        self.capability = Some(capability.into());
        self
    }

    /// Declares that caveats of this kind are not checked by this verifier.
    pub fn ignore(mut self, what: Ignorable) -> Self {
        self.ignored.push(what);
        self
    }

    /// The time of the request, in seconds since the Unix epoch.
    pub fn now_unix_secs(&self) -> u64 {
        self.now_millis / 1000
    }

    fn ignores(&self, what: Ignorable) -> bool {
        self.ignored.contains(&what)
    }
}

/// Why a token's caveats do not allow a request. The signature was genuine:
/// these are reasons to ask for a fresh payment, not signs of forgery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaveatError {
    /// A caveat could not be parsed.
    #[error("caveat {index}: {source}")]
    Malformed {
        /// Position of the caveat in the macaroon.
        index: usize,
        /// What was wrong.
        source: CaveatParseError,
    },
    /// A caveat's condition is not one this verifier knows.
    #[error("unknown caveat condition {0:?}")]
    UnknownCondition(String),
    /// A caveat's value is not valid for its condition.
    #[error("caveat {condition}={value:?} has an invalid value")]
    BadValue {
        /// The condition.
        condition: String,
        /// The value.
        value: String,
    },
    /// A later caveat tries to widen what an earlier one allowed.
    #[error("caveat {condition}={later:?} widens the earlier {condition}={earlier:?}")]
    Widens {
        /// The condition.
        condition: String,
        /// The earlier value.
        earlier: String,
        /// The later value.
        later: String,
    },
    /// The token has expired.
    #[error(
        "token expired at unix time {} (now {}), by caveat {condition}",
        .expired_at_millis / 1000,
        .now_millis / 1000
    )]
    Expired {
        /// The condition that expired it.
        condition: String,
        /// When it expired, in milliseconds since the Unix epoch.
        expired_at_millis: u64,
        /// The time of the request.
        now_millis: u64,
    },
    /// The token is for another resource.
    #[error("token is for resource {allowed:?}, not {requested:?}")]
    WrongResource {
        /// What the token allows.
        allowed: String,
        /// What was requested.
        requested: String,
    },
    /// The token is not for this HTTP method.
    #[error("token allows methods {allowed:?}, not {requested:?}")]
    WrongMethod {
        /// What the token allows.
        allowed: String,
        /// What was requested.
        requested: String,
    },
    /// The token was paid for another price.
    #[error("token paid {paid} sats; this request costs {price}")]
    WrongAmount {
        /// What the token paid.
        paid: u64,
        /// What the request costs.
        price: u64,
    },
    /// The token is for another merchant.
    #[error("token is for merchant {bound:?}, not {requested:?}")]
    WrongMerchant {
        /// The merchant in the token.
        bound: String,
        /// The merchant verifying.
        requested: String,
    },
    /// The token is not for this service.
    #[error("token is for services {allowed:?}, not {requested:?}")]
    WrongService {
        /// The services in the token.
        allowed: String,
        /// The service requested.
        requested: String,
    },
    /// The token lacks a capability the request needs.
    #[error("token lacks capability {capability:?} for service {service:?}")]
    MissingCapability {
        /// The service.
        service: String,
        /// The capability needed.
        capability: String,
    },
    /// The token has a caveat about something the request context does not state.
    #[error("token is restricted by {0:?} but the request does not say what to check it against")]
    Unverifiable(String),
}

/// Checks caveats against a request: parse, narrowing, then the last caveat
/// of each condition against `ctx`.
///
/// # Errors
/// The first [`CaveatError`] found.
pub fn check_caveats<'a, I>(caveats: I, ctx: &RequestContext<'_>) -> Result<(), CaveatError>
where
    I: IntoIterator<Item = &'a Caveat>,
{
    let mut last = LastValues::default();
    for caveat in caveats {
        let condition = caveat.condition();
        let kind = Condition::classify(condition)
            .ok_or_else(|| CaveatError::UnknownCondition(condition.to_owned()))?;
        validate_value(kind, caveat)?;
        match last.find(condition) {
            Some(slot) => {
                check_narrows(kind, condition, slot.1, caveat.value())?;
                slot.1 = caveat.value();
            }
            None => last.push((condition, caveat.value())),
        }
    }
    for &(condition, value) in last.iter() {
        let kind = Condition::classify(condition)
            .ok_or_else(|| CaveatError::UnknownCondition(condition.to_owned()))?;
        check_final(kind, condition, value, ctx)?;
    }
    Ok(())
}

/// `(condition, last value)` for each distinct condition, in first-seen
/// order: on the stack for the usual handful, spilling to the heap past that
/// (verification runs on every paid request).
#[derive(Default)]
struct LastValues<'a> {
    inline: [(&'a str, &'a str); 8],
    len: usize,
    spill: Vec<(&'a str, &'a str)>,
}

impl<'a> LastValues<'a> {
    fn find(&mut self, condition: &str) -> Option<&mut (&'a str, &'a str)> {
        let len = self.len;
        self.inline[..len]
            .iter_mut()
            .chain(self.spill.iter_mut())
            .find(|(c, _)| *c == condition)
    }

    fn push(&mut self, entry: (&'a str, &'a str)) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = entry;
                self.len += 1;
            }
            None => self.spill.push(entry),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(&'a str, &'a str)> {
        self.inline[..self.len].iter().chain(self.spill.iter())
    }
}

fn bad_value(caveat: &Caveat) -> CaveatError {
    CaveatError::BadValue {
        condition: caveat.condition().to_owned(),
        value: caveat.value().to_owned(),
    }
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Service names of a `services` value; `None` if any entry is malformed.
fn service_names(value: &str) -> Option<Vec<&str>> {
    value
        .split(',')
        .map(|entry| {
            let (name, tier) = entry.trim().split_once(':')?;
            tier.parse::<u8>().ok()?;
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

fn validate_value(kind: Condition<'_>, caveat: &Caveat) -> Result<(), CaveatError> {
    let value = caveat.value();
    let ok = match kind {
        Condition::Services => service_names(value).is_some(),
        Condition::ServiceValidUntil(_) | Condition::ValidUntil | Condition::Expiration => {
            value.parse::<u64>().is_ok()
        }
        Condition::AmountSats => value.parse::<u64>().is_ok(),
        Condition::Resource
        | Condition::ResourcePrefix
        | Condition::Merchant
        | Condition::Method => !value.is_empty(),
        Condition::Capabilities(_) | Condition::Preimage => true,
    };
    if ok { Ok(()) } else { Err(bad_value(caveat)) }
}

fn is_subset(later: &str, earlier: &str) -> bool {
    list(later).all(|item| list(earlier).any(|e| e == item))
}

fn check_narrows(
    kind: Condition<'_>,
    condition: &str,
    earlier: &str,
    later: &str,
) -> Result<(), CaveatError> {
    let narrows = match kind {
        Condition::Services => match (service_names(earlier), service_names(later)) {
            (Some(e), Some(l)) => l.iter().all(|name| e.contains(name)),
            _ => false,
        },
        Condition::Capabilities(_) | Condition::Method => is_subset(later, earlier),
        Condition::ServiceValidUntil(_) | Condition::ValidUntil | Condition::Expiration => {
            matches!((earlier.parse::<u64>(), later.parse::<u64>()), (Ok(e), Ok(l)) if l <= e)
        }
        Condition::ResourcePrefix => later.starts_with(earlier),
        Condition::Resource | Condition::AmountSats | Condition::Merchant => earlier == later,
        Condition::Preimage => true,
    };
    if narrows {
        Ok(())
    } else {
        Err(CaveatError::Widens {
            condition: condition.to_owned(),
            earlier: earlier.to_owned(),
            later: later.to_owned(),
        })
    }
}

fn check_final(
    kind: Condition<'_>,
    condition: &str,
    value: &str,
    ctx: &RequestContext<'_>,
) -> Result<(), CaveatError> {
    let unverifiable = || CaveatError::Unverifiable(condition.to_owned());
    let expired = |at_millis: u64| {
        if ctx.now_millis < at_millis {
            Ok(())
        } else {
            Err(CaveatError::Expired {
                condition: condition.to_owned(),
                expired_at_millis: at_millis,
                now_millis: ctx.now_millis,
            })
        }
    };
    // Values were validated before, so these parses succeed; map defensively.
    let number = || {
        value.parse::<u64>().map_err(|_| CaveatError::BadValue {
            condition: condition.to_owned(),
            value: value.to_owned(),
        })
    };
    match kind {
        Condition::Services => {
            if ctx.ignores(Ignorable::Services) {
                return Ok(());
            }
            let requested = ctx.service.as_deref().ok_or_else(unverifiable)?;
            if service_names(value).is_some_and(|names| names.contains(&requested)) {
                Ok(())
            } else {
                Err(CaveatError::WrongService {
                    allowed: value.to_owned(),
                    requested: requested.to_owned(),
                })
            }
        }
        Condition::Capabilities(service) => match (&ctx.service, &ctx.capability) {
            (Some(s), Some(capability)) if s == service => {
                if list(value).any(|c| c == capability) {
                    Ok(())
                } else {
                    Err(CaveatError::MissingCapability {
                        service: service.to_owned(),
                        capability: capability.to_string(),
                    })
                }
            }
            _ => Ok(()),
        },
        Condition::ServiceValidUntil(service) => {
            if ctx.service.as_deref() == Some(service) {
                expired(number()?.saturating_mul(1000))
            } else {
                Ok(())
            }
        }
        Condition::ValidUntil => expired(number()?.saturating_mul(1000)),
        Condition::Expiration => expired(number()?),
        Condition::Resource | Condition::ResourcePrefix => {
            if ctx.ignores(Ignorable::Resource) {
                return Ok(());
            }
            let requested = ctx.resource.as_deref().ok_or_else(unverifiable)?;
            let allowed = if kind == Condition::Resource {
                value == requested
            } else {
                requested.starts_with(value)
            };
            if allowed {
                Ok(())
            } else {
                Err(CaveatError::WrongResource {
                    allowed: value.to_owned(),
                    requested: requested.to_owned(),
                })
            }
        }
        Condition::Method => {
            if ctx.ignores(Ignorable::Method) {
                return Ok(());
            }
            let requested = ctx.method.as_deref().ok_or_else(unverifiable)?;
            if list(value).any(|m| m == requested) {
                Ok(())
            } else {
                Err(CaveatError::WrongMethod {
                    allowed: value.to_owned(),
                    requested: requested.to_owned(),
                })
            }
        }
        Condition::AmountSats => {
            if ctx.ignores(Ignorable::AmountSats) {
                return Ok(());
            }
            let price = ctx.amount_sats.ok_or_else(unverifiable)?;
            let paid = number()?;
            if paid == price {
                Ok(())
            } else {
                Err(CaveatError::WrongAmount { paid, price })
            }
        }
        Condition::Merchant => {
            if ctx.ignores(Ignorable::Merchant) {
                return Ok(());
            }
            let requested = ctx.merchant.as_deref().ok_or_else(unverifiable)?;
            if value == requested {
                Ok(())
            } else {
                Err(CaveatError::WrongMerchant {
                    bound: value.to_owned(),
                    requested: requested.to_owned(),
                })
            }
        }
        Condition::Preimage => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cav(s: &str) -> Caveat {
        s.parse().unwrap()
    }

    fn check(caveats: &[&str], ctx: &RequestContext<'_>) -> Result<(), CaveatError> {
        let caveats: Vec<Caveat> = caveats.iter().map(|s| cav(s)).collect();
        check_caveats(caveats.iter(), ctx)
    }

    #[test]
    fn parse_and_display() {
        let c = cav(" services = meme:0 ");
        assert_eq!(c.condition(), "services");
        assert_eq!(c.value(), "meme:0");
        assert_eq!(c.to_string(), "services=meme:0");
        assert_eq!(cav("a=b=c").value(), "b=c");
        assert!(matches!(
            "novalue".parse::<Caveat>(),
            Err(CaveatParseError::NoEquals(_))
        ));
        assert!(matches!(
            "=x".parse::<Caveat>(),
            Err(CaveatParseError::EmptyCondition(_))
        ));
        assert_eq!(
            Caveat::from_bytes(&[0xff, b'=']),
            Err(CaveatParseError::NotUtf8)
        );
    }

    #[test]
    fn aperture_services_and_capabilities() {
        let ctx = RequestContext::new(0).service("meme");
        assert!(check(&["services=meme:0", "meme_capabilities="], &ctx).is_ok());
        let other = RequestContext::new(0).service("loop");
        assert!(matches!(
            check(&["services=meme:0"], &other),
            Err(CaveatError::WrongService { .. })
        ));
        // a service-less context cannot check a services caveat
        assert_eq!(
            check(&["services=meme:0"], &RequestContext::new(0)),
            Err(CaveatError::Unverifiable("services".into()))
        );
        let cap = RequestContext::new(0).service("meme").capability("upload");
        assert!(matches!(
            check(&["services=meme:0", "meme_capabilities=read"], &cap),
            Err(CaveatError::MissingCapability { .. })
        ));
        assert!(check(&["services=meme:0", "meme_capabilities=read,upload"], &cap).is_ok());
        assert!(matches!(
            check(&["services=meme:0", "services=meme:0,loop:1"], &ctx),
            Err(CaveatError::Widens { .. })
        ));
        assert!(matches!(
            check(&["services=meme"], &ctx),
            Err(CaveatError::BadValue { .. })
        ));
    }

    #[test]
    fn expiry_narrows_and_expires() {
        let ctx = RequestContext::new(100);
        assert!(check(&["valid_until=200", "valid_until=150"], &ctx).is_ok());
        assert!(matches!(
            check(&["valid_until=150", "valid_until=200"], &ctx),
            Err(CaveatError::Widens { .. })
        ));
        assert!(matches!(
            check(&["valid_until=100"], &ctx),
            Err(CaveatError::Expired { .. })
        ));
        assert!(matches!(
            check(&["expiration=100000"], &ctx),
            Err(CaveatError::Expired { .. })
        ));
        assert!(check(&["expiration=100001"], &ctx).is_ok());
        // a service's own expiry applies to that service only, as in Aperture
        let meme = RequestContext::new(100).service("meme");
        assert!(matches!(
            check(&["meme_valid_until=50"], &meme),
            Err(CaveatError::Expired { .. })
        ));
        assert!(check(&["loop_valid_until=50"], &meme).is_ok());
    }

    #[test]
    fn resource_method_amount_merchant() {
        let ctx = RequestContext::new(0)
            .resource("/api/a")
            .method("GET")
            .amount_sats(10)
            .merchant("m1");
        assert!(
            check(
                &[
                    "resource=/api/a",
                    "method=GET,HEAD",
                    "amount_sats=10",
                    "merchant=m1"
                ],
                &ctx
            )
            .is_ok()
        );
        assert!(check(&["resource_prefix=/api/", "resource=/api/a"], &ctx).is_ok());
        assert!(check(&["resource_prefix=/", "resource_prefix=/api/"], &ctx).is_ok());
        assert!(matches!(
            check(&["resource=/api/b"], &ctx),
            Err(CaveatError::WrongResource { .. })
        ));
        assert!(matches!(
            check(&["resource_prefix=/api/b"], &ctx),
            Err(CaveatError::WrongResource { .. })
        ));
        // A literal '*' is not a wildcard: a request for "/api/*" cannot buy
        // a token that opens all of /api/.
        assert!(matches!(
            check(&["resource=/api/*"], &ctx),
            Err(CaveatError::WrongResource { .. })
        ));
        assert!(matches!(
            check(&["resource=/api/a", "resource=/api/b"], &ctx),
            Err(CaveatError::Widens { .. })
        ));
        assert!(matches!(
            check(&["resource_prefix=/api/", "resource_prefix=/"], &ctx),
            Err(CaveatError::Widens { .. })
        ));
        assert!(matches!(
            check(&["method=POST"], &ctx),
            Err(CaveatError::WrongMethod { .. })
        ));
        assert!(matches!(
            check(&["method=GET", "method=GET,POST"], &ctx),
            Err(CaveatError::Widens { .. })
        ));
        assert_eq!(
            check(&["amount_sats=11"], &ctx),
            Err(CaveatError::WrongAmount {
                paid: 11,
                price: 10
            })
        );
        assert!(matches!(
            check(&["merchant=m2"], &ctx),
            Err(CaveatError::WrongMerchant { .. })
        ));
        assert!(matches!(
            check(&["merchant=m1", "merchant=m2"], &ctx),
            Err(CaveatError::Widens { .. })
        ));
    }

    #[test]
    fn many_distinct_conditions_spill_past_the_inline_slots() {
        let ctx = RequestContext::new(0).service("a").resource("/r");
        let mut caveats: Vec<String> = (0..12).map(|i| format!("s{i}_valid_until=100")).collect();
        caveats.push("services=a:0".into());
        caveats.push("resource=/r".into());
        caveats.push("s11_valid_until=50".into());
        caveats.push("a_valid_until=10".into());
        let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
        assert!(check(&refs, &ctx).is_ok());
        caveats.push("s11_valid_until=60".into()); // widens the spilled s11
        let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
        assert!(matches!(
            check(&refs, &ctx),
            Err(CaveatError::Widens { .. })
        ));
        let late = RequestContext::new(20).service("a").resource("/r");
        caveats.pop();
        let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
        assert!(matches!(
            check(&refs, &late),
            Err(CaveatError::Expired { .. })
        ));
    }

    #[test]
    fn unknown_and_unverifiable_are_refused_unless_ignored() {
        let ctx = RequestContext::new(0);
        assert_eq!(
            check(&["color=blue"], &ctx),
            Err(CaveatError::UnknownCondition("color".into()))
        );
        assert_eq!(
            check(&["_capabilities=x"], &ctx),
            Err(CaveatError::UnknownCondition("_capabilities".into()))
        );
        assert_eq!(
            check(&["resource=/a"], &ctx),
            Err(CaveatError::Unverifiable("resource".into()))
        );
        assert!(check(&["resource=/a"], &ctx.clone().ignore(Ignorable::Resource)).is_ok());
        assert!(check(&["preimage=00"], &ctx).is_ok());
    }
}

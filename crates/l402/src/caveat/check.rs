//! Checking caveats against a request: parsing, narrowing, then the last
//! value of each condition.

use super::{Caveat, CaveatParseError, Condition, Ignorable, RequestContext};

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

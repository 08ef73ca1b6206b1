//! A service's `realm` and `rate_limits`, as written and resolved.
//!
//! ```toml
//! [[services]]
//! name = "chat"
//! realm = "llm"            # a token bought for any "llm" service opens all
//! rate_limits = [
//!   { per = "token", requests = 60, per_secs = 60, burst = 10 },
//!   { per = "network", requests = 20, per_secs = 1 },
//! ]
//! ```

use std::time::Duration;

use l402_proxy::{LimitBy, RateLimit, ServiceBuilder};
use serde::Deserialize;

/// The longest period a rate limit may count over (a day).
const MAX_PER_SECS: u64 = 86_400;

/// `rate_limits = [{ per, requests, per_secs, burst }]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `token` (each paid token) or `network` (each client /24 or /48).
    pub per: String,
    /// Requests allowed per `per_secs`, on average.
    pub requests: u32,
    /// The period, in seconds (default 1).
    pub per_secs: Option<u64>,
    /// Requests allowed at once (default `requests`).
    pub burst: Option<u32>,
}

/// A service's realm and rate limits, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsSpec {
    /// The realm whose tokens the service accepts.
    pub realm: Option<String>,
    /// The rate limits.
    pub rate_limits: Vec<RateLimit>,
}

impl LimitsSpec {
    /// Checks `realm` and `rate_limits`; the error names the key
    /// (`rate_limits[i].per`, ...) and says why.
    pub fn resolve(
        realm: Option<String>,
        rate_limits: Vec<RateLimitConfig>,
    ) -> Result<Self, (String, String)> {
        if rate_limits.len() > 2 {
            return Err((
                "rate_limits".into(),
                "at most two: one per token, one per network".into(),
            ));
        }
        let mut limits = Vec::with_capacity(rate_limits.len());
        for (i, r) in rate_limits.into_iter().enumerate() {
            let key = |k: &str| format!("rate_limits[{i}].{k}");
            let by = match r.per.as_str() {
                "token" => LimitBy::Token,
                "network" => LimitBy::Network,
                other => {
                    return Err((
                        key("per"),
                        format!("{other:?} is not \"token\" or \"network\""),
                    ));
                }
            };
            if r.requests == 0 {
                return Err((key("requests"), "must be more than zero".into()));
            }
            let per_secs = r.per_secs.unwrap_or(1);
            if !(1..=MAX_PER_SECS).contains(&per_secs) {
                return Err((
                    key("per_secs"),
                    format!("must be between 1 and {MAX_PER_SECS}"),
                ));
            }
            if r.burst == Some(0) {
                return Err((key("burst"), "must be more than zero".into()));
            }
            let mut limit = RateLimit::new(by, r.requests, Duration::from_secs(per_secs));
            if let Some(burst) = r.burst {
                limit = limit.burst(burst);
            }
            limits.push(limit);
        }
        Ok(LimitsSpec {
            realm,
            rate_limits: limits,
        })
    }

    /// Sets them on a service being built.
    pub fn apply(&self, mut b: ServiceBuilder) -> ServiceBuilder {
        if let Some(realm) = &self.realm {
            b = b.realm(realm);
        }
        for limit in &self.rate_limits {
            b = b.rate_limit(*limit);
        }
        b
    }
}

/// The services of one realm must share a price (a token is good where the
/// price is what was paid): the index of the first service that does not,
/// and why.
pub fn check_realm_prices(services: &[(Option<&str>, &str, u64)]) -> Result<(), (usize, String)> {
    for (i, (realm, name, price)) in services.iter().enumerate() {
        let Some(realm) = *realm else { continue };
        if let Some((_, first, p)) = services[..i]
            .iter()
            .find(|(r, _, p)| *r == Some(realm) && p != price)
        {
            return Err((
                i,
                format!(
                    "{name:?} costs {price} sats but {first:?}, in the same realm {realm:?}, \
                     costs {p}: a realm's services must share one price"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limit(
        per: &str,
        requests: u32,
        per_secs: Option<u64>,
        burst: Option<u32>,
    ) -> RateLimitConfig {
        RateLimitConfig {
            per: per.into(),
            requests,
            per_secs,
            burst,
        }
    }

    #[test]
    fn limits_are_checked_and_named() {
        let ok = LimitsSpec::resolve(
            Some("llm".into()),
            vec![
                limit("token", 60, Some(60), Some(10)),
                limit("network", 5, None, None),
            ],
        )
        .unwrap();
        assert_eq!(ok.rate_limits[0].burst_size(), 10);
        assert_eq!(ok.rate_limits[1].period(), Duration::from_secs(1));
        assert_eq!(ok.rate_limits[1].burst_size(), 5);
        let key = |l| LimitsSpec::resolve(None, vec![l]).unwrap_err().0;
        assert_eq!(key(limit("ip", 1, None, None)), "rate_limits[0].per");
        assert_eq!(
            key(limit("token", 0, None, None)),
            "rate_limits[0].requests"
        );
        assert_eq!(
            key(limit("token", 1, Some(0), None)),
            "rate_limits[0].per_secs"
        );
        assert_eq!(
            key(limit("token", 1, None, Some(0))),
            "rate_limits[0].burst"
        );
    }

    #[test]
    fn a_realm_has_one_price() {
        let fine = [(Some("r"), "a", 5), (None, "b", 7), (Some("r"), "c", 5)];
        assert!(check_realm_prices(&fine).is_ok());
        let bad = [
            (Some("r"), "a", 5),
            (Some("q"), "b", 7),
            (Some("r"), "c", 6),
        ];
        let (i, why) = check_realm_prices(&bad).unwrap_err();
        assert_eq!(i, 2);
        assert!(why.contains("\"a\""), "{why}");
    }
}

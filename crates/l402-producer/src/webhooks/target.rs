//! Where the producer may send requests of its own (webhook endpoints, a
//! directory listing's `/.well-known/l402.txt`): `http`/`https` URLs whose
//! host resolves only to public addresses, unless private ones are allowed.
//! The check is made on the addresses actually connected to (a resolver
//! that filters them), so a name that resolves differently later cannot
//! reach an internal service; literal addresses in URLs are checked too.
//! Redirects are not followed and no proxy is used.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest URL accepted.
pub(crate) const MAX_URL_CHARS: usize = 2048;

/// Whether `ip` is a public unicast address: the core's one rule.
pub(crate) use l402::address::is_public;

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlRefused {
    /// Not an absolute http(s) URL with a host, or too long, or with a
    /// user name or password.
    Invalid(&'static str),
    /// Its host is a private address and those are not allowed.
    Private,
}

impl UrlRefused {
    pub(crate) fn message(&self, field: &str) -> String {
        match self {
            UrlRefused::Invalid(why) => format!("{field} {why}"),
            UrlRefused::Private => format!(
                "{field} names a private, loopback or link-local address; only public hosts are allowed"
            ),
        }
    }
}

/// Checks a URL the producer will request.
pub(crate) fn check_url(text: &str, allow_private: bool) -> Result<Url, UrlRefused> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(UrlRefused::Invalid("is longer than 2048 characters"));
    }
    let url = Url::parse(text).map_err(|_| UrlRefused::Invalid("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::Invalid("must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Invalid(
            "must not carry a user name or password",
        ));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(UrlRefused::Invalid("has no host"));
    };
    // IPv6 literals come bracketed.
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        return Err(UrlRefused::Private);
    }
    Ok(url)
}

/// Resolves names, keeping only the addresses allowed.
struct Guarded {
    allow_private: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err("the host resolves to no public address".into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// A client for outbound requests under this policy.
pub(crate) fn client(timeout: Duration, allow_private: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("l402-producer/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(std::sync::Arc::new(Guarded { allow_private }));
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "producer: cannot build the outbound HTTP client");
        reqwest::Client::new()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused_unless_allowed() {
        for private in [
            "http://127.0.0.1/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
        ] {
            assert_eq!(
                check_url(private, false),
                Err(UrlRefused::Private),
                "{private}"
            );
            assert!(check_url(private, true).is_ok(), "{private}");
        }
        assert!(check_url("https://8.8.8.8/hook", false).is_ok());
        assert!(check_url("https://example.com/hook", false).is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "http://user:pw@example.com/",
            "",
        ] {
            assert!(
                matches!(check_url(bad, true), Err(UrlRefused::Invalid(_))),
                "{bad}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert!(check_url(&long, true).is_err());
    }
}

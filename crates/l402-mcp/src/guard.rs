//! What the buyer tools may fetch: an http(s) URL whose host resolves to
//! public addresses only, unless the policy allows loopback and private
//! ones.
//!
//! The host is resolved once and checked address by address; the fetch
//! then connects to exactly those addresses ([`Target::pin`] hands them to
//! reqwest's `resolve_to_addrs`; [`PublicOnly`] is a reqwest resolver that
//! refuses a non-public answer at connect time), so a name that changes
//! its answer between the check and the fetch (DNS rebinding) is not
//! followed to a private address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// A URL the policy allows, with the addresses its host resolved to when
/// they were checked (empty for an IP literal or when private addresses are
/// allowed).
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL.
    pub url: Url,
    /// The checked addresses (host name only).
    pub addrs: Vec<SocketAddr>,
}

impl Target {
    /// `builder` made to connect to the checked addresses only.
    pub fn pin(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match self.url.host_str() {
            Some(host) if !self.addrs.is_empty() => builder.resolve_to_addrs(host, &self.addrs),
            _ => builder,
        }
    }
}

/// Checks `url` for the fetch; `Err` says why it is refused.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use l402_mcp::guard::check_url;
/// assert!(check_url("http://127.0.0.1:8402/demo", false).await.is_err());
/// assert!(check_url("http://127.0.0.1:8402/demo", true).await.is_ok());
/// assert!(check_url("file:///etc/passwd", true).await.is_err());
/// # }
/// ```
///
/// # Errors
/// A message for the agent.
pub async fn check_url(url: &str, allow_private: bool) -> Result<Url, String> {
    check(url, allow_private).await.map(|t| t.url)
}

/// Checks `url` and returns it with the addresses checked, for
/// [`Target::pin`].
///
/// # Errors
/// A message for the agent.
pub async fn check(url: &str, allow_private: bool) -> Result<Target, String> {
    let parsed: Url = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("only http and https URLs, not {}", parsed.scheme()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "the URL has no host".to_owned())?
        .to_owned();
    if allow_private {
        return Ok(Target {
            url: parsed,
            addrs: Vec::new(),
        });
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port_or_known_default().unwrap_or(443);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        refuse_private(bare, &[SocketAddr::new(ip, port)])?;
        return Ok(Target {
            url: parsed,
            addrs: Vec::new(),
        });
    }
    let addrs = public_addrs(bare, port).await?;
    Ok(Target { url: parsed, addrs })
}

/// Resolves `host` and refuses it unless every address is public.
async fn public_addrs(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    refuse_private(host, &addrs)?;
    Ok(addrs)
}

fn refuse_private(host: &str, addrs: &[SocketAddr]) -> Result<(), String> {
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(a) = addrs.iter().find(|a| !is_public(&a.ip())) {
        return Err(format!(
            "{host} resolves to {}, a loopback, private or local address; refused \
             (the policy's allowPrivateAddresses allows it)",
            a.ip()
        ));
    }
    Ok(())
}

/// A reqwest resolver that answers only with public addresses: a name
/// resolving to any loopback, private or local address fails to connect.
/// Give it to the HTTP client a paying client fetches with
/// (`reqwest::ClientBuilder::dns_resolver`), so the address connected to is
/// the one checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = public_addrs(&host, 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// [`PublicOnly`] as reqwest takes it.
pub fn public_only() -> Arc<PublicOnly> {
    Arc::new(PublicOnly)
}

/// Whether `ip` is a public unicast address: the core's one rule
/// ([`l402::address::is_public`]), shared with the producer's own requests.
pub fn is_public(ip: &IpAddr) -> bool {
    l402::address::is_public(*ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(&ip.parse().unwrap()), "{ip}");
        }
        assert!(is_public(&"1.1.1.1".parse().unwrap()));
        assert!(is_public(&"2606:4700::1111".parse().unwrap()));
    }

    #[tokio::test]
    async fn loopback_names_refused() {
        assert!(check_url("http://localhost:1/x", false).await.is_err());
        assert!(check_url("http://[::1]:1/x", false).await.is_err());
    }
}

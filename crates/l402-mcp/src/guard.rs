//! What `access_l402_resource` may fetch: an http(s) URL whose host
//! resolves to public addresses only, unless the policy allows loopback and
//! private ones.
//!
//! The host is resolved here and checked address by address; the fetch
//! resolves again, so a name that changes its answer in between (DNS
//! rebinding) is not caught by this check alone.

use std::net::IpAddr;

use reqwest::Url;

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
    let parsed: Url = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("only http and https URLs, not {}", parsed.scheme()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "the URL has no host".to_owned())?;
    if allow_private {
        return Ok(parsed);
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let port = parsed.port_or_known_default().unwrap_or(443);
            tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .map(|a| a.ip())
                .collect()
        }
    };
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(ip) = addresses.iter().find(|ip| !is_public(ip)) {
        return Err(format!(
            "{host} resolves to {ip}, a loopback, private or local address; refused \
             (the policy's allowPrivateAddresses allows it)"
        ));
    }
    Ok(parsed)
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10 (carrier-grade NAT) and 0.0.0.0/8.
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80) // link local
        }
    }
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

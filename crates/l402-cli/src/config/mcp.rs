//! `[mcp]`: the MCP server over streamable HTTP at `/mcp` (seller tools for
//! merchants, operator tools for the admin), and which hosts may reach it.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{ConfigError, err};

/// `[mcp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Serve `/mcp` (default true, with the producer API).
    pub enabled: Option<bool>,
    /// The `Host` names (or `host:port`) `/mcp` answers; default the
    /// loopback names and the listen address.
    pub allowed_hosts: Option<Vec<String>>,
    /// Browser origins allowed besides those on an allowed host.
    pub allowed_origins: Option<Vec<String>>,
}

/// `[mcp]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mcp {
    /// Serve it (needs the producer API: merchants and the admin token).
    pub enabled: bool,
    /// Allowed `Host` names.
    pub allowed_hosts: Vec<String>,
    /// Allowed `Origin`s besides those on an allowed host.
    pub allowed_origins: Vec<String>,
}

impl Mcp {
    /// The `/mcp` endpoint's settings.
    pub fn http(&self) -> l402_mcp::http::HttpConfig {
        l402_mcp::http::HttpConfig::default()
            .allowed_hosts(self.allowed_hosts.clone())
            .allowed_origins(self.allowed_origins.clone())
    }
}

/// `[mcp]` checked: hosts are names or addresses with an optional port,
/// origins `http(s)://host[:port]`.
pub(super) fn resolve(
    source: &str,
    file: McpConfig,
    listen: SocketAddr,
    producer_enabled: bool,
) -> Result<Mcp, ConfigError> {
    let enabled = file.enabled.unwrap_or(producer_enabled);
    if enabled && !producer_enabled {
        return Err(err(
            source,
            "mcp.enabled",
            "/mcp needs the producer API (its merchants and admin token): enable [producer] \
             or set mcp.enabled = false",
        ));
    }
    let allowed_hosts = match file.allowed_hosts {
        Some(hosts) => {
            for host in &hosts {
                let ok = !host.trim().is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c));
                if !ok {
                    return Err(err(
                        source,
                        "mcp.allowed_hosts",
                        format!(
                            "{host:?} is not a host name or address (pay.example.com, 127.0.0.1:8402)"
                        ),
                    ));
                }
            }
            hosts
        }
        None => {
            let mut hosts = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            let ip = listen.ip();
            if !ip.is_unspecified() && !hosts.contains(&ip.to_string()) {
                hosts.push(ip.to_string());
            }
            hosts
        }
    };
    let allowed_origins = file.allowed_origins.unwrap_or_default();
    for origin in &allowed_origins {
        let ok = reqwest::Url::parse(origin).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/"
        });
        if !ok {
            return Err(err(
                source,
                "mcp.allowed_origins",
                format!("{origin:?} is not an origin like https://app.example.com"),
            ));
        }
    }
    Ok(Mcp {
        enabled,
        allowed_hosts,
        allowed_origins,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        "127.0.0.1:8402".parse().unwrap()
    }

    #[test]
    fn defaults_follow_the_producer_and_loopback() {
        let m = resolve("f", McpConfig::default(), listen(), true).unwrap();
        assert!(m.enabled);
        assert_eq!(m.allowed_hosts, ["localhost", "127.0.0.1", "::1"]);
        let m = resolve(
            "f",
            McpConfig::default(),
            "10.1.2.3:80".parse().unwrap(),
            false,
        )
        .unwrap();
        assert!(!m.enabled);
        assert!(m.allowed_hosts.contains(&"10.1.2.3".to_owned()));
    }

    #[test]
    fn bad_values_name_the_key() {
        let on = McpConfig {
            enabled: Some(true),
            ..McpConfig::default()
        };
        assert_eq!(
            resolve("f", on, listen(), false).unwrap_err().key,
            "mcp.enabled"
        );
        let hosts = McpConfig {
            allowed_hosts: Some(vec!["evil host/".into()]),
            ..McpConfig::default()
        };
        assert_eq!(
            resolve("f", hosts, listen(), true).unwrap_err().key,
            "mcp.allowed_hosts"
        );
        let origins = McpConfig {
            allowed_origins: Some(vec!["app.example.com".into()]),
            ..McpConfig::default()
        };
        assert_eq!(
            resolve("f", origins, listen(), true).unwrap_err().key,
            "mcp.allowed_origins"
        );
    }
}

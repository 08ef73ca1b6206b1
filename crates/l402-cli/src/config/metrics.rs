//! `[metrics]`: Prometheus metrics at `/metrics`, on a listener of their own
//! (`listen = "127.0.0.1:9402"`, no authentication: keep it private) or on
//! the main listener behind the admin token (`Authorization: Bearer <admin
//! token>`).

use std::net::SocketAddr;

use serde::Deserialize;

use super::{ConfigError, err};

/// `[metrics]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` (default: true when `listen` is set, else false).
    pub enabled: Option<bool>,
    /// A listener of its own (`127.0.0.1:9402`); without it, `/metrics` is
    /// on the main listener behind the admin token.
    pub listen: Option<String>,
}

/// `[metrics]`, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metrics {
    /// Count and serve metrics.
    pub enabled: bool,
    /// Their own listener, if any.
    pub listen: Option<SocketAddr>,
}

/// `[metrics]` checked: an address, not the main listener's.
pub(super) fn resolve(
    source: &str,
    file: MetricsConfig,
    main: SocketAddr,
) -> Result<Metrics, ConfigError> {
    let listen = match &file.listen {
        Some(text) => {
            let addr: SocketAddr = text.parse().map_err(|_| {
                err(
                    source,
                    "metrics.listen",
                    format!("{text:?} is not an address like 127.0.0.1:9402"),
                )
            })?;
            if addr == main && addr.port() != 0 {
                return Err(err(
                    source,
                    "metrics.listen",
                    format!(
                        "{addr} is the main listener; leave listen out to serve /metrics there \
                         behind the admin token"
                    ),
                ));
            }
            Some(addr)
        }
        None => None,
    };
    let enabled = file.enabled.unwrap_or(listen.is_some());
    Ok(Metrics {
        enabled,
        listen: listen.filter(|_| enabled),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn main() -> SocketAddr {
        "127.0.0.1:8402".parse().unwrap()
    }

    #[test]
    fn off_unless_asked() {
        let m = resolve("f", MetricsConfig::default(), main()).unwrap();
        assert_eq!(m, Metrics::default());
        let file = MetricsConfig {
            enabled: Some(true),
            listen: None,
        };
        let m = resolve("f", file, main()).unwrap();
        assert!(m.enabled && m.listen.is_none());
    }

    #[test]
    fn a_listen_address_turns_them_on() {
        let file = MetricsConfig {
            enabled: None,
            listen: Some("127.0.0.1:9402".into()),
        };
        let m = resolve("f", file, main()).unwrap();
        assert!(m.enabled);
        assert_eq!(m.listen, Some("127.0.0.1:9402".parse().unwrap()));
    }

    #[test]
    fn bad_addresses_are_named() {
        let file = MetricsConfig {
            enabled: None,
            listen: Some("localhost".into()),
        };
        let e = resolve("c.toml", file, main()).unwrap_err();
        assert_eq!(e.key, "metrics.listen");
        assert!(e.reason.contains("\"localhost\""), "{}", e.reason);
        let file = MetricsConfig {
            enabled: None,
            listen: Some("127.0.0.1:8402".into()),
        };
        let e = resolve("c.toml", file, main()).unwrap_err();
        assert!(e.reason.contains("main listener"), "{}", e.reason);
    }
}

//! `[telemetry]`: tracing spans with OpenTelemetry's names, exported over
//! OTLP/HTTP (protobuf) when an endpoint is configured:
//! `otlp_endpoint = "http://127.0.0.1:4318"` (a collector's base URL; spans
//! go to `<endpoint>/v1/traces`), else the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT`. Without either, nothing is exported and the
//! spans cost nothing.

use serde::Deserialize;

use super::{ConfigError, err};

/// The service name spans carry unless `service_name` says otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "l402";

/// The standard variable naming the collector's base URL.
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// `[telemetry]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector's base URL (`http://127.0.0.1:4318`).
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the spans (default `l402`).
    pub service_name: Option<String>,
}

/// `[telemetry]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Telemetry {
    /// Where spans are sent (`<base>/v1/traces`); `None`: not exported.
    pub traces_url: Option<String>,
    /// `service.name`.
    pub service_name: String,
}

/// `[telemetry]` checked; `env` reads [`OTLP_ENDPOINT_VAR`] when the file
/// names no endpoint.
pub(super) fn resolve(
    source: &str,
    file: TelemetryConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Telemetry, ConfigError> {
    let (endpoint, key, from) = match file.otlp_endpoint {
        Some(e) => (Some(e), "telemetry.otlp_endpoint", source.to_owned()),
        None => (
            env(OTLP_ENDPOINT_VAR).filter(|e| !e.trim().is_empty()),
            OTLP_ENDPOINT_VAR,
            "the environment".to_owned(),
        ),
    };
    let traces_url = match endpoint {
        Some(text) => {
            let url = reqwest::Url::parse(text.trim()).map_err(|e| {
                err(
                    &from,
                    key,
                    format!("{text:?} is not a URL like http://127.0.0.1:4318: {e}"),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(err(
                    &from,
                    key,
                    format!("{text:?} is not an http(s) URL like http://127.0.0.1:4318"),
                ));
            }
            let base = url.as_str().trim_end_matches('/');
            Some(format!("{base}/v1/traces"))
        }
        None => None,
    };
    let service_name = file
        .service_name
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    if service_name.is_empty() || service_name.len() > 128 {
        return Err(err(
            source,
            "telemetry.service_name",
            "between 1 and 128 characters",
        ));
    }
    Ok(Telemetry {
        traces_url,
        service_name,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn off_without_an_endpoint() {
        let t = resolve("f", TelemetryConfig::default(), &none).unwrap();
        assert_eq!(t.traces_url, None);
        assert_eq!(t.service_name, "l402");
    }

    #[test]
    fn the_file_wins_over_the_environment() {
        let env = |_: &str| Some("http://env:4318".to_owned());
        let file = TelemetryConfig {
            otlp_endpoint: Some("http://127.0.0.1:4318/".into()),
            service_name: Some("shop".into()),
        };
        let t = resolve("f", file, &env).unwrap();
        assert_eq!(
            t.traces_url.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(t.service_name, "shop");
        let t = resolve("f", TelemetryConfig::default(), &env).unwrap();
        assert_eq!(t.traces_url.as_deref(), Some("http://env:4318/v1/traces"));
    }

    #[test]
    fn bad_endpoints_are_named() {
        let file = TelemetryConfig {
            otlp_endpoint: Some("127.0.0.1:4318".into()),
            service_name: None,
        };
        let e = resolve("c.toml", file, &none).unwrap_err();
        assert_eq!(e.key, "telemetry.otlp_endpoint");
        let env = |_: &str| Some("ftp://x".to_owned());
        let e = resolve("c.toml", TelemetryConfig::default(), &env).unwrap_err();
        assert_eq!(e.key, OTLP_ENDPOINT_VAR);
    }
}

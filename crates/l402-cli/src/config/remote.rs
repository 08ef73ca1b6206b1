//! `[remote]`: the paid routes sold through a remote producer API (ours, or
//! Lightning Enable's) instead of a local Lightning backend: the server then
//! holds a merchant API key and nothing else (no node, no server secret, no
//! store).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BackendConfig, ConfigError, Overrides, ProducerConfig, err};

/// `[remote]`, as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The producer's base URL (`https://api.lightningenable.com`, or an
    /// `l402 serve` with its producer API).
    pub url: Option<String>,
    /// The merchant API key (or `api_key_file`, or `L402_REMOTE_API_KEY`).
    pub api_key: Option<String>,
    /// A file holding the API key (relative to the config file).
    pub api_key_file: Option<PathBuf>,
    /// Seconds one call may take, waiting for a slot included (default 10).
    pub timeout_secs: Option<u64>,
    /// Seconds connecting may take (default 3).
    pub connect_timeout_secs: Option<u64>,
    /// The most calls in flight at once (default 256).
    pub max_in_flight: Option<usize>,
    /// Seconds a verified credential is served from the cache before the
    /// producer is asked again: how long a revoked key keeps working
    /// (default 60; 0 = until the token expires).
    pub recheck_secs: Option<u64>,
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `--remote-url` / `L402_REMOTE_URL` and `L402_REMOTE_API_KEY`.
#[derive(Default, Clone)]
pub struct RemoteOverrides {
    /// The producer's base URL.
    pub url: Option<String>,
    /// The merchant API key.
    pub api_key: Option<String>,
}

impl fmt::Debug for RemoteOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteOverrides")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The remote producer, resolved. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    /// Base URL.
    pub url: String,
    /// Merchant API key.
    pub api_key: String,
    /// Call timeout, seconds.
    pub timeout_secs: u64,
    /// Connect timeout, seconds.
    pub connect_timeout_secs: u64,
    /// Calls in flight.
    pub max_in_flight: usize,
    /// Re-check interval, seconds (0: never).
    pub recheck_secs: u64,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// The `[remote]` table and its overrides, resolved; `None` when no URL is
/// set (the paid routes use the local backend).
///
/// # Errors
/// A [`ConfigError`] naming the key: a URL that is not http(s), no API
/// key, an unreadable key file, a setting out of range.
pub fn resolve(
    source: &str,
    file: RemoteConfig,
    overrides: &RemoteOverrides,
    base_dir: Option<&Path>,
) -> Result<Option<Remote>, ConfigError> {
    let (url_src, url) = match (&overrides.url, file.url) {
        (Some(url), _) if !url.is_empty() => ("--remote-url / L402_REMOTE_URL", url.clone()),
        (_, Some(url)) => (source, url),
        (_, None) => {
            let stray = [
                ("api_key", file.api_key.is_some()),
                ("api_key_file", file.api_key_file.is_some()),
                ("timeout_secs", file.timeout_secs.is_some()),
                ("connect_timeout_secs", file.connect_timeout_secs.is_some()),
                ("max_in_flight", file.max_in_flight.is_some()),
                ("recheck_secs", file.recheck_secs.is_some()),
            ]
            .into_iter()
            .find_map(|(key, set)| set.then_some(key));
            return match stray {
                Some(key) => Err(err(
                    source,
                    &format!("remote.{key}"),
                    "is set but remote.url is not: set the producer's URL",
                )),
                None => Ok(None),
            };
        }
    };
    let api_key = match (&overrides.api_key, file.api_key, file.api_key_file) {
        (Some(key), _, _) if !key.is_empty() => key.clone(),
        (_, Some(_), Some(_)) => {
            return Err(err(
                source,
                "remote.api_key",
                "set api_key or api_key_file, not both",
            ));
        }
        (_, Some(key), None) => key,
        (_, None, Some(path)) => {
            let path = base_dir.map_or(path.clone(), |d| d.join(&path));
            std::fs::read_to_string(&path)
                .map_err(|e| {
                    err(
                        source,
                        "remote.api_key_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?
                .trim()
                .to_owned()
        }
        (_, None, None) => {
            return Err(err(
                source,
                "remote.api_key",
                "required with remote.url: the merchant API key (or api_key_file, or L402_REMOTE_API_KEY)",
            ));
        }
    };
    let timeout_secs = file.timeout_secs.unwrap_or(10);
    if !(1..=300).contains(&timeout_secs) {
        return Err(err(
            source,
            "remote.timeout_secs",
            "must be between 1 and 300",
        ));
    }
    let connect_timeout_secs = file.connect_timeout_secs.unwrap_or(3);
    if !(1..=60).contains(&connect_timeout_secs) {
        return Err(err(
            source,
            "remote.connect_timeout_secs",
            "must be between 1 and 60",
        ));
    }
    let max_in_flight = file.max_in_flight.unwrap_or(256);
    if !(1..=100_000).contains(&max_in_flight) {
        return Err(err(
            source,
            "remote.max_in_flight",
            "must be between 1 and 100000",
        ));
    }
    let recheck_secs = file.recheck_secs.unwrap_or(60);
    if recheck_secs > 86_400 {
        return Err(err(
            source,
            "remote.recheck_secs",
            "must be between 0 (never) and 86400",
        ));
    }
    let remote = Remote {
        url,
        api_key,
        timeout_secs,
        connect_timeout_secs,
        max_in_flight,
        recheck_secs,
    };
    // The same checks the layer's client makes (URL, key), reported here.
    remote.producer().map_err(|e| match e {
        l402_server::RemoteConfigError::BaseUrl(_) => err(url_src, "remote.url", e.to_string()),
        other => err(source, "remote.api_key", other.to_string()),
    })?;
    Ok(Some(remote))
}

/// With a remote producer, the server has no Lightning backend and serves
/// no producer API of its own: a setting for either is a mistake, not
/// something to ignore.
///
/// # Errors
/// A [`ConfigError`] naming the first such setting.
pub fn check_alone(
    source: &str,
    remote: Option<&Remote>,
    backend: &BackendConfig,
    overrides: &Overrides,
    producer: &ProducerConfig,
) -> Result<(), ConfigError> {
    if remote.is_none() {
        return Ok(());
    }
    let why =
        "is not used with a remote producer ([remote] url): the producer holds the Lightning node";
    if overrides.backend.is_some() {
        return Err(err("--backend / L402_BACKEND", "backend.kind", why));
    }
    let set = [
        ("kind", backend.kind.is_some()),
        ("url", backend.url.is_some()),
        ("invoice_key", backend.invoice_key.is_some()),
        ("timeout_secs", backend.timeout_secs.is_some()),
    ]
    .into_iter()
    .find_map(|(key, set)| set.then_some(key))
    .or_else(|| backend.node_only_key());
    if let Some(key) = set {
        return Err(err(source, &format!("backend.{key}"), why));
    }
    if producer.enabled == Some(true) {
        return Err(err(
            source,
            "producer.enabled",
            "cannot be true with a remote producer ([remote] url): this server has no node to sell with",
        ));
    }
    Ok(())
}

impl Remote {
    /// The client every paid route shares (one connection pool).
    ///
    /// # Errors
    /// As [`l402_server::RemoteProducerBuilder::build`].
    pub fn producer(&self) -> Result<l402_server::RemoteProducer, l402_server::RemoteConfigError> {
        l402_server::RemoteProducer::builder(self.api_key.clone())
            .base_url(self.url.clone())
            .timeout(std::time::Duration::from_secs(self.timeout_secs))
            .connect_timeout(std::time::Duration::from_secs(self.connect_timeout_secs))
            .max_in_flight(self.max_in_flight)
            .recheck_after(
                (self.recheck_secs > 0).then(|| std::time::Duration::from_secs(self.recheck_secs)),
            )
            .build()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RemoteConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn resolves_and_refuses() {
        let none = RemoteOverrides::default();
        assert_eq!(resolve("f", parse(""), &none, None), Ok(None));
        let ok = resolve(
            "f",
            parse("url = \"http://127.0.0.1:9/\"\napi_key = \"k\"\ntimeout_secs = 2"),
            &none,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (ok.url.as_str(), ok.timeout_secs),
            ("http://127.0.0.1:9/", 2)
        );
        assert!(!format!("{ok:?}").contains("\"k\""));
        let e = resolve("f", parse("url = \"http://x\""), &none, None).unwrap_err();
        assert_eq!(e.key, "remote.api_key");
        let e = resolve("f", parse("api_key = \"k\""), &none, None).unwrap_err();
        assert_eq!(e.key, "remote.api_key");
        let e = resolve(
            "f",
            parse("url = \"ftp://x\"\napi_key = \"k\""),
            &none,
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "remote.url");
        let e = resolve(
            "f",
            parse("url = \"http://x\"\napi_key = \"k\"\nmax_in_flight = 0"),
            &none,
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "remote.max_in_flight");
        let env = RemoteOverrides {
            url: Some("http://y".into()),
            api_key: Some("from-env".into()),
        };
        let ok = resolve("f", parse(""), &env, None).unwrap().unwrap();
        assert_eq!(
            (ok.url.as_str(), ok.api_key.as_str()),
            ("http://y", "from-env")
        );
    }

    #[test]
    fn a_remote_producer_leaves_no_room_for_a_backend_or_a_producer_api() {
        let remote = resolve(
            "f",
            parse("url = \"http://x\"\napi_key = \"k\""),
            &RemoteOverrides::default(),
            None,
        )
        .unwrap();
        let check = |backend: &str, producer: &str, overrides: &Overrides| {
            check_alone(
                "f",
                remote.as_ref(),
                &toml::from_str(backend).unwrap(),
                overrides,
                &toml::from_str(producer).unwrap(),
            )
        };
        let none = Overrides::default();
        assert_eq!(check("", "", &none), Ok(()));
        assert_eq!(check("", "enabled = false", &none), Ok(()));
        assert_eq!(
            check("kind = \"lnbits\"", "", &none).unwrap_err().key,
            "backend.kind"
        );
        assert_eq!(
            check("rune = \"r\"", "", &none).unwrap_err().key,
            "backend.rune"
        );
        assert_eq!(
            check("", "enabled = true", &none).unwrap_err().key,
            "producer.enabled"
        );
        let flag = Overrides {
            backend: Some("dev".into()),
            ..Overrides::default()
        };
        assert_eq!(
            check("", "", &flag).unwrap_err().source,
            "--backend / L402_BACKEND"
        );
        // Without a remote producer, nothing to check here.
        let local = check_alone(
            "f",
            None,
            &toml::from_str("kind = \"lnbits\"").unwrap(),
            &flag,
            &ProducerConfig::default(),
        );
        assert_eq!(local, Ok(()));
    }
}

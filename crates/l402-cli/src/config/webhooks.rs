//! `[webhooks]`: webhooks out (retries, bounds, which targets merchants may
//! register) and in (the signing secrets of backends that push payment
//! notifications); `[directory]`: the API directory's limits.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, err};

/// `[webhooks]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Let merchants register endpoints on private, loopback and
    /// link-local addresses (default false).
    pub allow_private_targets: Option<bool>,
    /// Attempts per delivery (default 12).
    pub max_attempts: Option<u32>,
    /// The pause after the first failure, doubling after each (default 5).
    pub first_retry_secs: Option<u64>,
    /// The longest pause (default 3600).
    pub max_retry_secs: Option<u64>,
    /// Pending deliveries per merchant (default 10000).
    pub max_queued: Option<u32>,
    /// How long an endpoint may take to answer (default 10).
    pub timeout_secs: Option<u64>,
    /// A file holding phoenixd's `webhook-secret`: turns on
    /// `POST /api/webhooks/in/phoenixd`.
    pub phoenixd_secret_file: Option<PathBuf>,
    /// A file holding Blink's Svix secret (`whsec_…`): turns on
    /// `POST /api/webhooks/in/blink` and `/api/blink-webhook`.
    pub blink_secret_file: Option<PathBuf>,
}

/// `[directory]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFileConfig {
    /// Accept listings on private, loopback and link-local hosts (default false).
    pub allow_private_targets: Option<bool>,
    /// Registrations per client address per hour (default 10; 0: no limit).
    pub per_hour: Option<u32>,
    /// The most listings (default 10000).
    pub max_listings: Option<u32>,
}

/// Webhooks and the directory, resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhooks {
    /// Private targets allowed (webhooks).
    pub allow_private_targets: bool,
    /// Attempts per delivery.
    pub max_attempts: u32,
    /// First and longest pause.
    pub retry: (Duration, Duration),
    /// Pending deliveries per merchant.
    pub max_queued: u32,
    /// Endpoint timeout.
    pub timeout: Duration,
    /// phoenixd's webhook secret.
    phoenixd_secret: Option<String>,
    /// Blink's Svix secret.
    blink_secret: Option<String>,
    /// Private hosts allowed (directory).
    pub directory_allow_private: bool,
    /// Registrations per hour per client.
    pub directory_per_hour: u32,
    /// The most listings.
    pub directory_max_listings: u32,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets.
        f.debug_struct("Webhooks")
            .field("allow_private_targets", &self.allow_private_targets)
            .field("max_attempts", &self.max_attempts)
            .field("phoenixd_in", &self.phoenixd_secret.is_some())
            .field("blink_in", &self.blink_secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// The producer's webhook settings.
    ///
    /// # Errors
    /// A Blink secret that is not `whsec_` and base64 (checked at load
    /// already, so this does not happen for a resolved configuration).
    pub fn producer_config(
        &self,
    ) -> Result<l402_producer::WebhookConfig, l402_producer::InboundSecretError> {
        let mut config = l402_producer::WebhookConfig::default()
            .allow_private_targets(self.allow_private_targets)
            .max_attempts(self.max_attempts)
            .backoff(self.retry.0, self.retry.1)
            .max_queued(self.max_queued)
            .timeout(self.timeout);
        if let Some(s) = &self.phoenixd_secret {
            config = config.phoenixd_webhook_secret(s.clone());
        }
        if let Some(s) = &self.blink_secret {
            config = config.blink_webhook_secret(s)?;
        }
        Ok(config)
    }

    /// The producer's directory settings.
    pub fn directory_config(&self) -> l402_producer::DirectoryConfig {
        l402_producer::DirectoryConfig::default()
            .allow_private_targets(self.directory_allow_private)
            .per_hour(self.directory_per_hour)
            .max_listings(self.directory_max_listings)
    }
}

fn read_secret(
    source: &str,
    key: &str,
    file: Option<PathBuf>,
    base_dir: Option<&Path>,
) -> Result<Option<String>, ConfigError> {
    let Some(file) = file else { return Ok(None) };
    let path = match base_dir {
        Some(dir) if file.is_relative() => dir.join(&file),
        _ => file,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| err(source, key, format!("cannot read {}: {e}", path.display())))?;
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(err(source, key, format!("{} is empty", path.display())));
    }
    Ok(Some(text))
}

/// `[webhooks]` and `[directory]`, checked.
pub(super) fn resolve(
    source: &str,
    file: WebhooksConfig,
    directory: DirectoryFileConfig,
    base_dir: Option<&Path>,
) -> Result<Webhooks, ConfigError> {
    let first = file.first_retry_secs.unwrap_or(5);
    let max = file.max_retry_secs.unwrap_or(3600);
    if first == 0 || max < first {
        return Err(err(
            source,
            "webhooks.first_retry_secs",
            "must be at least 1 and at most webhooks.max_retry_secs",
        ));
    }
    let timeout = file.timeout_secs.unwrap_or(10);
    if timeout == 0 {
        return Err(err(source, "webhooks.timeout_secs", "must be at least 1"));
    }
    let phoenixd_secret = read_secret(
        source,
        "webhooks.phoenixd_secret_file",
        file.phoenixd_secret_file,
        base_dir,
    )?;
    let blink_secret = read_secret(
        source,
        "webhooks.blink_secret_file",
        file.blink_secret_file,
        base_dir,
    )?;
    if let Some(s) = &blink_secret
        && l402_producer::WebhookConfig::default()
            .blink_webhook_secret(s)
            .is_err()
    {
        return Err(err(
            source,
            "webhooks.blink_secret_file",
            "the file must hold a Svix secret: whsec_ followed by base64",
        ));
    }
    Ok(Webhooks {
        allow_private_targets: file.allow_private_targets.unwrap_or(false),
        max_attempts: file.max_attempts.unwrap_or(12).max(1),
        retry: (Duration::from_secs(first), Duration::from_secs(max)),
        max_queued: file.max_queued.unwrap_or(10_000).max(1),
        timeout: Duration::from_secs(timeout),
        phoenixd_secret,
        blink_secret,
        directory_allow_private: directory.allow_private_targets.unwrap_or(false),
        directory_per_hour: directory.per_hour.unwrap_or(10),
        directory_max_listings: directory.max_listings.unwrap_or(10_000).max(1),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (WebhooksConfig, DirectoryFileConfig) {
        #[derive(Deserialize)]
        struct Both {
            #[serde(default)]
            webhooks: WebhooksConfig,
            #[serde(default)]
            directory: DirectoryFileConfig,
        }
        let both: Both = toml::from_str(text).unwrap();
        (both.webhooks, both.directory)
    }

    #[test]
    fn webhooks_and_directory_sections() {
        let (w, d) = parse("");
        let resolved = resolve("f.toml", w, d, None).unwrap();
        assert!(!resolved.allow_private_targets && !resolved.directory_allow_private);
        assert_eq!(
            (resolved.max_attempts, resolved.directory_per_hour),
            (12, 10)
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blink"), "whsec_c2VjcmV0\n").unwrap();
        std::fs::write(dir.path().join("phx"), "phoenix-secret\n").unwrap();
        let (w, d) = parse(
            "[webhooks]\nallow_private_targets = true\nfirst_retry_secs = 1\nmax_retry_secs = 2\n\
             blink_secret_file = \"blink\"\nphoenixd_secret_file = \"phx\"\n\
             [directory]\nper_hour = 3\n",
        );
        let resolved = resolve("f.toml", w, d, Some(dir.path())).unwrap();
        assert!(resolved.allow_private_targets);
        assert_eq!(resolved.directory_per_hour, 3);
        assert!(resolved.producer_config().is_ok());
        // Secrets never in Debug.
        let shown = format!("{resolved:?}");
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("phoenix-secret"),
            "{shown}"
        );

        std::fs::write(dir.path().join("bad"), "not base64 !!").unwrap();
        let (w, d) = parse("[webhooks]\nblink_secret_file = \"bad\"\n");
        let e = resolve("f.toml", w, d, Some(dir.path())).unwrap_err();
        assert!(e.to_string().contains("webhooks.blink_secret_file"), "{e}");
        let (w, d) = parse("[webhooks]\nfirst_retry_secs = 10\nmax_retry_secs = 5\n");
        assert!(resolve("f.toml", w, d, None).is_err());
    }
}

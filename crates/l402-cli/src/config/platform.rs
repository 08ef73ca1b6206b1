//! `[splits]`: each settled payment's share paid to its owner's Lightning
//! Address, minus the operator's fee; `[passes]`: time-based access sold at
//! `/api/dev-token`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, err};

/// The variable that may hold `POST /api/split`'s `x-split-secret`.
pub const SPLIT_SECRET_ENV: &str = "L402_SPLIT_SECRET";
/// The default minimum payout (the producer's, l402kit's 10 sats).
const DEFAULT_MINIMUM_SATS: u64 = 10;

/// `[splits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitsFileConfig {
    /// Pay splits (default false; needs a backend that can pay).
    pub enabled: Option<bool>,
    /// The operator's fee, in basis points of each payment (default 0).
    pub fee_bps: Option<u32>,
    /// Below this many sats a share accrues (default 10).
    pub minimum_sats: Option<u64>,
    /// A file holding `POST /api/split`'s secret (else `L402_SPLIT_SECRET`;
    /// with neither, that route answers 403).
    pub secret_file: Option<PathBuf>,
    /// Resolve Lightning Addresses over `http` (local tests only).
    pub allow_http: Option<bool>,
    /// Seconds before a failed payout is tried again, doubling (default 30).
    pub retry_secs: Option<u64>,
}

/// `[passes]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassesFileConfig {
    /// Sell passes at `/api/dev-token` (default true).
    pub enabled: Option<bool>,
    /// How long a pass lasts, in days (default 30).
    pub days: Option<u32>,
    /// The price of a pass, in sats (default 9000).
    pub price: Option<u64>,
}

/// `[splits]`, resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Splits {
    /// Splits are paid.
    pub enabled: bool,
    /// The operator's fee in basis points.
    pub fee_bps: u32,
    /// The minimum payout.
    pub minimum_sats: u64,
    /// Addresses over `http`.
    pub allow_http: bool,
    /// The first retry delay.
    pub retry: Duration,
    secret: Option<String>,
}

impl fmt::Debug for Splits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("Splits")
            .field("enabled", &self.enabled)
            .field("fee_bps", &self.fee_bps)
            .field("minimum_sats", &self.minimum_sats)
            .field("secret", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Splits {
    /// The producer's splits, paid by `wallet`.
    pub fn producer_config(
        &self,
        wallet: Arc<dyn l402_lightning::Wallet>,
    ) -> l402_producer::SplitsConfig {
        let mut config = l402_producer::SplitsConfig::new(wallet)
            .operator_fee_bps(self.fee_bps)
            .min_payout_sats(self.minimum_sats)
            .allow_http(self.allow_http)
            .retry_after(self.retry);
        if let Some(secret) = &self.secret {
            config = config.secret(secret);
        }
        config
    }
}

/// `[passes]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passes {
    /// Passes are sold.
    pub enabled: bool,
    /// How long a pass lasts.
    pub duration: Duration,
    /// Its price in sats.
    pub price_sats: u64,
}

impl Passes {
    /// The paths that answer 404 when passes are not sold.
    pub const PATHS: [&'static str; 3] = ["/api/dev-token", "/api/pro-check", "/api/pass"];

    /// The producer's pass settings.
    pub fn producer_config(&self) -> l402_producer::PassConfig {
        l402_producer::PassConfig::default()
            .price_sats(self.price_sats)
            .duration(self.duration)
    }
}

/// `[splits]` and `[passes]`, checked; `env_secret` is
/// `L402_SPLIT_SECRET`'s value, if set.
pub(super) fn resolve(
    source: &str,
    splits: SplitsFileConfig,
    passes: PassesFileConfig,
    env_secret: Option<String>,
    base_dir: Option<&Path>,
) -> Result<(Splits, Passes), ConfigError> {
    let fee_bps = splits.fee_bps.unwrap_or(0);
    if fee_bps > 10_000 {
        return Err(err(
            source,
            "splits.fee_bps",
            "must be at most 10000 (100%)",
        ));
    }
    let minimum_sats = splits.minimum_sats.unwrap_or(DEFAULT_MINIMUM_SATS);
    if minimum_sats == 0 {
        return Err(err(source, "splits.minimum_sats", "must be at least 1"));
    }
    let retry = splits.retry_secs.unwrap_or(30);
    if retry == 0 {
        return Err(err(source, "splits.retry_secs", "must be at least 1"));
    }
    let secret = match splits.secret_file {
        Some(file) => {
            let path = match base_dir {
                Some(dir) if file.is_relative() => dir.join(&file),
                _ => file,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                err(
                    source,
                    "splits.secret_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Err(err(
                    source,
                    "splits.secret_file",
                    format!("{} is empty", path.display()),
                ));
            }
            Some(text)
        }
        None => env_secret
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    };
    if secret.as_ref().is_some_and(|s| s.len() < 16) {
        return Err(err(
            source,
            "splits.secret_file",
            format!("the split secret (file or {SPLIT_SECRET_ENV}) must be at least 16 characters"),
        ));
    }
    let days = passes.days.unwrap_or(30);
    if days == 0 || days > 3650 {
        return Err(err(source, "passes.days", "must be between 1 and 3650"));
    }
    let price_sats = passes
        .price
        .unwrap_or_else(|| l402_producer::PassConfig::default().price());
    if price_sats == 0 {
        return Err(err(source, "passes.price", "must be at least 1 sat"));
    }
    Ok((
        Splits {
            enabled: splits.enabled.unwrap_or(false),
            fee_bps,
            minimum_sats,
            allow_http: splits.allow_http.unwrap_or(false),
            retry: Duration::from_secs(retry),
            secret,
        },
        Passes {
            enabled: passes.enabled.unwrap_or(true),
            duration: Duration::from_secs(u64::from(days) * 24 * 3600),
            price_sats,
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (SplitsFileConfig, PassesFileConfig) {
        #[derive(Deserialize)]
        struct Both {
            #[serde(default)]
            splits: SplitsFileConfig,
            #[serde(default)]
            passes: PassesFileConfig,
        }
        let both: Both = toml::from_str(text).unwrap();
        (both.splits, both.passes)
    }

    #[test]
    fn splits_and_passes_sections() {
        let (s, p) = parse("");
        let (splits, passes) = resolve("f.toml", s, p, None, None).unwrap();
        assert!(!splits.enabled && passes.enabled);
        assert_eq!((splits.fee_bps, splits.minimum_sats), (0, 10));
        assert_eq!(passes.price_sats, 9_000);
        assert_eq!(passes.duration, Duration::from_secs(30 * 86_400));

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "a-split-secret-of-some-length\n").unwrap();
        let (s, p) = parse(
            "[splits]\nenabled = true\nfee_bps = 30\nminimum_sats = 5\nsecret_file = \"secret\"\n\
             [passes]\nenabled = false\ndays = 7\nprice = 500\n",
        );
        let (splits, passes) = resolve(
            "f.toml",
            s,
            p,
            Some("from-env-ignored-here".into()),
            Some(dir.path()),
        )
        .unwrap();
        assert!(splits.enabled && !passes.enabled);
        assert_eq!((splits.fee_bps, splits.minimum_sats), (30, 5));
        assert_eq!(
            splits.secret.as_deref(),
            Some("a-split-secret-of-some-length")
        );
        assert_eq!(
            (passes.price_sats, passes.duration),
            (500, Duration::from_secs(7 * 86_400))
        );
        // The secret never in Debug.
        let shown = format!("{splits:?}");
        assert!(!shown.contains("a-split-secret"), "{shown}");

        // From the environment when there is no file.
        let (s, p) = parse("[splits]\nenabled = true\n");
        let (splits, _) =
            resolve("f.toml", s, p, Some("an-env-split-secret".into()), None).unwrap();
        assert_eq!(splits.secret.as_deref(), Some("an-env-split-secret"));

        for (text, key) in [
            ("[splits]\nfee_bps = 10001\n", "splits.fee_bps"),
            ("[splits]\nminimum_sats = 0\n", "splits.minimum_sats"),
            (
                "[splits]\nsecret_file = \"missing\"\n",
                "splits.secret_file",
            ),
            ("[passes]\ndays = 0\n", "passes.days"),
            ("[passes]\nprice = 0\n", "passes.price"),
        ] {
            let (s, p) = parse(text);
            let e = resolve("f.toml", s, p, None, Some(dir.path())).unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
        let (s, p) = parse("[splits]\n");
        let e = resolve("f.toml", s, p, Some("short".into()), None).unwrap_err();
        assert!(e.to_string().contains("at least 16"), "{e}");
        assert!(toml::from_str::<SplitsFileConfig>("unknown = 1").is_err());
    }
}

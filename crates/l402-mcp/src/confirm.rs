//! Out-of-band confirmation codes for the confirm tier: a short single-use
//! code bound to the amount, the tool and the destination, with a time to
//! live, delivered to stderr, appended to a 0600 file, or POSTed to a
//! signed webhook ([`crate::webhook`]), never in a tool result. A wrong
//! guess revokes every pending code. MCP elicitation never replaces the
//! code.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Url;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// At most this many codes are pending at once (the oldest goes).
pub const MAX_PENDING: usize = 3;
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The webhook's signing secret: read from the policy file, never written
/// back, shown or logged.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// A secret (at least 16 bytes to be accepted by the policy).
    pub fn new(secret: impl Into<String>) -> Self {
        WebhookSecret(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// How confirmation codes are delivered (the policy's `confirmation`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmationConfig {
    /// `stderr` (the terminal that started the server), `file` or
    /// `webhook`.
    pub channel: String,
    /// The file codes are appended to (created 0600) with `file`.
    pub file_path: Option<PathBuf>,
    /// The URL codes are POSTed to with `webhook` (http or https; no
    /// redirect is followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// The webhook's signing secret (at least 16 characters): each POST
    /// carries `l402-signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
    /// "<t>.<body>")>`. Never shown by any tool.
    #[serde(default, skip_serializing)]
    pub webhook_secret: Option<WebhookSecret>,
    /// Seconds a code stays valid (30 to 900).
    pub ttl_seconds: u64,
}

impl Default for ConfirmationConfig {
    fn default() -> Self {
        ConfirmationConfig {
            channel: "stderr".to_owned(),
            file_path: None,
            webhook_url: None,
            webhook_secret: None,
            ttl_seconds: 120,
        }
    }
}

/// The shortest webhook secret accepted.
pub const MIN_WEBHOOK_SECRET_CHARS: usize = 16;

impl ConfirmationConfig {
    /// The channel and code lifetime named.
    ///
    /// # Errors
    /// An unknown channel, or one without what it needs.
    pub fn channel(&self) -> Result<(Channel, Duration), String> {
        let ttl = Duration::from_secs(self.ttl_seconds.clamp(30, 900));
        let channel = match (self.channel.as_str(), &self.file_path) {
            ("stderr", _) => Channel::Stderr,
            ("file", Some(path)) => Channel::File(path.clone()),
            ("file", None) => {
                return Err("confirmation.channel \"file\" needs confirmation.filePath".to_owned());
            }
            ("webhook", _) => {
                let url: Url = self
                    .webhook_url
                    .as_deref()
                    .ok_or("confirmation.channel \"webhook\" needs confirmation.webhookUrl")?
                    .parse()
                    .map_err(|e| format!("confirmation.webhookUrl: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err("confirmation.webhookUrl must be http or https".to_owned());
                }
                let secret = self
                    .webhook_secret
                    .clone()
                    .ok_or("confirmation.channel \"webhook\" needs confirmation.webhookSecret")?;
                if secret.expose().chars().count() < MIN_WEBHOOK_SECRET_CHARS {
                    return Err(format!(
                        "confirmation.webhookSecret must have at least {MIN_WEBHOOK_SECRET_CHARS} \
                         characters"
                    ));
                }
                Channel::Webhook { url, secret }
            }
            (other, _) => {
                return Err(format!(
                    "unknown confirmation.channel {other:?} (stderr, file, webhook)"
                ));
            }
        };
        Ok((channel, ttl))
    }
}

/// Where codes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// The server's standard error (the terminal of whoever started it).
    Stderr,
    /// Appended as one JSON line to this file (created 0600).
    File(PathBuf),
    /// POSTed as JSON to this URL, signed with the secret.
    Webhook {
        /// Where.
        url: Url,
        /// The signing secret.
        secret: WebhookSecret,
    },
}

impl Channel {
    /// The channel's name in tool results.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Stderr => "stderr",
            Channel::File(_) => "file",
            Channel::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Debug)]
struct Pending {
    code: String,
    sats: u64,
    tool: String,
    destination: String,
    expires: Instant,
}

/// The pending codes.
#[derive(Debug)]
pub struct Confirmations {
    channel: Channel,
    ttl: Duration,
    pending: Mutex<Vec<Pending>>,
}

/// What [`Confirmations::redeem`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// The code matches this payment: go ahead (it is used up).
    Valid,
    /// No pending code matches: every pending code is revoked.
    Wrong,
}

impl Confirmations {
    /// Codes delivered on `channel`, each valid for `ttl`.
    pub fn new(channel: Channel, ttl: Duration) -> Self {
        Confirmations {
            channel,
            ttl,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The channel.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The time to live of a code.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes a code for paying `sats` with `tool` to `destination` and
    /// delivers it. The code itself is never returned.
    ///
    /// # Errors
    /// Delivery failed: the code is withdrawn (never made pending).
    pub async fn issue(&self, sats: u64, tool: &str, destination: &str) -> Result<(), String> {
        let code: String = {
            let mut rng = rand::thread_rng();
            (0..6)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect()
        };
        let now = l402::time::unix_now();
        let line = serde_json::json!({
            "type": "payment.confirmation_required",
            "code": code,
            "tool": tool,
            "amountSats": sats,
            "destination": destination,
            "createdAt": now,
            "expiresAt": now.saturating_add(self.ttl.as_secs()),
            "expiresInSeconds": self.ttl.as_secs(),
        });
        self.deliver(&line.to_string()).await?;
        let mut pending = self.lock();
        let now = Instant::now();
        pending.retain(|p| p.expires > now);
        while pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push(Pending {
            code,
            sats,
            tool: tool.to_owned(),
            destination: destination.to_owned(),
            expires: now + self.ttl,
        });
        Ok(())
    }

    async fn deliver(&self, line: &str) -> Result<(), String> {
        match &self.channel {
            Channel::Stderr => {
                eprintln!("l402 mcp: confirmation needed: {line}");
                Ok(())
            }
            Channel::File(path) => {
                let mut options = std::fs::OpenOptions::new();
                options.append(true).create(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options
                    .open(path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                writeln!(file, "{line}")
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))
            }
            Channel::Webhook { url, secret } => crate::webhook::post(url, secret, line).await,
        }
    }

    /// Redeems `code` for paying `sats` with `tool` to `destination`.
    pub fn redeem(&self, code: &str, sats: u64, tool: &str, destination: &str) -> Redeemed {
        let mut pending = self.lock();
        let now = Instant::now();
        pending.retain(|p| p.expires > now);
        let code = code.trim().to_ascii_uppercase();
        let found = pending.iter().position(|p| {
            bool::from(p.code.as_bytes().ct_eq(code.as_bytes()))
                && p.sats == sats
                && p.tool == tool
                && p.destination == destination
        });
        match found {
            Some(i) => {
                pending.remove(i);
                Redeemed::Valid
            }
            None => {
                pending.clear();
                Redeemed::Wrong
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_in(path: &std::path::Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        last["code"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn single_use_bound_and_wrong_guess_revokes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codes.jsonl");
        let c = Confirmations::new(Channel::File(path.clone()), Duration::from_secs(60));
        c.issue(80, "pay_l402_challenge", "hash1").await.unwrap();
        let code = code_in(&path);
        // Bound to the amount, the tool and the destination.
        assert_eq!(
            c.redeem(&code, 81, "pay_l402_challenge", "hash1"),
            Redeemed::Wrong
        );
        // The wrong guess revoked it.
        assert_eq!(
            c.redeem(&code, 80, "pay_l402_challenge", "hash1"),
            Redeemed::Wrong
        );
        c.issue(80, "pay_l402_challenge", "hash1").await.unwrap();
        let code = code_in(&path);
        assert_eq!(
            c.redeem(&code, 80, "pay_l402_challenge", "hash1"),
            Redeemed::Valid
        );
        // Single use.
        assert_eq!(
            c.redeem(&code, 80, "pay_l402_challenge", "hash1"),
            Redeemed::Wrong
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn expired_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codes.jsonl");
        let c = Confirmations::new(Channel::File(path.clone()), Duration::from_millis(1));
        c.issue(10, "t", "d").await.unwrap();
        let code = code_in(&path);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.redeem(&code, 10, "t", "d"), Redeemed::Wrong);
        let c = Confirmations::new(Channel::File(path), Duration::from_secs(60));
        for i in 0..10 {
            c.issue(i, "t", "d").await.unwrap();
        }
        assert_eq!(c.lock().len(), MAX_PENDING);
    }
}

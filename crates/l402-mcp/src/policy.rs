//! Spending safety the agent cannot talk its way around: limits and approval
//! tiers from a file the server only reads, and the session's running count.
//!
//! The file (JSON, mode 0600) is created with [`Policy::default`] on first
//! run. No tool writes it; `configure_budget` only lowers the session's caps
//! ([`Session::tighten`]). The per-day cap is enforced by the paying client's
//! budget ledger (durable across restarts); per payment, per session, the
//! cooldown and the tiers are checked here before any payment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why the policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Reading or creating the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid policy JSON.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// Others than its owner may change the file: an agent's tool could.
    #[error("{path} is writable by group or others (mode {mode:o}); chmod 600 it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// A value makes no sense (a tier above the per-payment cap, ...).
    #[error("{path}: {message}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Caps in sats.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// The most one payment may cost.
    pub max_per_payment_sats: u64,
    /// The most this server process may spend in total.
    pub max_per_session_sats: u64,
    /// The most spent in any rolling day (the client's budget ledger, across
    /// restarts).
    pub max_per_day_sats: u64,
}

/// Approval tiers by amount, in sats. Above `confirm_up_to_sats` a payment
/// is denied.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tiers {
    /// Paid without a word.
    pub pay_silently_up_to_sats: u64,
    /// Paid, and logged on standard error.
    pub pay_and_log_up_to_sats: u64,
    /// Paid only with an out-of-band confirmation code (see
    /// [`ConfirmationConfig`]).
    pub confirm_up_to_sats: u64,
}

pub use crate::confirm::ConfirmationConfig;

/// The policy file's content.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Caps.
    pub limits: Limits,
    /// Approval tiers.
    pub tiers: Tiers,
    /// Seconds between two payments.
    pub cooldown_seconds: u64,
    /// HTTP methods `access_l402_resource` may pay for.
    pub allow_methods: Vec<String>,
    /// Whether loopback and private addresses may be fetched.
    pub allow_private_addresses: bool,
    /// Confirmation codes for the confirm tier.
    #[serde(default)]
    pub confirmation: ConfirmationConfig,
    /// Caps in a fiat currency, priced through the client's price source
    /// (fail closed without a price); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiat: Option<crate::fiat::FiatLimits>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            limits: Limits {
                max_per_payment_sats: 1_000,
                max_per_session_sats: 5_000,
                max_per_day_sats: 20_000,
            },
            tiers: Tiers {
                pay_silently_up_to_sats: 100,
                pay_and_log_up_to_sats: 1_000,
                confirm_up_to_sats: 1_000,
            },
            cooldown_seconds: 2,
            allow_methods: vec!["GET".to_owned(), "HEAD".to_owned()],
            allow_private_addresses: false,
            confirmation: ConfirmationConfig::default(),
            fiat: None,
        }
    }
}

impl Policy {
    /// Reads the policy at `path`, creating it (mode 0600) with the defaults
    /// when it does not exist. A file others may write is refused.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("mcp-policy.json");
    /// let created = l402_mcp::Policy::load_or_create(&path).unwrap();
    /// assert_eq!(created, l402_mcp::Policy::default());
    /// assert_eq!(l402_mcp::Policy::load_or_create(&path).unwrap(), created);
    /// ```
    ///
    /// # Errors
    /// [`PolicyError`].
    pub fn load_or_create(path: &Path) -> Result<Policy, PolicyError> {
        let io = |source| PolicyError::Io {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_mode(path)?;
                let policy: Policy =
                    serde_json::from_str(&text).map_err(|source| PolicyError::Invalid {
                        path: path.to_owned(),
                        source,
                    })?;
                policy.check(path)?;
                Ok(policy)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let policy = Policy::default();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                let text = serde_json::to_string_pretty(&policy).map_err(|source| {
                    PolicyError::Invalid {
                        path: path.to_owned(),
                        source,
                    }
                })?;
                file.write_all(text.as_bytes()).map_err(io)?;
                file.write_all(b"\n").map_err(io)?;
                Ok(policy)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn check(&self, path: &Path) -> Result<(), PolicyError> {
        let t = &self.tiers;
        if t.pay_silently_up_to_sats > t.pay_and_log_up_to_sats
            || t.pay_and_log_up_to_sats > t.confirm_up_to_sats
        {
            return Err(PolicyError::Inconsistent {
                path: path.to_owned(),
                message: "tiers must grow: paySilentlyUpToSats <= payAndLogUpToSats <= \
                          confirmUpToSats"
                    .to_owned(),
            });
        }
        self.channel()
            .map_err(|message| PolicyError::Inconsistent {
                path: path.to_owned(),
                message,
            })?;
        if let Some(fiat) = &self.fiat {
            fiat.check().map_err(|message| PolicyError::Inconsistent {
                path: path.to_owned(),
                message,
            })?;
        }
        Ok(())
    }

    /// The confirmation channel and code lifetime the policy names.
    ///
    /// # Errors
    /// An unknown channel, or one without what it needs (a file path, a
    /// webhook URL and secret).
    pub fn channel(&self) -> Result<(crate::confirm::Channel, Duration), String> {
        self.confirmation.channel()
    }

    /// Whether `method` may be paid for.
    pub fn allows_method(&self, method: &str) -> bool {
        self.allow_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
    }
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), PolicyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| PolicyError::Io {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        return Err(PolicyError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path) -> Result<(), PolicyError> {
    Ok(())
}

/// How a payment of a given amount may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Pay without a word.
    Silent,
    /// Pay and log it.
    Log,
    /// Needs an out-of-band confirmation code.
    Confirm,
}

impl Tier {
    /// The tier's name in tool results.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Silent => "pay_silently",
            Tier::Log => "pay_and_log",
            Tier::Confirm => "confirm",
        }
    }
}

/// A payment the policy refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// A stable code: `over_payment_limit`, `over_session_limit`,
    /// `cooldown`, `over_tiers`, `confirmation_required`.
    pub code: &'static str,
    /// For people (and the agent).
    pub reason: String,
}

/// The session's state: what this process has spent and its tightened caps.
#[derive(Debug)]
pub struct Session {
    policy: Policy,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    spent_sats: u64,
    /// Sats reserved by payments under way.
    reserved_sats: u64,
    payments: u64,
    last_payment: Option<Instant>,
    per_payment_cap: Option<u64>,
    per_session_cap: Option<u64>,
}

/// A reservation against the session cap; [`Session::finish`] it.
#[derive(Debug)]
#[must_use]
pub struct Reservation {
    sats: u64,
    /// The tier the amount falls in.
    pub tier: Tier,
}

/// The session's numbers, for `get_budget_status`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// Sats paid by this process.
    pub spent_sats: u64,
    /// Payments made by this process.
    pub payments: u64,
    /// The per-payment cap in force (the file's, or lower if tightened).
    pub effective_per_payment_sats: u64,
    /// The per-session cap in force.
    pub effective_per_session_sats: u64,
    /// Sats left in the session.
    pub remaining_session_sats: u64,
    /// Whether a payment now would meet the cooldown.
    pub cooldown_active: bool,
}

impl Session {
    /// A fresh session under `policy`.
    pub fn new(policy: Policy) -> Self {
        Session {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    /// The policy read at start.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves only counters behind.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn caps(&self, state: &State) -> (u64, u64) {
        let l = &self.policy.limits;
        (
            state
                .per_payment_cap
                .map_or(l.max_per_payment_sats, |c| c.min(l.max_per_payment_sats)),
            state
                .per_session_cap
                .map_or(l.max_per_session_sats, |c| c.min(l.max_per_session_sats)),
        )
    }

    /// The most one payment may cost now: the per-payment cap, the session's
    /// remainder and the tool's own `max_sats`, whichever is lowest.
    pub fn payment_ceiling(&self, max_sats: Option<u64>) -> u64 {
        let state = self.lock();
        let (per_payment, per_session) = self.caps(&state);
        let left = per_session.saturating_sub(state.spent_sats + state.reserved_sats);
        per_payment.min(left).min(max_sats.unwrap_or(u64::MAX))
    }

    /// Checks a payment of `sats` (the tool's `max_sats` applied) and
    /// reserves it against the session cap.
    ///
    /// # Errors
    /// A [`Denial`] naming the limit; nothing is reserved.
    /// A confirm-tier amount passes only when `confirmed` (its code was
    /// redeemed).
    pub fn reserve(
        &self,
        sats: u64,
        max_sats: Option<u64>,
        confirmed: bool,
    ) -> Result<Reservation, Denial> {
        let mut state = self.lock();
        let (per_payment, per_session) = self.caps(&state);
        if let Some(max) = max_sats
            && sats > max
        {
            return Err(Denial {
                code: "over_payment_limit",
                reason: format!("{sats} sats is over this call's max_sats of {max}"),
            });
        }
        if sats > per_payment {
            return Err(Denial {
                code: "over_payment_limit",
                reason: format!("{sats} sats is over the per-payment limit of {per_payment} sats"),
            });
        }
        let committed = state.spent_sats + state.reserved_sats;
        if committed.saturating_add(sats) > per_session {
            return Err(Denial {
                code: "over_session_limit",
                reason: format!(
                    "{sats} sats would pass the session limit of {per_session} sats \
                     ({committed} spent or under way)"
                ),
            });
        }
        if let Some(last) = state.last_payment {
            let cooldown = Duration::from_secs(self.policy.cooldown_seconds);
            let since = last.elapsed();
            if since < cooldown {
                return Err(Denial {
                    code: "cooldown",
                    reason: format!(
                        "the last payment was {} ms ago; the cooldown is {} s",
                        since.as_millis(),
                        cooldown.as_secs()
                    ),
                });
            }
        }
        let tiers = &self.policy.tiers;
        let tier = if sats <= tiers.pay_silently_up_to_sats {
            Tier::Silent
        } else if sats <= tiers.pay_and_log_up_to_sats {
            Tier::Log
        } else if sats <= tiers.confirm_up_to_sats {
            Tier::Confirm
        } else {
            return Err(Denial {
                code: "over_tiers",
                reason: format!(
                    "{sats} sats is above every approval tier (at most {} sats)",
                    tiers.confirm_up_to_sats
                ),
            });
        };
        if tier == Tier::Confirm && !confirmed {
            return Err(Denial {
                code: "confirmation_required",
                reason: format!(
                    "{sats} sats is in the confirmation tier (over {} sats): it needs the \
                     confirmation code delivered out of band",
                    tiers.pay_and_log_up_to_sats
                ),
            });
        }
        state.reserved_sats += sats;
        Ok(Reservation { sats, tier })
    }

    /// Ends a reservation: `paid_sats` (what moved, perhaps nothing) counts
    /// against the session and starts the cooldown.
    pub fn finish(&self, reservation: Reservation, paid_sats: Option<u64>) {
        let mut state = self.lock();
        state.reserved_sats = state.reserved_sats.saturating_sub(reservation.sats);
        if let Some(paid) = paid_sats {
            state.spent_sats = state.spent_sats.saturating_add(paid);
            state.payments += 1;
            state.last_payment = Some(Instant::now());
        }
    }

    /// Lowers the session's caps (never raises them: a higher value than
    /// the one in force is ignored). Returns the caps in force.
    pub fn tighten(&self, per_payment: Option<u64>, per_session: Option<u64>) -> (u64, u64) {
        let mut state = self.lock();
        let (payment_now, session_now) = self.caps(&state);
        if let Some(p) = per_payment {
            state.per_payment_cap = Some(p.min(payment_now));
        }
        if let Some(s) = per_session {
            state.per_session_cap = Some(s.min(session_now));
        }
        self.caps(&state)
    }

    /// Sats of this session's payments under way (reserved, not finished).
    pub fn in_flight_sats(&self) -> u64 {
        self.lock().reserved_sats
    }

    /// The session's numbers.
    pub fn status(&self) -> SessionStatus {
        let state = self.lock();
        let (per_payment, per_session) = self.caps(&state);
        SessionStatus {
            spent_sats: state.spent_sats,
            payments: state.payments,
            effective_per_payment_sats: per_payment,
            effective_per_session_sats: per_session,
            remaining_session_sats: per_session.saturating_sub(state.spent_sats),
            cooldown_active: state.last_payment.is_some_and(|last| {
                last.elapsed() < Duration::from_secs(self.policy.cooldown_seconds)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let defaults = Policy::default();
        Session::new(Policy {
            cooldown_seconds: 0,
            tiers: Tiers {
                pay_and_log_up_to_sats: 500,
                ..defaults.tiers.clone()
            },
            ..defaults
        })
    }

    #[test]
    fn tiers_and_limits_in_order() {
        let s = session();
        assert_eq!(
            s.reserve(1_001, None, false).unwrap_err().code,
            "over_payment_limit"
        );
        assert_eq!(
            s.reserve(50, Some(10), false).unwrap_err().code,
            "over_payment_limit"
        );
        assert_eq!(
            s.reserve(600, None, false).unwrap_err().code,
            "confirmation_required"
        );
        let r = s.reserve(600, None, true).unwrap();
        assert_eq!(r.tier, Tier::Confirm);
        s.finish(r, None);
        let r = s.reserve(50, None, false).unwrap();
        assert_eq!(r.tier, Tier::Silent);
        s.finish(r, Some(50));
        let r = s.reserve(200, None, false).unwrap();
        assert_eq!(r.tier, Tier::Log);
        s.finish(r, None);
        assert_eq!(s.status().spent_sats, 50);
    }

    #[test]
    fn session_cap_counts_reservations() {
        let s = session();
        s.tighten(None, Some(100));
        let a = s.reserve(60, None, false).unwrap();
        assert_eq!(
            s.reserve(60, None, false).unwrap_err().code,
            "over_session_limit"
        );
        s.finish(a, None);
        assert!(s.reserve(60, None, false).is_ok());
    }

    #[test]
    fn tighten_never_raises() {
        let s = session();
        assert_eq!(s.tighten(Some(10), Some(20)), (10, 20));
        assert_eq!(s.tighten(Some(1_000_000), Some(1_000_000)), (10, 20));
        assert_eq!(
            s.reserve(11, None, false).unwrap_err().code,
            "over_payment_limit"
        );
    }

    #[test]
    fn cooldown_refuses_the_next_payment() {
        let s = Session::new(Policy::default());
        let r = s.reserve(10, None, false).unwrap();
        s.finish(r, Some(10));
        assert_eq!(s.reserve(10, None, false).unwrap_err().code, "cooldown");
    }

    #[cfg(unix)]
    #[test]
    fn created_0600_and_group_writable_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        Policy::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            Policy::load_or_create(&path),
            Err(PolicyError::Permissions { .. })
        ));
    }
}

//! `l402 token attenuate`: a narrower credential from a stored token.
//!
//! Each option appends a first-party caveat with the core's conditions
//! (`resource`, `resource_prefix`, `method`, `valid_until`) through
//! [`l402::Macaroon::add_first_party_caveat`]: anyone holding a macaroon can do
//! this, and no one can remove a caveat (the signature chains through
//! them). A seller following decision 4 checks every caveat and lets later
//! ones only narrow, so the new token is good for what it still allows and
//! refused beyond. Before printing, the new caveats are checked with the
//! core's own rules ([`l402::check_caveats`]) so that a token that would be
//! good nowhere (a path outside its resource, a later expiry) is refused
//! here rather than handed out.

use anyhow::{anyhow, bail};
#[cfg(test)]
use l402::{Caveat, Macaroon};
use l402_client::{AttenuateError, Attenuated, Narrowing, StoredToken};
use serde_json::json;

use crate::Global;

/// Flags of `l402 token attenuate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The new credential is printed (`L402 <macaroon>:<preimage>`); with --json, also
an `export` object that `l402 token import -` stores on another machine.
The stored token is unchanged.

Aperture checks only its own caveats (services, <service>_valid_until): for a
token with a services= caveat, --expires-in/--valid-until also add
<service>_valid_until, and the other narrowings hold only at sellers that check
resource/method/valid_until caveats (l402 serve, l402-server, the producer).")]
pub struct Args {
    /// The token (URL, scope or payment hash prefix).
    pub token: String,

    /// Good for exactly this resource (path) only: `resource=<PATH>`.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// Good for resources starting with this prefix: `resource_prefix=<PREFIX>`.
    #[arg(long, value_name = "PREFIX")]
    pub path_prefix: Option<String>,

    /// Good for these HTTP methods only (repeatable, or comma-separated):
    /// `method=GET,HEAD`.
    #[arg(long = "method", value_name = "METHOD", value_delimiter = ',')]
    pub methods: Vec<String>,

    /// Expires this long from now: seconds, or with a unit (90s, 15m, 2h, 1d).
    #[arg(long, value_name = "DURATION", conflicts_with = "valid_until")]
    pub expires_in: Option<String>,

    /// Expires at this unix time (seconds).
    #[arg(long, value_name = "UNIX_SECS")]
    pub valid_until: Option<u64>,
}

/// `90`, `90s`, `15m`, `2h`, `1d` in seconds.
fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| anyhow!("--expires-in takes seconds or 90s / 15m / 2h / 1d, not {text:?}"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--expires-in: unknown unit {unit:?} (s, m, h, d)"),
    };
    n.checked_mul(unit)
        .filter(|&s| s > 0)
        .ok_or_else(|| anyhow!("--expires-in must be positive and reasonable"))
}

/// The narrower token (l402-client's [`StoredToken::attenuate`], the one
/// implementation shared with the MCP `mint_scoped_token` tool).
fn narrowed(token: &StoredToken, args: &Args, now: u64) -> anyhow::Result<Attenuated> {
    let mut narrowing = Narrowing::new();
    if let Some(prefix) = &args.path_prefix {
        narrowing = narrowing.path_prefix(prefix);
    }
    if let Some(path) = &args.path {
        narrowing = narrowing.path(path);
    }
    if !args.methods.is_empty() {
        narrowing = narrowing.methods(args.methods.iter().cloned());
    }
    let until = match (&args.expires_in, args.valid_until) {
        (Some(d), _) => Some(now.saturating_add(parse_duration(d)?)),
        (None, t) => t,
    };
    if let Some(until) = until {
        narrowing = narrowing.valid_until(until);
    }
    token.attenuate(&narrowing, now).map_err(|e| match e {
        AttenuateError::Nothing => anyhow!(
            "nothing to add: give --path, --path-prefix, --method, --expires-in or --valid-until"
        ),
        other => anyhow!(other),
    })
}

/// The narrower macaroon, and the caveats added.
#[cfg(test)]
pub fn attenuate(
    token: &StoredToken,
    args: &Args,
    now: u64,
) -> anyhow::Result<(Macaroon, Vec<Caveat>)> {
    let narrowed = narrowed(token, args, now)?;
    Ok((narrowed.macaroon, narrowed.added))
}

/// `l402 token attenuate`: prints the new credential.
pub fn run(global: &Global, token: &StoredToken, args: &Args) -> anyhow::Result<()> {
    let now = l402::time::unix_now();
    let narrowed = narrowed(token, args, now)?;
    let authorization = narrowed.authorization();
    let (added, sub) = (narrowed.added, narrowed.token);
    let expires_at = sub.expires_at;
    let added_text: Vec<String> = added.iter().map(ToString::to_string).collect();
    if global.json {
        let out = json!({
            "ok": true,
            "scope": token.scope,
            "added": added_text,
            "macaroon": sub.token,
            "authorization": authorization,
            "expires_at": expires_at,
            "export": super::transfer::export(&sub),
        });
        println!("{out}");
    } else {
        eprintln!(
            "l402: added {} to the token for {} (the stored token is unchanged)",
            added_text.join(", "),
            token.scope
        );
        println!("{authorization}");
    }
    Ok(())
}

#[cfg(test)]
mod tests;

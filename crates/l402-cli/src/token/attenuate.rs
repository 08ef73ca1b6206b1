//! `l402 token attenuate`: a narrower credential from a stored token.
//!
//! Each option appends a first-party caveat with the core's conditions
//! (`resource`, `resource_prefix`, `method`, `valid_until`) through
//! [`Macaroon::add_first_party_caveat`]: anyone holding a macaroon can do
//! this, and no one can remove a caveat (the signature chains through
//! them). A seller following decision 4 checks every caveat and lets later
//! ones only narrow, so the new token is good for what it still allows and
//! refused beyond. Before printing, the new caveats are checked with the
//! core's own rules ([`l402::check_caveats`]) so that a token that would be
//! good nowhere (a path outside its resource, a later expiry) is refused
//! here rather than handed out.

use anyhow::{anyhow, bail};
use l402::{Caveat, Condition, Credential, Macaroon, RequestContext, check_caveats};
use l402_client::StoredToken;
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

/// The caveats the flags ask for, in order.
fn wanted(args: &Args, existing: &[Caveat], now: u64) -> anyhow::Result<Vec<Caveat>> {
    let mut caveats = Vec::new();
    if let Some(prefix) = &args.path_prefix {
        if !prefix.starts_with('/') {
            bail!("--path-prefix must start with '/'");
        }
        caveats.push(Caveat::resource_prefix(prefix));
    }
    if let Some(path) = &args.path {
        if !path.starts_with('/') {
            bail!("--path must start with '/'");
        }
        caveats.push(Caveat::resource(path));
    }
    if !args.methods.is_empty() {
        let methods: Vec<String> = args
            .methods
            .iter()
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect();
        if methods
            .iter()
            .any(|m| !m.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            bail!("--method takes HTTP method names, not {:?}", args.methods);
        }
        caveats.push(Caveat::methods(methods.iter().map(String::as_str)));
    }
    let until = match (&args.expires_in, args.valid_until) {
        (Some(d), _) => Some(now.saturating_add(parse_duration(d)?)),
        (None, Some(t)) if t <= now => bail!("--valid-until {t} is in the past"),
        (None, t) => t,
    };
    if let Some(until) = until {
        caveats.push(Caveat::valid_until(until));
        // Aperture checks only <service>_valid_until: narrow it there too.
        let services = existing
            .iter()
            .rev()
            .find(|c| c.condition() == "services")
            .map(|c| c.value().to_owned());
        for entry in services.iter().flat_map(|v| v.split(',')) {
            if let Some((name, _tier)) = entry.trim().split_once(':')
                && !name.is_empty()
            {
                caveats.push(Caveat::service_valid_until(name, until));
            }
        }
    }
    if caveats.is_empty() {
        bail!(
            "nothing to add: give --path, --path-prefix, --method, --expires-in or --valid-until"
        );
    }
    Ok(caveats)
}

/// Checks with the core's rules that the conditions touched still allow
/// something: later caveats narrow the earlier ones, and a request the new
/// token is meant for passes them all.
fn still_usable(existing: &[Caveat], added: &[Caveat], now: u64) -> anyhow::Result<()> {
    let nowhere = |e: l402::CaveatError| anyhow!("the new token would be good nowhere: {e}");
    let all: Vec<&Caveat> = existing.iter().chain(added).collect();
    // The conditions attenuation adds, old and new together.
    let own: Vec<&Caveat> = all
        .iter()
        .copied()
        .filter(|c| {
            matches!(
                Condition::classify(c.condition()),
                Some(
                    Condition::Resource
                        | Condition::ResourcePrefix
                        | Condition::Method
                        | Condition::ValidUntil
                )
            )
        })
        .collect();
    let last = |condition: &str| {
        own.iter()
            .rev()
            .find(|c| c.condition() == condition)
            .map(|c| c.value().to_owned())
    };
    // A request the new token is meant for: its exact resource if it has
    // one, else its prefix; its first allowed method.
    let resource = last("resource").or_else(|| last("resource_prefix"));
    let method = last("method").and_then(|m| m.split(',').next().map(|s| s.trim().to_owned()));
    let mut ctx = RequestContext::new(now);
    if let Some(resource) = &resource {
        ctx = ctx.resource(resource.as_str());
    }
    if let Some(method) = &method {
        ctx = ctx.method(method.as_str());
    }
    check_caveats(own, &ctx).map_err(nowhere)?;
    // Each service's expiry (Aperture's `<service>_valid_until`), for it.
    for caveat in added {
        if let Some(Condition::ServiceValidUntil(service)) = Condition::classify(caveat.condition())
        {
            let same: Vec<&Caveat> = all
                .iter()
                .copied()
                .filter(|c| c.condition() == caveat.condition())
                .collect();
            check_caveats(same, &RequestContext::new(now).service(service)).map_err(nowhere)?;
        }
    }
    Ok(())
}

/// The narrower macaroon, and the caveats added.
pub fn attenuate(
    token: &StoredToken,
    args: &Args,
    now: u64,
) -> anyhow::Result<(Macaroon, Vec<Caveat>)> {
    let mut macaroon: Macaroon = token.token.parse().map_err(|_| {
        anyhow!(
            "the token for {} is {} (not a macaroon): it cannot carry caveats",
            token.scope,
            token.kind
        )
    })?;
    let existing: Vec<Caveat> = macaroon
        .caveats()
        .filter_map(|c| Caveat::from_bytes(c).ok())
        .collect();
    let added = wanted(args, &existing, now)?;
    still_usable(&existing, &added, now)?;
    for caveat in &added {
        macaroon
            .add_first_party_caveat(caveat.to_string())
            .map_err(|e| anyhow!("adding {caveat}: {e}"))?;
    }
    Ok((macaroon, added))
}

/// `l402 token attenuate`: prints the new credential.
pub fn run(global: &Global, token: &StoredToken, args: &Args) -> anyhow::Result<()> {
    let now = l402::time::unix_now();
    let (macaroon, added) = attenuate(token, args, now)?;
    let authorization = Credential::new(macaroon.clone(), token.preimage.clone()).to_string();
    let expires_at = added
        .iter()
        .filter(|c| c.condition() == "valid_until")
        .filter_map(|c| c.value().parse::<u64>().ok())
        .chain(token.expires_at)
        .min();
    let sub = StoredToken {
        token: macaroon.to_string(),
        expires_at,
        uses: 0,
        ..token.clone()
    };
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

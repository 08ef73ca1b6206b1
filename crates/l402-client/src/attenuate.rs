//! Narrowing a bought token for someone else (a sub-agent, another
//! machine): first-party caveats with the core's conditions (`resource`,
//! `resource_prefix`, `method`, `valid_until`, and Aperture's
//! `<service>_valid_until` for a token with a `services` caveat), appended
//! with [`Macaroon::add_first_party_caveat`]. Anyone holding a macaroon can
//! do this and no one can remove a caveat (the signature chains through
//! them), so the new token never allows more than the old. Before anything
//! is handed out, the caveats are checked with the core's own rules
//! ([`l402::check_caveats`]): a narrowing that would leave the token good
//! nowhere (a path outside its resource, a later expiry) is refused.

use l402::{Caveat, CaveatError, Condition, Credential, Macaroon, RequestContext, check_caveats};

use crate::challenge::TokenKind;
use crate::store::StoredToken;

/// What to narrow a token to; every part is optional, at least one is
/// needed.
///
/// ```
/// use l402_client::Narrowing;
/// let n = Narrowing::new().path_prefix("/v1/").methods(["GET"]).valid_until(1_900_000_000);
/// # let _ = n;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    path: Option<String>,
    path_prefix: Option<String>,
    methods: Vec<String>,
    valid_until: Option<u64>,
}

impl Narrowing {
    /// Nothing narrowed yet.
    pub fn new() -> Self {
        Narrowing::default()
    }

    /// Good for exactly this resource (path): `resource=<path>`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Good for resources starting with `prefix`: `resource_prefix=<prefix>`.
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Good for these HTTP methods only: `method=GET,HEAD`.
    pub fn methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Good until this unix time (seconds): `valid_until=<t>`.
    pub fn valid_until(mut self, unix_secs: u64) -> Self {
        self.valid_until = Some(unix_secs);
        self
    }
}

/// Why a token cannot be narrowed so. Nothing was handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttenuateError {
    /// The token is not a macaroon: it cannot carry caveats.
    #[error("the token for {scope} is {kind} (not a macaroon): it cannot carry caveats")]
    NotAMacaroon {
        /// The token's scope.
        scope: String,
        /// Its kind.
        kind: TokenKind,
    },
    /// No narrowing was asked for.
    #[error("nothing to add: give a path, a path prefix, methods or an expiry")]
    Nothing,
    /// A path or prefix that does not start with `/`.
    #[error("{0} must start with '/'")]
    RelativePath(&'static str),
    /// Not HTTP method names.
    #[error("methods are HTTP method names, not {0:?}")]
    BadMethod(Vec<String>),
    /// An expiry in the past.
    #[error("the expiry {0} is in the past")]
    Past(u64),
    /// The new token would be good nowhere under the core's rules.
    #[error("the new token would be good nowhere: {0}")]
    Nowhere(CaveatError),
    /// A caveat could not be added.
    #[error("adding {caveat}: {message}")]
    Caveat {
        /// The caveat.
        caveat: String,
        /// Why.
        message: String,
    },
}

/// A narrowed token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Attenuated {
    /// The new macaroon.
    pub macaroon: Macaroon,
    /// The caveats added, in order.
    pub added: Vec<Caveat>,
    /// The new token, ready to store or export: the old one's payment hash
    /// and preimage, the new macaroon, the earliest expiry, no uses.
    pub token: StoredToken,
}

impl Attenuated {
    /// The `Authorization` header value: `L402 <macaroon>:<preimage>`.
    pub fn authorization(&self) -> String {
        Credential::new(self.macaroon.clone(), self.token.preimage.clone()).to_string()
    }
}

/// The caveats `n` asks for, in order.
fn wanted(n: &Narrowing, existing: &[Caveat], now: u64) -> Result<Vec<Caveat>, AttenuateError> {
    let mut caveats = Vec::new();
    if let Some(prefix) = &n.path_prefix {
        if !prefix.starts_with('/') {
            return Err(AttenuateError::RelativePath("the path prefix"));
        }
        caveats.push(Caveat::resource_prefix(prefix));
    }
    if let Some(path) = &n.path {
        if !path.starts_with('/') {
            return Err(AttenuateError::RelativePath("the path"));
        }
        caveats.push(Caveat::resource(path));
    }
    if !n.methods.is_empty() {
        let methods: Vec<String> = n
            .methods
            .iter()
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect();
        if methods.is_empty()
            || methods
                .iter()
                .any(|m| !m.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(AttenuateError::BadMethod(n.methods.clone()));
        }
        caveats.push(Caveat::methods(methods.iter().map(String::as_str)));
    }
    if let Some(until) = n.valid_until {
        if until <= now {
            return Err(AttenuateError::Past(until));
        }
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
        return Err(AttenuateError::Nothing);
    }
    Ok(caveats)
}

/// Checks with the core's rules that the conditions touched still allow
/// something: later caveats narrow the earlier ones, and a request the new
/// token is meant for passes them all.
fn still_usable(existing: &[Caveat], added: &[Caveat], now: u64) -> Result<(), AttenuateError> {
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
    check_caveats(own, &ctx).map_err(AttenuateError::Nowhere)?;
    // Each service's expiry (Aperture's `<service>_valid_until`), for it.
    for caveat in added {
        if let Some(Condition::ServiceValidUntil(service)) = Condition::classify(caveat.condition())
        {
            let same: Vec<&Caveat> = all
                .iter()
                .copied()
                .filter(|c| c.condition() == caveat.condition())
                .collect();
            check_caveats(same, &RequestContext::new(now).service(service))
                .map_err(AttenuateError::Nowhere)?;
        }
    }
    Ok(())
}

impl StoredToken {
    /// A narrower token for what `narrowing` allows, at `now` (unix
    /// seconds). The stored token is unchanged.
    ///
    /// # Errors
    /// [`AttenuateError`]: not a macaroon, nothing asked, a relative path,
    /// a past expiry, or a narrowing that would leave the token good
    /// nowhere.
    pub fn attenuate(&self, narrowing: &Narrowing, now: u64) -> Result<Attenuated, AttenuateError> {
        let mut macaroon: Macaroon =
            self.token
                .parse()
                .map_err(|_| AttenuateError::NotAMacaroon {
                    scope: self.scope.clone(),
                    kind: self.kind,
                })?;
        let existing: Vec<Caveat> = macaroon
            .caveats()
            .filter_map(|c| Caveat::from_bytes(c).ok())
            .collect();
        let added = wanted(narrowing, &existing, now)?;
        still_usable(&existing, &added, now)?;
        for caveat in &added {
            macaroon
                .add_first_party_caveat(caveat.to_string())
                .map_err(|e| AttenuateError::Caveat {
                    caveat: caveat.to_string(),
                    message: e.to_string(),
                })?;
        }
        let expires_at = added
            .iter()
            .filter(|c| c.condition() == "valid_until")
            .filter_map(|c| c.value().parse::<u64>().ok())
            .chain(self.expires_at)
            .min();
        let token = StoredToken {
            token: macaroon.to_string(),
            expires_at,
            uses: 0,
            ..self.clone()
        };
        Ok(Attenuated {
            macaroon,
            added,
            token,
        })
    }
}

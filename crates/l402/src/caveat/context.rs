//! What a request offers to check caveats against.

use std::borrow::Cow;

/// What a request offers to satisfy caveats against.
///
/// A caveat about something the context does not state (a `resource` caveat
/// when no resource is given, say) is refused as unverifiable, so that a
/// restriction is never silently skipped; [`RequestContext::ignore`] says
/// explicitly that a dimension is not checked.
///
/// It borrows what it can (`&str` from the request) and owns what it must
/// (`String`): building one on a hot path allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct RequestContext<'a> {
    pub(super) now_millis: u64,
    pub(super) resource: Option<Cow<'a, str>>,
    pub(super) method: Option<Cow<'a, str>>,
    pub(super) amount_sats: Option<u64>,
    pub(super) merchant: Option<Cow<'a, str>>,
    pub(super) service: Option<Cow<'a, str>>,
    pub(super) capability: Option<Cow<'a, str>>,
    pub(super) ignored: Vec<Ignorable>,
}

/// A dimension a [`RequestContext`] can declare it does not check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignorable {
    /// `resource` caveats are not checked.
    Resource,
    /// `method` caveats are not checked.
    Method,
    /// `amount_sats` caveats are not checked.
    AmountSats,
    /// `merchant` caveats are not checked.
    Merchant,
    /// `services` caveats are not checked.
    Services,
}

impl<'a> RequestContext<'a> {
    /// A context at `now_unix_secs`, stating nothing else yet.
    pub fn new(now_unix_secs: u64) -> Self {
        RequestContext {
            now_millis: now_unix_secs.saturating_mul(1000),
            ..RequestContext::default()
        }
    }

    /// A context at the given time in milliseconds since the Unix epoch.
    pub fn at_millis(now_unix_millis: u64) -> Self {
        RequestContext {
            now_millis: now_unix_millis,
            ..RequestContext::default()
        }
    }

    /// A context at the system clock's current time.
    pub fn now() -> Self {
        RequestContext::at_millis(crate::time::unix_millis())
    }

    /// The resource requested (by default the path).
    pub fn resource(mut self, resource: impl Into<Cow<'a, str>>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The HTTP method of the request.
    pub fn method(mut self, method: impl Into<Cow<'a, str>>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// The price of the request, in sats.
    pub fn amount_sats(mut self, sats: u64) -> Self {
        self.amount_sats = Some(sats);
        self
    }

    /// The merchant verifying the token.
    pub fn merchant(mut self, merchant: impl Into<Cow<'a, str>>) -> Self {
        self.merchant = Some(merchant.into());
        self
    }

    /// The service the request is for (Aperture's target service).
    pub fn service(mut self, service: impl Into<Cow<'a, str>>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The capability the request needs within its service.
    pub fn capability(mut self, capability: impl Into<Cow<'a, str>>) -> Self {
        self.capability = Some(capability.into());
        self
    }

    /// Declares that caveats of this kind are not checked by this verifier.
    pub fn ignore(mut self, what: Ignorable) -> Self {
        self.ignored.push(what);
        self
    }

    /// The time of the request, in seconds since the Unix epoch.
    pub fn now_unix_secs(&self) -> u64 {
        self.now_millis / 1000
    }

    pub(super) fn ignores(&self, what: Ignorable) -> bool {
        self.ignored.contains(&what)
    }
}

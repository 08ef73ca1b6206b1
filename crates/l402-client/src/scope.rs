//! What a token is good for: an origin and a resource path.

use std::fmt;

use reqwest::Url;

/// The origin (`scheme://host[:port]`) and path a token is reused for.
///
/// Tokens are kept per scope: the same path on the same origin reuses a
/// token whatever the query string or method; another path or origin gets its
/// own.
///
/// ```
/// use l402_client::Scope;
/// let scope = Scope::of(&"https://api.example.com/v1/joke?lang=en".parse().unwrap());
/// assert_eq!(scope.as_str(), "https://api.example.com/v1/joke");
/// assert_eq!(scope.domain(), "api.example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    key: String,
    origin_len: usize,
    domain: String,
}

impl Scope {
    /// The scope of a URL.
    pub fn of(url: &Url) -> Self {
        let origin = url.origin().ascii_serialization();
        let origin_len = origin.len();
        let mut key = origin;
        key.push_str(url.path());
        Scope {
            key,
            origin_len,
            domain: domain_key(url.host_str().unwrap_or_default()),
        }
    }

    /// `origin + path`, the key tokens are stored under.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> &str {
        &self.key[..self.origin_len]
    }

    /// The path.
    pub fn path(&self) -> &str {
        &self.key[self.origin_len..]
    }

    /// The host name, lower case: what per-domain budgets count against.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// The one spelling of a domain that budgets and both ledgers compare: ASCII
/// lower case, without a trailing dot. Domains match when their keys are
/// equal; nothing else (no suffix or wildcard matching).
///
/// ```
/// use l402_client::domain_key;
/// assert_eq!(domain_key("API.Example.COM."), "api.example.com");
/// assert_ne!(domain_key("a.example.com"), domain_key("example.com"));
/// ```
pub fn domain_key(domain: &str) -> String {
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let s = Scope::of(&"http://127.0.0.1:8080/a/b?x=1#f".parse().unwrap());
        assert_eq!(s.as_str(), "http://127.0.0.1:8080/a/b");
        assert_eq!(s.origin(), "http://127.0.0.1:8080");
        assert_eq!(s.path(), "/a/b");
        assert_eq!(s.domain(), "127.0.0.1");
        let t = Scope::of(&"HTTP://Example.COM:80/".parse().unwrap());
        assert_eq!(t.as_str(), "http://example.com/");
    }
}

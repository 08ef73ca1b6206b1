//! Following redirects, as the client does itself (the reqwest client under
//! it follows none): the next hop of a 3xx, with reqwest's rules for the
//! method and for credentials on another origin.

use reqwest::header::{
    AUTHORIZATION, COOKIE, HeaderMap, LOCATION, PROXY_AUTHORIZATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};

use crate::request::Parts;

/// The default most redirects followed per request.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Whether two URLs have the same origin (scheme, host and port).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// The request a redirect answer points to, or `None` if the answer is not
/// a redirect to an `http(s)` URL.
pub(crate) fn next_hop(parts: &Parts, status: StatusCode, headers: &HeaderMap) -> Option<Parts> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = headers.get(LOCATION)?.to_str().ok()?;
    let url = parts.url.join(location).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    let (method, body) = match status.as_u16() {
        // As browsers and reqwest do: 303 always, and 301/302 after a POST,
        // become a GET without a body.
        303 if parts.method != Method::HEAD => (Method::GET, None),
        301 | 302 if parts.method == Method::POST => (Method::GET, None),
        _ => (parts.method.clone(), parts.body.clone()),
    };
    let mut headers = parts.headers.clone();
    if !same_origin(&parts.url, &url) {
        // The caller's credentials are for the first origin only.
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE] {
            headers.remove(name);
        }
    }
    Some(Parts {
        method,
        url,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn parts(method: Method, url: &str) -> Parts {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        headers.insert("x-keep", HeaderValue::from_static("1"));
        Parts {
            method,
            url: url.parse().unwrap(),
            headers,
            body: Some(b"body".to_vec()),
        }
    }

    fn location(to: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(LOCATION, HeaderValue::from_str(to).unwrap());
        h
    }

    #[test]
    fn next_hops_follow_reqwest_rules() {
        let p = parts(Method::POST, "http://a.test/x");
        let same = next_hop(&p, StatusCode::FOUND, &location("/y")).unwrap();
        assert_eq!(same.url.as_str(), "http://a.test/y");
        assert_eq!(same.method, Method::GET);
        assert!(same.body.is_none());
        assert!(same.headers.contains_key(AUTHORIZATION));
        let kept = next_hop(&p, StatusCode::TEMPORARY_REDIRECT, &location("/z")).unwrap();
        assert_eq!(
            (kept.method, kept.body.as_deref()),
            (Method::POST, Some(&b"body"[..]))
        );
        let other = next_hop(
            &p,
            StatusCode::PERMANENT_REDIRECT,
            &location("http://b.test/"),
        )
        .unwrap();
        assert!(!other.headers.contains_key(AUTHORIZATION));
        assert!(other.headers.contains_key("x-keep"));
        assert!(next_hop(&p, StatusCode::OK, &location("/y")).is_none());
        assert!(next_hop(&p, StatusCode::FOUND, &HeaderMap::new()).is_none());
        assert!(next_hop(&p, StatusCode::FOUND, &location("ftp://a.test/")).is_none());
    }
}

//! Header rewriting toward the upstream and back: hop-by-hop headers out,
//! `X-Forwarded-*` in, the client's L402 credential out (unless asked for),
//! the service's own headers in.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

/// The hop-by-hop headers of RFC 9110 §7.6.1 (and the old `Keep-Alive`,
/// `Proxy-Connection`): they describe one connection and never cross a
/// proxy. `TE: trailers` is kept apart (gRPC needs it).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether a request asks to switch protocols (`Connection: upgrade` and an
/// `Upgrade` header): a websocket handshake.
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE) && connection_has(headers, "upgrade")
}

fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Removes the hop-by-hop headers and those `Connection` names. With
/// `upgrade`, `Connection: upgrade` and `Upgrade` are kept (the handshake
/// must reach the other side). `TE: trailers` is kept.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && *n == header::UPGRADE))
        .collect();
    let te_trailers = headers
        .get_all(header::TE)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if !upgrade {
        headers.remove(header::UPGRADE);
    } else {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Removes `Authorization` values of the `L402` and `LSAT` schemes, and
/// Aperture's gRPC macaroon metadata: the buyer's credential is for this
/// proxy, not for the upstream. Other schemes pass.
pub(crate) fn strip_l402_credential(headers: &mut HeaderMap) {
    let others: Vec<HeaderValue> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter(|v| !is_l402(v.as_bytes()))
        .cloned()
        .collect();
    headers.remove(header::AUTHORIZATION);
    for value in others {
        headers.append(header::AUTHORIZATION, value);
    }
    headers.remove("grpc-metadata-macaroon");
    headers.remove("macaroon");
}

pub(crate) fn is_l402(value: &[u8]) -> bool {
    let value = value.trim_ascii_start();
    let scheme = value
        .split(|b| *b == b' ' || *b == b'\t')
        .next()
        .unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"L402") || scheme.eq_ignore_ascii_case(b"LSAT")
}

/// Adds `X-Forwarded-For` (the client appended to what came before),
/// `X-Forwarded-Proto` and `X-Forwarded-Host` (the host the client asked
/// for).
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    client: Option<IpAddr>,
    host: Option<&str>,
    proto: &'static str,
) {
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    if let Some(ip) = client {
        let value = match headers.get(&XFF).and_then(|v| v.to_str().ok()) {
            Some(before) if !before.trim().is_empty() => format!("{before}, {ip}"),
            _ => ip.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(XFF, value);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    if let Some(host) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_and_named_ones_go_te_trailers_stays() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-end", "kept"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-end", "te"]);
    }

    #[test]
    fn an_upgrade_keeps_its_handshake() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }

    #[test]
    fn l402_credentials_go_other_schemes_stay() {
        let mut h = map(&[
            ("authorization", "L402 abc:def"),
            ("authorization", "Bearer upstream"),
            ("authorization", " lsat x:y"),
            ("grpc-metadata-macaroon", "00"),
        ]);
        strip_l402_credential(&mut h);
        let values: Vec<_> = h.get_all("authorization").iter().collect();
        assert_eq!(values, ["Bearer upstream"]);
        assert!(!h.contains_key("grpc-metadata-macaroon"));
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = map(&[("x-forwarded-for", "10.0.0.1")]);
        add_forwarded(&mut h, "127.0.0.1".parse().ok(), Some("a.example"), "http");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "a.example");
    }
}

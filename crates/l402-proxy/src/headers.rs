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
    // Most messages carry none: one pass over the names, no removals.
    let any = headers
        .keys()
        .any(|name| *name == header::UPGRADE || HOP_BY_HOP.contains(name));
    if !any {
        return;
    }
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
    const GRPC_MACAROON: HeaderName = HeaderName::from_static("grpc-metadata-macaroon");
    const MACAROON: HeaderName = HeaderName::from_static("macaroon");
    let any_l402 = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| is_l402(v.as_bytes()));
    if any_l402 {
        // Usually none: collecting nothing allocates nothing.
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
    }
    headers.remove(GRPC_MACAROON);
    headers.remove(MACAROON);
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
    host: Option<HeaderValue>,
    proto: &'static str,
) {
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    if let Some(ip) = client {
        let mut text = IpText::default();
        let ip = text.format(ip);
        let value = match headers.get(&XFF).and_then(|v| v.to_str().ok()) {
            Some(before) if !before.trim().is_empty() => {
                HeaderValue::from_str(&format!("{before}, {ip}"))
            }
            _ => HeaderValue::from_str(ip),
        };
        if let Ok(value) = value {
            headers.insert(XFF, value);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    if let Some(host) = host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
}

/// An address as text without the formatting machinery for IPv4 (every
/// request formats one).
#[derive(Default)]
struct IpText {
    buf: [u8; 15],
    v6: String,
}

impl IpText {
    fn format(&mut self, ip: IpAddr) -> &str {
        let IpAddr::V4(v4) = ip else {
            self.v6 = ip.to_string();
            return &self.v6;
        };
        let mut len = 0;
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                self.buf[len] = b'.';
                len += 1;
            }
            let digits = [octet / 100, octet / 10 % 10, octet % 10];
            let skip = if octet >= 100 {
                0
            } else if octet >= 10 {
                1
            } else {
                2
            };
            for d in &digits[skip..] {
                self.buf[len] = b'0' + d;
                len += 1;
            }
        }
        std::str::from_utf8(&self.buf[..len]).unwrap_or_default()
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
        let host = HeaderValue::from_static("a.example");
        add_forwarded(&mut h, "127.0.0.1".parse().ok(), Some(host), "http");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "a.example");
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let samples = [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.99.100",
            "255.255.255.255",
            "192.168.1.10",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ];
        for sample in samples {
            let ip: IpAddr = sample.parse().unwrap();
            assert_eq!(IpText::default().format(ip), ip.to_string(), "{sample}");
        }
        for octet in 0..=255u8 {
            let ip = IpAddr::from([octet, 9, octet, 10]);
            assert_eq!(IpText::default().format(ip), ip.to_string());
        }
    }

    #[test]
    fn a_lone_l402_credential_goes_and_nothing_else_changes() {
        let mut h = map(&[("authorization", "L402 abc:def"), ("accept", "*/*")]);
        strip_l402_credential(&mut h);
        assert!(!h.contains_key("authorization"));
        let mut h = map(&[("authorization", "Bearer upstream"), ("accept", "*/*")]);
        strip_l402_credential(&mut h);
        assert_eq!(h["authorization"], "Bearer upstream");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_is_untouched() {
        let mut h = map(&[("accept", "*/*"), ("x-a", "1"), ("te", "trailers")]);
        let before = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, before);
        let mut h = map(&[("accept", "*/*"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key("upgrade"));
    }
}

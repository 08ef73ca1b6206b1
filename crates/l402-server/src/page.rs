//! The 402 a browser gets: an HTML page with the price, the description and
//! the invoice as a QR code (an SVG drawn here, no JavaScript, no request to
//! anywhere), with the same status, the same `WWW-Authenticate` challenge
//! and a strict `Content-Security-Policy`. Only a request whose `Accept`
//! names `text/html` and that carries no L402 credential gets it; API
//! clients (`Accept: */*`, JSON, none) get the JSON body as before.

use std::sync::LazyLock;

use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use l402::ChallengeStyle;
use qrcode::{Color, EcLevel, QrCode};
use sha2::{Digest, Sha256};

use crate::response::IssuedChallenge;

/// The page's only style sheet; the CSP allows exactly this text (by hash).
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;\
padding:0 1rem;color:#222}h1{font-size:1.4rem}.price{font-size:1.2rem;font-weight:600}\
svg{width:100%;max-width:20rem;height:auto;display:block;margin:1rem 0}\
code{word-break:break-all;font-size:.8rem;display:block;background:#f4f4f4;padding:.5rem}\
a.pay{display:inline-block;padding:.5rem 1rem;background:#f7931a;color:#fff;\
text-decoration:none;border-radius:.3rem}";

/// `default-src 'none'` with the one inline style sheet allowed by hash: no
/// script, no image or font from anywhere, no form, no framing.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'none'"))
});

/// Whether a request asks for a page: its `Accept` names `text/html`
/// (browsers do; `*/*` does not count) with a non-zero quality.
pub(crate) fn wants_html(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut fields = item.split(';').map(str::trim);
            let is_html = fields
                .next()
                .is_some_and(|t| t.eq_ignore_ascii_case("text/html"));
            let refused = fields.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            is_html && !refused
        })
}

/// The 402 page for `issued`.
pub(crate) fn response(
    issued: &IssuedChallenge,
    description: &str,
    style: &ChallengeStyle,
) -> Response<Bytes> {
    let mut response = issued.response(style, false);
    *response.body_mut() = Bytes::from(html(issued, description));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    debug_assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    response
}

fn html(issued: &IssuedChallenge, description: &str) -> String {
    let invoice = &issued.challenge.invoice;
    let sats = issued.amount_sats;
    let unit = if sats == 1 { "sat" } else { "sats" };
    let qr = qr_svg(&format!("lightning:{invoice}").to_ascii_uppercase());
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Payment required: {sats} {unit}</title><style>{STYLE}</style></head>\
         <body><h1>Payment required</h1><p>{description}</p>\
         <p class=\"price\">{sats} {unit}</p>{qr}\
         <p><a class=\"pay\" href=\"lightning:{invoice}\">Open in a Lightning wallet</a></p>\
         <p>Lightning invoice:</p><code id=\"invoice\">{invoice}</code>\
         <p>After paying, send the request again with the header \
         <code>Authorization: L402 &lt;macaroon&gt;:&lt;preimage&gt;</code> where the \
         macaroon is:</p><code id=\"macaroon\">{macaroon}</code>\
         <p>Resource: <code>{resource}</code></p></body></html>\n",
        description = escape(description),
        invoice = escape(invoice),
        macaroon = escape(&issued.challenge.macaroon),
        resource = escape(&issued.resource),
    )
}

/// `text` as a QR code in SVG: one path, one `M x y h w v1 h -w z` run per
/// row of dark modules, on a white background with a 4-module quiet zone.
/// Empty when the text does not fit a QR code.
pub(crate) fn qr_svg(text: &str) -> String {
    let Ok(code) = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L) else {
        return String::new();
    };
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let size = width + 2 * quiet;
    let mut path = String::new();
    for (y, row) in colors.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] != Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && row[x] == Color::Dark {
                x += 1;
            }
            let run = x - start;
            path.push_str(&format!("M{} {}h{run}v1h-{run}z", start + quiet, y + quiet));
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"invoice QR code\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    )
}

/// Escapes text for HTML content and double-quoted or single-quoted
/// attribute values: the one escape every page l402 serves uses (this 402
/// page, the dashboard).
///
/// ```
/// assert_eq!(l402_server::page::escape("<a href=\"x\">'&'</a>"),
///     "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parts(accept: &str) -> Parts {
        let request = http::Request::get("/").header(header::ACCEPT, accept);
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_an_explicit_text_html_asks_for_a_page() {
        assert!(wants_html(&parts(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_html(&parts("TEXT/HTML")));
        assert!(!wants_html(&parts("*/*")));
        assert!(!wants_html(&parts("application/json")));
        assert!(!wants_html(&parts("application/json, text/html;q=0")));
        assert!(!wants_html(
            &http::Request::get("/").body(()).unwrap().into_parts().0
        ));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

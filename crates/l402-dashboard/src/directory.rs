//! The directory: the merchant's listings in the server's API directory
//! (`/api/register`, `/api/apis.json`), those paying one of its Lightning
//! Addresses (its owner address, or a username at this server's host), and
//! whether each is verified (its host serves the listing's nonce at
//! `/.well-known/l402.txt`).

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};

use crate::html::{escape, when};
use crate::{Shared, error, signed_in, signed_in_page};

/// The most listings shown.
const MAX_LISTINGS: u32 = 200;

/// The host of a base URL (`https://api.example.com:8443/x` → `api.example.com:8443`).
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())
}

/// `GET /dashboard/directory`.
pub(crate) async fn page(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let (_, session) = match signed_in(&inner, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let host = inner
        .public_url
        .as_deref()
        .and_then(host_of)
        .or_else(|| headers.get(http::header::HOST)?.to_str().ok());
    let Ok(listings) = inner
        .store
        .merchant_listings(session.merchant_id, host, MAX_LISTINGS)
        .await
    else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database is unavailable; try again shortly",
        );
    };
    let verified = listings.iter().filter(|l| l.verified).count();
    let mut body = format!(
        "<h1>Directory</h1><section><p>Listings in this server's API directory \
         (<a href=\"/api/apis.json\">/api/apis.json</a>) that pay this merchant's Lightning Addresses: \
         <b id=\"listings-count\">{}</b>, <b id=\"listings-verified\">{verified}</b> verified. \
         A listing is verified when its host serves the nonce of its registration at \
         <code>/.well-known/l402.txt</code>; register again (<code>POST /api/register</code>) after serving it.</p></section>",
        listings.len()
    );
    body.push_str("<section><h2>Listings</h2><table id=\"listings\"><thead><tr><th>Name</th><th>URL</th><th class=\"num\">Price</th><th>Category</th><th>Pays</th><th>State</th><th>Updated</th></tr></thead><tbody>");
    for l in &listings {
        let state = if l.verified {
            "<span class=\"up\">verified</span>"
        } else {
            "<span class=\"down\">not verified</span>"
        };
        body.push_str(&format!(
            "<tr data-listing=\"{}\"><td>{}</td><td class=\"wrap mono\">{}</td><td class=\"num\">{} sats</td><td>{}</td><td>{}</td><td>{state}</td><td>{}</td></tr>",
            escape(&l.id),
            escape(&l.name),
            escape(&l.url),
            l.price_sats,
            escape(&l.category),
            escape(&l.lightning_address),
            when(l.updated_at),
        ));
    }
    if listings.is_empty() {
        body.push_str("<tr><td colspan=\"7\">No listings pay this merchant's addresses.</td></tr>");
    }
    body.push_str("</tbody></table></section>");
    signed_in_page(
        &inner,
        &session,
        "Directory",
        "directory",
        body,
        StatusCode::OK,
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_come_from_base_urls() {
        assert_eq!(
            super::host_of("https://a.example:8443/x"),
            Some("a.example:8443")
        );
        assert_eq!(super::host_of("http://b.example"), Some("b.example"));
        assert_eq!(super::host_of("https://"), None);
    }
}

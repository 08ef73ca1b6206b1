//! `discover_api`: what a service sells and at what price, before paying
//! anything. Reads a service's `/.well-known/l402.json` (l402kit's
//! `{protocol, version, provider, demo_endpoint, price_sats, docs, sdk}`, or
//! a manifest with an `endpoints` list) or a directory's `apis.json`
//! (l402kit's `{version, count, apis: [{url, name, description, price_sats,
//! category, created_at}]}`).
//!
//! Nothing is paid. The URL passes the policy's address rules (loopback and
//! private addresses refused unless allowed) and the fetch connects to the
//! addresses checked ([`guard::Target::pin`]); no redirect is followed; at
//! most [`MAX_DOCUMENT_BYTES`] are read and [`MAX_ENTRIES`] entries kept.

use std::time::Duration;

use reqwest::Url;
use serde_json::{Map, Value, json};

use crate::buyer::{Buyer, fail};
use crate::guard;

/// The most bytes of a manifest or directory read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The most endpoints or directory entries returned.
pub const MAX_ENTRIES: usize = 200;
/// The longest text kept from any one field.
const MAX_FIELD_CHARS: usize = 500;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where to look for a URL: itself when it names a JSON document, else the
/// service's `/.well-known/l402.json`, then a directory's `/api/apis.json`.
fn candidates(url: &Url) -> Vec<Url> {
    if url.path().ends_with(".json") {
        return vec![url.clone()];
    }
    ["/.well-known/l402.json", "/api/apis.json"]
        .iter()
        .filter_map(|p| url.join(p).ok())
        .collect()
}

fn short(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(|s| s.chars().take(MAX_FIELD_CHARS).collect())
}

fn price(o: &Map<String, Value>) -> Option<u64> {
    [
        "price_sats",
        "priceSats",
        "basePriceSats",
        "amount_sats",
        "price",
    ]
    .iter()
    .find_map(|k| match o.get(*k)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An absolute http(s) URL for `reference` against `base`, if it is one.
fn absolute(base: &Url, reference: Option<&Value>) -> Option<String> {
    let text = reference?.as_str()?;
    let url = base.join(text).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

/// The endpoints (or directory entries) a document lists, with prices.
fn read_document(doc: &Value, at: &Url, ceiling: u64) -> Result<Value, String> {
    let o = doc.as_object().ok_or("the document is not a JSON object")?;
    let entry = |e: &Value, base: &Url| -> Option<Value> {
        let e = e.as_object()?;
        let url = absolute(base, e.get("url").or_else(|| e.get("path")))?;
        let sats = price(e);
        Some(json!({
            "url": url,
            "method": short(e.get("method").or_else(|| e.get("httpMethod"))).unwrap_or_else(|| "GET".into()),
            "name": short(e.get("name").or_else(|| e.get("endpointId"))),
            "description": short(e.get("description").or_else(|| e.get("summary"))),
            "category": short(e.get("category")),
            "priceSats": sats,
            "affordable": sats.is_some_and(|s| s <= ceiling),
        }))
    };
    if let Some(Value::Array(apis)) = o.get("apis") {
        let results: Vec<Value> = apis
            .iter()
            .take(MAX_ENTRIES)
            .filter_map(|e| entry(e, at))
            .collect();
        return Ok(json!({
            "source": "directory",
            "results": results,
            "total": results.len(),
            "listed": o.get("count").and_then(Value::as_u64).unwrap_or(apis.len() as u64),
        }));
    }
    let service = json!({
        "name": short(o.get("provider").or_else(|| o.get("name")).or_else(|| o.get("service"))),
        "protocol": short(o.get("protocol")).unwrap_or_else(|| "l402".into()),
        "version": short(o.get("version")),
        "docs": absolute(at, o.get("docs")),
        "description": short(o.get("description")),
    });
    let endpoints: Vec<Value> = match o.get("endpoints") {
        Some(Value::Array(list)) => list
            .iter()
            .take(MAX_ENTRIES)
            .filter_map(|e| entry(e, at))
            .collect(),
        _ => {
            let Some(url) = absolute(at, o.get("demo_endpoint").or_else(|| o.get("endpoint")))
            else {
                return Err(
                    "the document lists no endpoints (endpoints, apis or demo_endpoint)".into(),
                );
            };
            let sats = price(o);
            vec![json!({
                "url": url,
                "method": "GET",
                "name": "demo_endpoint",
                "description": Value::Null,
                "category": Value::Null,
                "priceSats": sats,
                "affordable": sats.is_some_and(|s| s <= ceiling),
            })]
        }
    };
    Ok(json!({
        "source": "manifest",
        "service": service,
        "endpoints": endpoints,
        "endpoint_count": endpoints.len(),
    }))
}

/// Reads `url` (already checked) with a bound; `Ok(None)` for a 404.
async fn fetch(target: &guard::Target) -> Result<Option<Value>, String> {
    let http = target
        .pin(reqwest::Client::builder())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut response = http
        .get(target.url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("fetching {}: {e}", target.url))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if status.is_redirection() {
        return Err(format!(
            "{} answered HTTP {} (a redirect, not followed)",
            target.url,
            status.as_u16()
        ));
    }
    if !status.is_success() {
        return Err(format!("{} answered HTTP {}", target.url, status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(format!(
            "{} is larger than {MAX_DOCUMENT_BYTES} bytes",
            target.url
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading {}: {e}", target.url))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "{} is larger than {MAX_DOCUMENT_BYTES} bytes",
                target.url
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("{} is not JSON: {e}", target.url))
}

impl Buyer {
    /// `discover_api`.
    pub async fn discover(&self, url: &str) -> Value {
        let allow_private = self.session.policy().allow_private_addresses;
        let parsed = match guard::check(url, allow_private).await {
            Ok(t) => t.url,
            Err(e) => {
                return json!({"success": false, "error": e, "denialReason": "address_refused", "url": url});
            }
        };
        let ceiling = self.session.payment_ceiling(None);
        let mut tried = Vec::new();
        for candidate in candidates(&parsed) {
            // Each candidate is checked (and pinned) on its own.
            let target = match guard::check(candidate.as_str(), allow_private).await {
                Ok(t) => t,
                Err(e) => {
                    return json!({"success": false, "error": e, "denialReason": "address_refused", "url": url});
                }
            };
            tried.push(candidate.to_string());
            let doc = match fetch(&target).await {
                Ok(Some(doc)) => doc,
                Ok(None) => continue,
                Err(e) => return fail(e),
            };
            return match read_document(&doc, &candidate, ceiling) {
                Ok(mut out) => {
                    out["success"] = json!(true);
                    out["manifest_url"] = json!(candidate.to_string());
                    out["budget"] = json!({
                        "maxSatsPerPayment": ceiling,
                        "note": "affordable: within the per-payment and session caps in force now. Nothing was paid.",
                    });
                    out
                }
                Err(e) => fail(format!("{candidate}: {e}")),
            };
        }
        json!({
            "success": false,
            "error": "no L402 manifest or directory found",
            "tried": tried,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(u: &str) -> Url {
        u.parse().unwrap()
    }

    #[test]
    fn l402kit_well_known() {
        let doc = json!({"protocol":"l402","version":"1.0","provider":"ShinyDapps",
            "demo_endpoint":"https://api.example/api/demo/btc-price","price_sats":1,
            "docs":"https://docs.example","sdk":"pip install l402kit"});
        let out =
            read_document(&doc, &at("https://api.example/.well-known/l402.json"), 10).unwrap();
        assert_eq!(out["source"], "manifest");
        assert_eq!(out["service"]["name"], "ShinyDapps");
        assert_eq!(
            out["endpoints"][0]["url"],
            "https://api.example/api/demo/btc-price"
        );
        assert_eq!(out["endpoints"][0]["priceSats"], 1);
        assert_eq!(out["endpoints"][0]["affordable"], true);
    }

    #[test]
    fn directory_bounded_and_relative_urls_resolved() {
        let apis: Vec<Value> = (0..MAX_ENTRIES + 50)
            .map(|i| json!({"url": format!("/api/{i}"), "name": "x", "price_sats": i, "category": "data"}))
            .collect();
        let doc = json!({"version": "1", "count": apis.len(), "apis": apis});
        let out = read_document(&doc, &at("https://dir.example/api/apis.json"), 5).unwrap();
        assert_eq!(out["source"], "directory");
        assert_eq!(out["total"], MAX_ENTRIES);
        assert_eq!(out["results"][3]["url"], "https://dir.example/api/3");
        assert_eq!(out["results"][5]["affordable"], true);
        assert_eq!(out["results"][6]["affordable"], false);
    }

    #[test]
    fn not_a_manifest() {
        assert!(read_document(&json!([1]), &at("https://a/x.json"), 1).is_err());
        assert!(read_document(&json!({"a": 1}), &at("https://a/x.json"), 1).is_err());
        // A javascript: URL is not an endpoint.
        let doc = json!({"endpoints": [{"url": "javascript:alert(1)", "price_sats": 1}]});
        let out = read_document(&doc, &at("https://a/x.json"), 1).unwrap();
        assert_eq!(out["endpoint_count"], 0);
    }

    #[test]
    fn candidates_for_a_base_or_a_document() {
        assert_eq!(
            candidates(&at("https://a.example/x")),
            vec![
                at("https://a.example/.well-known/l402.json"),
                at("https://a.example/api/apis.json")
            ]
        );
        assert_eq!(
            candidates(&at("https://d.example/api/apis.json?category=ai")),
            vec![at("https://d.example/api/apis.json?category=ai")]
        );
    }
}

//! `l402 serve --aperture-config aperture.yaml`: Aperture's `services`
//! section (its `sample-conf.yaml` shape) read as `[[services]]`. What it
//! cannot honour is said, key by key: the rest of the file (l402 serve's own
//! settings apply), and per service `constraints`, a non-`l402`
//! `authscheme`, and the `ratelimits` l402 has no form for: l402's rate
//! limits cover a whole service (no per-path form), so one `ratelimits`
//! entry without a path pattern (or one matching every path) becomes a
//! per-token and a per-network `rate_limits` pair, and the others are
//! named as not enforced. What differs is said too: an `https` upstream's
//! certificate is verified (`tlscertpath` pinned, else the system's roots;
//! Aperture skips verification), and `dynamicprice` becomes an HTTP pricer
//! at `http://<grpcaddress>/price` (Aperture's speaks gRPC).

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::limits::RateLimitConfig;
use super::{RewriteConfig, ServiceConfig};

/// The most bytes read from an Aperture configuration.
pub const MAX_APERTURE_CONFIG_BYTES: usize = 1024 * 1024;

/// Aperture's services as `[[services]]`, and a note per key not honoured.
#[derive(Debug, Default)]
pub struct ApertureServices {
    /// The services, in Aperture's order.
    pub services: Vec<ServiceConfig>,
    /// What is not supported, one sentence each, naming the key.
    pub notes: Vec<String>,
}

/// The keys of an Aperture service this reads.
const READ: &[&str] = &[
    "name",
    "hostregexp",
    "pathregexp",
    "address",
    "protocol",
    "auth",
    "price",
    "authwhitelistpaths",
    "authskipinvoicecreationpaths",
    "headers",
    "rewrite",
    "capabilities",
    "timeout",
    "tlscertpath",
    "constraints",
    "ratelimits",
    "dynamicprice",
    "authscheme",
];

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn texts(v: Option<&Value>, key: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|i| text(i).ok_or_else(|| format!("{key}: every entry must be a string")))
            .collect(),
        Some(_) => Err(format!("{key}: must be a list")),
    }
}

/// Reads an Aperture YAML configuration's `services`.
///
/// # Errors
/// Text that is not YAML, or a service whose keys have the wrong type; the
/// message names the key (`services[1].price`).
pub fn read(yaml: &str) -> Result<ApertureServices, String> {
    let doc: Value = serde_yaml_ng::from_str(yaml).map_err(|e| format!("not YAML: {e}"))?;
    let Value::Mapping(top) = doc else {
        return Err("the file is not a YAML mapping".to_owned());
    };
    let mut out = ApertureServices::default();
    let ignored: Vec<String> = top
        .keys()
        .filter_map(text)
        .filter(|k| k != "services")
        .collect();
    if !ignored.is_empty() {
        out.notes.push(format!(
            "{}: not read (only Aperture's services are; l402 serve's own settings apply)",
            ignored.join(", ")
        ));
    }
    let services = match top.get("services") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Sequence(s)) => s,
        Some(_) => return Err("services: must be a list".to_owned()),
    };
    for (i, entry) in services.iter().enumerate() {
        let at = |k: &str| format!("services[{i}].{k}");
        let Value::Mapping(map) = entry else {
            return Err(format!("services[{i}]: must be a mapping"));
        };
        let get = |k: &str| map.get(k);
        let string = |k: &str| -> Result<Option<String>, String> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => text(v)
                    .map(Some)
                    .ok_or_else(|| format!("{}: must be a string", at(k))),
            }
        };
        let number = |k: &str| -> Result<Option<i64>, String> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| format!("{}: must be a whole number", at(k))),
                Some(_) => Err(format!("{}: must be a number", at(k))),
            }
        };
        let name = string("name")?.ok_or_else(|| format!("{}: required", at("name")))?;
        for key in map.keys().filter_map(text) {
            if !READ.contains(&key.as_str()) {
                out.notes.push(format!(
                    "{}: not an Aperture service key l402 knows",
                    at(&key)
                ));
            }
        }
        let protocol = string("protocol")?.unwrap_or_else(|| "http".to_owned());
        if protocol != "http" && protocol != "https" {
            out.notes.push(format!(
                "{}: {protocol:?} upstreams are not supported: service {name:?} is left out",
                at("protocol")
            ));
            continue;
        }
        let pinned_cert = https_trust(&protocol, string("tlscertpath")?, &at, &mut out.notes);
        let Ok(dynamic_price) = dynamic_price(get("dynamicprice"), &name, &at, &mut out.notes)
        else {
            continue;
        };
        let dynamic = dynamic_price.is_some();
        if get("constraints").is_some_and(|v| !v.is_null()) {
            out.notes
                .push(format!("{}: not written into tokens", at("constraints")));
        }
        let service_path = string("pathregexp")?;
        let rate_limits = rate_limits(
            get("ratelimits"),
            service_path.as_deref(),
            &at,
            &mut out.notes,
        );
        if let Some(scheme) = string("authscheme")?
            && scheme != "l402"
        {
            out.notes.push(format!(
                "{}: {scheme:?} is not supported: the service sells over l402 only",
                at("authscheme")
            ));
        }
        let mut headers = BTreeMap::new();
        match get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(h)) => {
                for (k, v) in h {
                    let (Some(k), Some(v)) = (text(k), text(v)) else {
                        return Err(format!(
                            "{}: names and values must be strings",
                            at("headers")
                        ));
                    };
                    headers.insert(k, v);
                }
            }
            Some(_) => return Err(format!("{}: must be a mapping", at("headers"))),
        }
        let prefix = match get("rewrite") {
            None | Some(Value::Null) => None,
            Some(Value::Mapping(r)) => r.get("prefix").and_then(text),
            Some(_) => return Err(format!("{}: must be a mapping", at("rewrite"))),
        };
        let capabilities = string("capabilities")?
            .map(|c| {
                c.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        // Aperture: a price of 0, or none, is 1 sat.
        let price = number("price")?.filter(|p| *p != 0).unwrap_or(1);
        let timeout = number("timeout")?
            .map(|t| u64::try_from(t).map_err(|_| format!("{}: must be positive", at("timeout"))))
            .transpose()?
            .filter(|t| *t > 0);
        out.services.push(ServiceConfig {
            name,
            description: None,
            hostregexp: string("hostregexp")?,
            host: None,
            pathregexp: string("pathregexp")?,
            address: string("address")?.ok_or_else(|| format!("{}: required", at("address")))?,
            protocol: Some(protocol),
            ca_file: None,
            pinned_cert,
            price: dynamic_price,
            price_sats: (!dynamic).then_some(price),
            auth: string("auth")?,
            free_paths: texts(get("authwhitelistpaths"), &at("authwhitelistpaths"))?,
            no_invoice_paths: texts(
                get("authskipinvoicecreationpaths"),
                &at("authskipinvoicecreationpaths"),
            )?,
            headers,
            rewrite: RewriteConfig { prefix },
            token_lifetime_secs: timeout,
            capabilities,
            timeout_secs: None,
            max_body_bytes: None,
            forward_authorization: None,
            shadow: None,
            rate_limits,
            ..ServiceConfig::default()
        });
    }
    Ok(out)
}

/// Path patterns that match every path: a `ratelimits` entry with one of
/// these covers the whole service.
const EVERY_PATH: &[&str] = &["", ".*", "^.*", "^.*$", "^/.*", "^/.*$", "/.*", "^/"];

/// Aperture's `ratelimits` (`[{pathregexp, requests, per, burst}]`, a token
/// bucket per token, or per client network when unauthenticated) as
/// `rate_limits`: the first entry for the whole service (no `pathregexp`,
/// one matching every path, or the service's own) becomes a limit per
/// token and one per network (which counts every request from the network,
/// paid or not). l402's rate limits have no per-path form: an entry with a
/// narrower `pathregexp`, a second whole-service entry, or a period under
/// a second or not in whole seconds is named in a note and not enforced.
fn rate_limits(
    v: Option<&Value>,
    service_path: Option<&str>,
    at: &dyn Fn(&str) -> String,
    notes: &mut Vec<String>,
) -> Vec<RateLimitConfig> {
    let entries = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(entries)) => entries,
        Some(_) => {
            notes.push(format!(
                "{}: must be a list: not enforced",
                at("ratelimits")
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (j, entry) in entries.iter().enumerate() {
        let key = |k: &str| at(&format!("ratelimits[{j}].{k}"));
        let field = |k: &str| match entry {
            Value::Mapping(m) => m.get(k).filter(|v| !v.is_null()),
            _ => None,
        };
        if let Some(pattern) = field("pathregexp").and_then(text)
            && !EVERY_PATH.contains(&pattern.as_str())
            && service_path != Some(pattern.as_str())
        {
            notes.push(format!(
                "{}: {pattern:?}: l402's rate limits apply to the whole service \
                 (no per-path form): this limit is not enforced",
                key("pathregexp")
            ));
            continue;
        }
        let requests = field("requests")
            .and_then(Value::as_u64)
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| *r > 0);
        let Some(requests) = requests else {
            notes.push(format!(
                "{}: must be a positive whole number: this limit is not enforced",
                key("requests")
            ));
            continue;
        };
        let per = field("per")
            .and_then(text)
            .unwrap_or_else(|| "1s".to_owned());
        let Some(per_secs) = go_duration_secs(&per) else {
            notes.push(format!(
                "{}: {per:?}: l402 counts over whole seconds (1s or more): \
                 this limit is not enforced",
                key("per")
            ));
            continue;
        };
        let burst = field("burst")
            .and_then(Value::as_u64)
            .and_then(|b| u32::try_from(b).ok())
            .filter(|b| *b > 0);
        if !out.is_empty() {
            notes.push(format!(
                "{}: only one whole-service limit is taken (per token and per network): \
                 this one is not enforced",
                at(&format!("ratelimits[{j}]"))
            ));
            continue;
        }
        for by in ["token", "network"] {
            out.push(RateLimitConfig {
                per: by.to_owned(),
                requests,
                per_secs: Some(per_secs),
                burst,
            });
        }
    }
    out
}

/// A Go duration (`1s`, `1m30s`, `2h`, `1500ms`) in whole seconds; `None`
/// if it is not one, is under a second, or is not whole seconds.
fn go_duration_secs(text: &str) -> Option<u64> {
    let mut ms: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return None,
        };
        ms = ms.checked_add(n.checked_mul(scale)?)?;
        rest = &rest[unit_len..];
    }
    (ms >= 1_000 && ms.is_multiple_of(1_000)).then_some(ms / 1_000)
}

/// An `https` upstream's trust: Aperture does not verify the backend's
/// certificate (`InsecureSkipVerify`); l402 does, against `tlscertpath`
/// pinned when given, else the system's roots.
fn https_trust(
    protocol: &str,
    tlscertpath: Option<String>,
    at: &dyn Fn(&str) -> String,
    notes: &mut Vec<String>,
) -> Option<String> {
    match (protocol, tlscertpath) {
        ("https", Some(path)) => {
            notes.push(format!(
                "{}: pinned: the upstream must present exactly this certificate (Aperture \
                 skips verification)",
                at("tlscertpath")
            ));
            Some(path)
        }
        ("https", None) => {
            notes.push(format!(
                "{}: the upstream's certificate is verified against the system's roots \
                 (Aperture skips verification); set ca_file or pinned_cert in [[services]] \
                 for a private one",
                at("protocol")
            ));
            None
        }
        (_, Some(_)) => {
            notes.push(format!(
                "{}: only used for https upstreams",
                at("tlscertpath")
            ));
            None
        }
        (_, None) => None,
    }
}

/// Aperture's `dynamicprice`, when enabled, as an HTTP pricer at the same
/// address; what differs is said. `Err`: the service is left out (said).
fn dynamic_price(
    section: Option<&Value>,
    name: &str,
    at: &dyn Fn(&str) -> String,
    notes: &mut Vec<String>,
) -> Result<Option<super::upstream::PriceConfig>, ()> {
    let Some(Value::Mapping(d)) = section else {
        return Ok(None);
    };
    if !d
        .get("enabled")
        .is_some_and(|e| matches!(e, Value::Bool(true)))
    {
        return Ok(None);
    }
    let Some(address) = d.get("grpcaddress").and_then(text) else {
        notes.push(format!(
            "{}: no pricer address: service {name:?} is left out",
            at("dynamicprice.grpcaddress")
        ));
        return Err(());
    };
    let url = format!("http://{address}/price");
    notes.push(format!(
        "{}: Aperture's pricer speaks gRPC (pricesrpc.Prices/GetPrice); l402 POSTs JSON \
         {{service, method, path, query, headers, body_size}} to {url} and reads \
         {{\"price_sats\"}}: put an HTTP pricer there (until one answers, requests get 503 \
         pricer_unavailable)",
        at("dynamicprice")
    ));
    for (key, what) in [
        ("insecure", "ignored: the pricer is reached over plain HTTP"),
        (
            "tlscertpath",
            "ignored: the pricer is reached over plain HTTP",
        ),
        ("metered", "not supported: one price per request"),
        ("usagetailbytes", "not supported: one price per request"),
    ] {
        if d.get(key)
            .is_some_and(|v| !v.is_null() && !matches!(v, Value::Bool(false)))
        {
            notes.push(format!("{}: {what}", at(&format!("dynamicprice.{key}"))));
        }
    }
    Ok(Some(super::upstream::PriceConfig {
        pricer: url,
        timeout_ms: None,
        fallback_sats: None,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sample_conf_shape() {
        let yaml = r#"
listenaddr: "localhost:8081"
authenticator:
  network: "simnet"
services:
  - name: "service1"
    hostregexp: '^service1.com$'
    pathregexp: '^/.*$'
    address: "127.0.0.1:10009"
    protocol: http
    capabilities: "add,subtract"
    constraints:
        "valid_until": 1682483169
    timeout: 31557600
    price: 0
    authwhitelistpaths:
      - '^/freebieservice.*$'
    authskipinvoicecreationpaths:
      - '^/streamingservice.*$'
    ratelimits:
      - pathregexp: '^/looprpc.*$'
        requests: 5
        per: 1s
      - requests: 10
        per: 1m
        burst: 3
      - requests: 1
        per: 500ms
    headers:
      X-Key: "!file+hex:key.bin"
    rewrite:
      prefix: "/api"
  - name: "service2"
    address: "127.0.0.1:8082"
    protocol: https
    price: 3
  - name: "service3"
    address: "127.0.0.1:8083"
    dynamicprice:
      enabled: true
      grpcaddress: "127.0.0.1:9000"
      metered: true
  - name: "service4"
    address: "127.0.0.1:8084"
    dynamicprice:
      enabled: true
  - name: "service5"
    address: "127.0.0.1:8085"
    protocol: https
    tlscertpath: "backend.pem"
"#;
        let got = read(yaml).unwrap();
        let names: Vec<_> = got.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["service1", "service2", "service3", "service5"]);
        assert_eq!(got.services[1].protocol.as_deref(), Some("https"));
        assert!(got.services[1].pinned_cert.is_none());
        let dynamic = got.services[2].price.as_ref().unwrap();
        assert_eq!(dynamic.pricer, "http://127.0.0.1:9000/price");
        assert_eq!(got.services[2].price_sats, None);
        assert_eq!(got.services[3].pinned_cert.as_deref(), Some("backend.pem"));
        let s = &got.services[0];
        assert_eq!(s.price_sats, Some(1));
        assert_eq!(s.capabilities, ["add", "subtract"]);
        assert_eq!(s.token_lifetime_secs, Some(31_557_600));
        assert_eq!(s.free_paths, ["^/freebieservice.*$"]);
        assert_eq!(s.rewrite.prefix.as_deref(), Some("/api"));
        let limits: Vec<_> = s
            .rate_limits
            .iter()
            .map(|r| (r.per.as_str(), r.requests, r.per_secs, r.burst))
            .collect();
        assert_eq!(
            limits,
            [
                ("token", 10, Some(60), Some(3)),
                ("network", 10, Some(60), Some(3))
            ]
        );
        assert_eq!(super::go_duration_secs("1m30s"), Some(90));
        assert_eq!(super::go_duration_secs("1500ms"), None);
        assert_eq!(super::go_duration_secs("2x"), None);
        let notes = got.notes.join("\n");
        for key in [
            "listenaddr, authenticator: not read",
            "services[0].constraints",
            "services[0].ratelimits[0].pathregexp: \"^/looprpc.*$\": l402's rate limits apply to the whole service",
            "services[0].ratelimits[2].per: \"500ms\"",
            "services[1].protocol: the upstream's certificate is verified",
            "services[2].dynamicprice: Aperture's pricer speaks gRPC",
            "services[2].dynamicprice.metered: not supported",
            "services[3].dynamicprice.grpcaddress: no pricer address",
            "services[4].tlscertpath: pinned",
        ] {
            assert!(notes.contains(key), "{key} missing from:\n{notes}");
        }
        assert!(read("services: 3").unwrap_err().contains("services"));
        let bad = "services:\n  - name: a\n    address: b\n    price: [1]";
        assert!(read(bad).unwrap_err().contains("services[0].price"));
    }
}

//! `[[routes]]`: paths that serve fixed content after payment, checked
//! against the paths the server answers itself.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, err};
use crate::serve::DEMO_PATH;

/// `[[routes]]`: a path that serves fixed content after payment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The path, starting with `/`.
    pub path: String,
    /// The price in sats.
    pub price_sats: i64,
    /// The invoice description.
    pub description: Option<String>,
    /// The content served after payment (or `file`).
    pub body: Option<String>,
    /// A file whose content is served after payment (relative to the config file).
    pub file: Option<PathBuf>,
    /// The content type (default `text/plain; charset=utf-8`).
    pub content_type: Option<String>,
}

/// A paid route, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The path.
    pub path: String,
    /// The price in sats.
    pub price_sats: u64,
    /// The invoice description.
    pub description: Option<String>,
    /// The content.
    pub body: Vec<u8>,
    /// The content type.
    pub content_type: String,
}

/// The longest paid route path.
const MAX_ROUTE_PATH: usize = 512;

/// Why a paid route cannot be served at `path`, if it cannot: it must be a
/// plain absolute path (letters, digits and `-._~!$&'()+,;=@` between single
/// slashes; no `.`/`..` segments, no patterns, queries or escapes), and not
/// one the server itself answers (`/`, the dev node under `/dev`, the producer
/// API, the demo endpoint while it is on).
pub(super) fn check_route_path(path: &str, demo: bool) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("{path:?} must start with /"));
    };
    if path.len() > MAX_ROUTE_PATH {
        return Err(format!("is longer than {MAX_ROUTE_PATH} bytes"));
    }
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/-._~!$&'()+,;=@".contains(*c)))
    {
        let hint = match c {
            ':' | '*' | '{' | '}' => " (paid routes are plain paths: no parameters or wildcards)",
            '?' | '#' => " (a route is a path, without a query or fragment)",
            '%' => " (write the path unescaped)",
            _ => "",
        };
        return Err(format!(
            "{path:?} contains {c:?}: use letters, digits and -._~!$&'()+,;=@ between slashes{hint}"
        ));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && i != last {
            return Err(format!("{path:?} has an empty segment (//)"));
        }
        if *segment == "." || *segment == ".." {
            return Err(format!("{path:?} has a . or .. segment"));
        }
    }
    if path == "/" {
        return Err("\"/\" is reserved: pick a path like /api/report".to_owned());
    }
    if path == "/dev" || path.starts_with("/dev/") {
        return Err(format!(
            "{path:?} is reserved: the dev node's wallet API is served under /dev"
        ));
    }
    // The producer API's namespaces, from its own route table.
    if let Some(p) = l402_producer::reserved_prefixes()
        .iter()
        .find(|p| path == **p || path.strip_prefix(**p).is_some_and(|r| r.starts_with('/')))
    {
        return Err(format!("{path:?} is reserved: the producer API serves {p}"));
    }
    if path == l402_server::discovery::WELL_KNOWN_PATH || path == "/metrics" {
        return Err(format!(
            "{path:?} is reserved: the server answers it (discovery document, metrics)"
        ));
    }
    if demo && (path == "/api/demo" || path.starts_with("/api/demo/")) && path != DEMO_PATH {
        return Err(format!(
            "{path:?} is reserved: the demo serves /api/demo (turn it off with \
             [demo] enabled = false, or --no-demo)"
        ));
    }
    if demo && path == DEMO_PATH {
        return Err(format!(
            "{path:?} is the demo endpoint's path: pick another, or turn the demo off \
             ([demo] enabled = false, or --no-demo)"
        ));
    }
    Ok(())
}

/// `[[routes]]`, checked, with their files read (relative to `base_dir`).
pub(super) fn resolve(
    source: &str,
    file_routes: Vec<RouteConfig>,
    demo: bool,
    base_dir: Option<&Path>,
) -> Result<Vec<Route>, ConfigError> {
    let mut routes = Vec::with_capacity(file_routes.len());
    for (i, route) in file_routes.into_iter().enumerate() {
        let key = |k: &str| format!("routes[{i}].{k}");
        check_route_path(&route.path, demo).map_err(|reason| err(source, &key("path"), reason))?;
        if routes.iter().any(|r: &Route| r.path == route.path) {
            return Err(err(
                source,
                &key("path"),
                format!("{:?} is configured twice", route.path),
            ));
        }
        let price_sats = u64::try_from(route.price_sats)
            .ok()
            .filter(|p| (1..=21_000_000 * 100_000_000).contains(p))
            .ok_or_else(|| {
                err(
                    source,
                    &key("price_sats"),
                    format!(
                        "{} is not a price: it must be at least 1 sat",
                        route.price_sats
                    ),
                )
            })?;
        let body = match (route.body, route.file) {
            (Some(body), None) => body.into_bytes(),
            (None, Some(file)) => {
                let path = base_dir.map_or(file.clone(), |d| d.join(&file));
                std::fs::read(&path).map_err(|e| {
                    err(
                        source,
                        &key("file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?
            }
            (Some(_), Some(_)) => {
                return Err(err(source, &key("body"), "set body or file, not both"));
            }
            (None, None) => {
                return Err(err(
                    source,
                    &key("body"),
                    "set body or file: what the route serves after payment",
                ));
            }
        };
        routes.push(Route {
            path: route.path,
            price_sats,
            description: route.description,
            body,
            content_type: route
                .content_type
                .unwrap_or_else(|| "text/plain; charset=utf-8".to_owned()),
        });
    }
    Ok(routes)
}

//! `[demo]`'s price source: `price_url`, where the 1-sat BTC price demo
//! reads the price (an http(s) URL answering CoinGecko's `simple/price`
//! shape or mempool.space's `/api/v1/prices`). Without it the demo answers
//! a fixed price labelled as a demo price.

use serde::Deserialize;

use super::{ConfigError, err};

/// `[demo]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Serve the demo endpoint (default true).
    pub enabled: Option<bool>,
    /// Where the BTC price demo reads the price (default: a fixed demo price).
    pub price_url: Option<String>,
}

/// `[demo] price_url`, checked: an http(s) URL with a host.
pub(super) fn price_url(source: &str, url: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = url else {
        return Ok(None);
    };
    let ok = reqwest::Url::parse(&url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if !ok {
        return Err(err(
            source,
            "demo.price_url",
            format!(
                "{url:?} is not an http(s) URL (e.g. https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies=usd,eur,gbp)"
            ),
        ));
    }
    Ok(Some(url))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls() {
        assert_eq!(price_url("f", None).unwrap(), None);
        let url = "https://mempool.space/api/v1/prices".to_owned();
        assert_eq!(price_url("f", Some(url.clone())).unwrap(), Some(url));
        for bad in ["file:///etc/passwd", "mempool.space", ""] {
            let e = price_url("c.toml", Some(bad.to_owned())).unwrap_err();
            assert_eq!(e.key, "demo.price_url");
        }
    }
}

//! Paying a Lightning Address: resolving it (LUD-16), asking its callback
//! for an invoice (LUD-06), and checking that invoice with the core's
//! decoder ([`l402::Invoice`]: signature, single payment hash, expiry,
//! network) before anything is recorded or paid.

use std::str::FromStr;
use std::time::Duration;

use ::l402::invoice::{Invoice, InvoiceRequirements};
use ::l402::lightning_invoice::Currency;
use serde_json::Value;

use crate::sha256;

/// The largest LNURL answer read, in bytes.
pub const MAX_LNURL_ANSWER_BYTES: usize = 64 * 1024;
/// The longest Lightning Address accepted.
pub const MAX_ADDRESS_CHARS: usize = 320;

/// Why an address could not be paid (nothing was paid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LnurlError {
    /// Not `user@domain` with LUD-16's characters.
    #[error("not a Lightning Address (user@domain): {0}")]
    Address(String),
    /// The address's server could not be reached or answered an error.
    #[error("the Lightning Address server: {0}")]
    Unreachable(String),
    /// The server's answer is not LUD-06's.
    #[error("the Lightning Address server answered something that is not LUD-06: {0}")]
    Malformed(String),
    /// The server said `{"status": "ERROR"}`.
    #[error("the Lightning Address server refused: {0}")]
    Refused(String),
    /// The amount is outside the server's `minSendable`..`maxSendable`.
    #[error("{amount_msat} msat is outside {min_msat}..={max_msat} msat the address accepts")]
    OutOfRange {
        /// Asked.
        amount_msat: u64,
        /// minSendable.
        min_msat: u64,
        /// maxSendable.
        max_msat: u64,
    },
    /// The invoice does not decode, or fails the core's checks.
    #[error("the invoice was refused: {0}")]
    Invoice(String),
    /// The invoice's amount is not the amount asked for.
    #[error("the invoice is for {found:?} msat, not the {expected} msat asked for")]
    WrongAmount {
        /// Asked.
        expected: u64,
        /// In the invoice.
        found: Option<u64>,
    },
    /// The invoice's description hash is not `sha256(metadata)`.
    #[error("the invoice's description hash is not sha256 of the address's metadata")]
    WrongDescriptionHash,
}

/// A Lightning Address, checked: `user@domain[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightningAddress {
    user: String,
    domain: String,
}

impl FromStr for LightningAddress {
    type Err = LnurlError;

    fn from_str(text: &str) -> Result<Self, LnurlError> {
        let bad = |why: &str| LnurlError::Address(why.to_owned());
        if text.len() > MAX_ADDRESS_CHARS {
            return Err(bad("too long"));
        }
        let (user, domain) = text.trim().split_once('@').ok_or_else(|| bad("no @"))?;
        let user = user.to_ascii_lowercase();
        if !crate::lnaddress::valid_username(&user) {
            return Err(bad("the user part must be a-z, 0-9, '-', '_' or '.'"));
        }
        let domain = domain.to_ascii_lowercase();
        let host_ok = !domain.is_empty()
            && domain.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            })
            && reqwest::Url::parse(&format!("https://{domain}/")).is_ok_and(|u| {
                u.host_str().is_some() && u.path() == "/" && u.username().is_empty()
            });
        if !host_ok {
            return Err(bad("the domain is not a host name"));
        }
        Ok(LightningAddress { user, domain })
    }
}

impl std::fmt::Display for LightningAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.user, self.domain)
    }
}

impl LightningAddress {
    /// LUD-16's URL: `https://<domain>/.well-known/lnurlp/<user>`, or
    /// `http` when `allow_http` (local tests and `.onion`).
    pub fn url(&self, allow_http: bool) -> String {
        let scheme = if allow_http || self.domain.ends_with(".onion") {
            "http"
        } else {
            "https"
        };
        format!(
            "{scheme}://{}/.well-known/lnurlp/{}",
            self.domain, self.user
        )
    }
}

/// How to fetch invoices.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    pub(crate) http: reqwest::Client,
    pub(crate) allow_http: bool,
    pub(crate) network: Option<Currency>,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration, allow_http: bool, network: Option<Currency>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Fetcher {
            http,
            allow_http,
            network,
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, LnurlError> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| LnurlError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| LnurlError::Unreachable(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_LNURL_ANSWER_BYTES {
                return Err(LnurlError::Malformed(format!(
                    "answer larger than {MAX_LNURL_ANSWER_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            if status.is_success() {
                LnurlError::Malformed("not JSON".into())
            } else {
                LnurlError::Unreachable(format!("HTTP {status}"))
            }
        })?;
        if value["status"].as_str() == Some("ERROR") {
            let reason: String = value["reason"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            return Err(LnurlError::Refused(reason));
        }
        if !status.is_success() {
            return Err(LnurlError::Unreachable(format!("HTTP {status}")));
        }
        Ok(value)
    }

    /// An invoice for `amount_msat` to `address`, checked; nothing is paid.
    pub(crate) async fn invoice(
        &self,
        address: &LightningAddress,
        amount_msat: u64,
    ) -> Result<Invoice, LnurlError> {
        let pay = self.get_json(&address.url(self.allow_http)).await?;
        let malformed = |what: &str| LnurlError::Malformed(what.to_owned());
        if pay["tag"].as_str() != Some("payRequest") {
            return Err(malformed("tag is not payRequest"));
        }
        let callback = pay["callback"]
            .as_str()
            .ok_or_else(|| malformed("no callback"))?;
        let min_msat = pay["minSendable"]
            .as_u64()
            .ok_or_else(|| malformed("no minSendable"))?;
        let max_msat = pay["maxSendable"]
            .as_u64()
            .ok_or_else(|| malformed("no maxSendable"))?;
        let metadata = pay["metadata"]
            .as_str()
            .ok_or_else(|| malformed("no metadata"))?;
        if !(min_msat..=max_msat).contains(&amount_msat) {
            return Err(LnurlError::OutOfRange {
                amount_msat,
                min_msat,
                max_msat,
            });
        }
        let mut url =
            reqwest::Url::parse(callback).map_err(|_| malformed("callback is not a URL"))?;
        if url.scheme() != "https" && !(self.allow_http && url.scheme() == "http") {
            return Err(malformed("callback is not https"));
        }
        url.query_pairs_mut()
            .append_pair("amount", &amount_msat.to_string());
        let answer = self.get_json(url.as_str()).await?;
        let pr = answer["pr"].as_str().ok_or_else(|| malformed("no pr"))?;
        check_invoice(pr, amount_msat, metadata, self.network.as_ref())
    }
}

/// Checks an LNURL-pay invoice: fully decoded and signed, not expired, on
/// `network`, for exactly `amount_msat`, and committing to
/// `sha256(metadata)`.
///
/// # Errors
/// The first [`LnurlError`] found.
pub fn check_invoice(
    pr: &str,
    amount_msat: u64,
    metadata: &str,
    network: Option<&Currency>,
) -> Result<Invoice, LnurlError> {
    let invoice = Invoice::from_str(pr).map_err(|e| LnurlError::Invoice(e.to_string()))?;
    let mut requirements = InvoiceRequirements::new()
        .max_amount_msat(amount_msat)
        .at_unix_secs(::l402::time::unix_now());
    if let Some(network) = network {
        requirements = requirements.network(network.clone());
    }
    invoice.check(&requirements).map_err(|e| match e {
        ::l402::InvoiceError::OverLimit {
            amount_msat: found, ..
        } => LnurlError::WrongAmount {
            expected: amount_msat,
            found: Some(found),
        },
        other => LnurlError::Invoice(other.to_string()),
    })?;
    if invoice.amount_msat() != Some(amount_msat) {
        return Err(LnurlError::WrongAmount {
            expected: amount_msat,
            found: invoice.amount_msat(),
        });
    }
    if invoice.description_hash() != Some(sha256(metadata.as_bytes())) {
        return Err(LnurlError::WrongDescriptionHash);
    }
    Ok(invoice)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        let a: LightningAddress = "Bob@Pay.Example.com".parse().unwrap();
        assert_eq!(a.to_string(), "bob@pay.example.com");
        assert_eq!(
            a.url(false),
            "https://pay.example.com/.well-known/lnurlp/bob"
        );
        let local: LightningAddress = "bob@127.0.0.1:52600".parse().unwrap();
        assert_eq!(
            local.url(true),
            "http://127.0.0.1:52600/.well-known/lnurlp/bob"
        );
        for bad in [
            "bob",
            "@x.com",
            "b b@x.com",
            "bob@",
            "bob@x.com/evil",
            "bob@u:p@x.com",
        ] {
            assert!(bad.parse::<LightningAddress>().is_err(), "{bad}");
        }
        assert!(
            format!("a@{}", "x".repeat(400))
                .parse::<LightningAddress>()
                .is_err()
        );
    }

    #[test]
    fn garbage_invoices_are_refused_without_panic() {
        for pr in ["", "lnbc1", "lnbcrt10n1garbage", &"x".repeat(9000)] {
            assert!(check_invoice(pr, 1000, "[]", None).is_err());
        }
    }
}

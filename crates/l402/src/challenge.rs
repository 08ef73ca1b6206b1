//! `WWW-Authenticate` challenges: emitted in Aperture's exact form, parsed in
//! every dialect deployed servers send.
//!
//! Emitting:
//!
//! ```
//! use l402::{Challenge, ChallengeStyle};
//!
//! let challenge = Challenge::new("AgEEbHNhdA==", "lnbcrt1...");
//! assert_eq!(
//!     challenge.to_string(),
//!     r#"L402 macaroon="AgEEbHNhdA==", invoice="lnbcrt1...""#
//! );
//! // Optional extras: the 2026 spec's version/token after the invoice, and a
//! // legacy LSAT header first, as Aperture sends for old Loop clients.
//! let style = ChallengeStyle::default().with_token_param(true).with_lsat_header(true);
//! let values = challenge.header_values(&style);
//! assert_eq!(values.len(), 2);
//! assert!(values[0].starts_with("LSAT macaroon="));
//! assert!(values[1].ends_with(r#"version="0", token="AgEEbHNhdA==""#));
//! ```
//!
//! Parsing (any case, `macaroon=` or `token=`, quoted or bare, any order,
//! several challenges per header or several headers):
//!
//! ```
//! use l402::Challenges;
//!
//! let parsed = Challenges::parse([
//!     r#"Payment id="x", method="lightning", l402 token=AgEE, invoice="lnbc1""#,
//! ]);
//! let l402 = parsed.l402().unwrap();
//! assert_eq!(l402.macaroon, "AgEE");
//! assert_eq!(l402.invoice, "lnbc1");
//! assert!(parsed.other("payment").is_some());
//! ```

use std::fmt;
use std::str::FromStr;

use crate::macaroon::{Macaroon, MacaroonError};

/// The authentication scheme name: `L402`, or its legacy name `LSAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scheme {
    /// `L402`
    #[default]
    L402,
    /// `LSAT`, the name before the 2023 rename.
    Lsat,
}

impl Scheme {
    /// The canonical spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::L402 => "L402",
            Scheme::Lsat => "LSAT",
        }
    }

    fn recognize(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("L402") {
            Some(Scheme::L402)
        } else if s.eq_ignore_ascii_case("LSAT") {
            Some(Scheme::Lsat)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unrecognized scheme name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown authentication scheme {0:?} (expected L402 or LSAT)")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::recognize(s).ok_or_else(|| UnknownScheme(s.chars().take(32).collect()))
    }
}

/// An L402 challenge: a macaroon and the invoice that pays for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `L402` or `LSAT`.
    pub scheme: Scheme,
    /// The macaroon as sent (base64, to be echoed back unchanged).
    pub macaroon: String,
    /// The BOLT11 invoice.
    pub invoice: String,
    /// The `version` parameter, if one was sent.
    pub version: Option<String>,
}

/// Which optional extras an emitted challenge carries. The default is
/// Aperture's form with the `L402` scheme only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChallengeStyle {
    token_param: bool,
    lsat_header: bool,
}

impl ChallengeStyle {
    /// Appends `, version="0", token="<macaroon>"` after the invoice (the
    /// 2026 spec's parameters; never before `macaroon=`, which would break
    /// Aperture's client regex).
    pub fn with_token_param(mut self, on: bool) -> Self {
        self.token_param = on;
        self
    }

    /// Also sends an `LSAT` challenge, first, as Aperture does for clients that
    /// read only the first header.
    pub fn with_lsat_header(mut self, on: bool) -> Self {
        self.lsat_header = on;
        self
    }
}

/// Why no usable L402 challenge was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// No `L402` or `LSAT` challenge was present.
    #[error("no L402 or LSAT challenge in WWW-Authenticate")]
    NoChallenge,
    /// The challenge has no `macaroon` or `token` parameter.
    #[error("{0} challenge has no macaroon= or token= parameter")]
    MissingMacaroon(Scheme),
    /// The challenge has no `invoice` parameter.
    #[error("{0} challenge has no invoice= parameter")]
    MissingInvoice(Scheme),
    /// `macaroon=` and `token=` carry different values.
    #[error("{0} challenge has different macaroon= and token= values")]
    ConflictingMacaroons(Scheme),
    /// A quoted value is not terminated.
    #[error("unterminated quoted string in WWW-Authenticate")]
    UnterminatedQuote,
}

fn write_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Challenge {
    /// A challenge with the `L402` scheme.
    pub fn new(macaroon: impl Into<String>, invoice: impl Into<String>) -> Self {
        Challenge {
            scheme: Scheme::L402,
            macaroon: macaroon.into(),
            invoice: invoice.into(),
            version: None,
        }
    }

    /// Decodes the macaroon.
    ///
    /// # Errors
    /// [`MacaroonError`] if it is not a V2 macaroon in base64.
    pub fn decode_macaroon(&self) -> Result<Macaroon, MacaroonError> {
        self.macaroon.parse()
    }

    fn format(&self, scheme: Scheme, token_param: bool) -> String {
        let mut out = String::with_capacity(self.macaroon.len() * 2 + self.invoice.len() + 48);
        out.push_str(scheme.as_str());
        out.push_str(" macaroon=");
        write_quoted(&mut out, &self.macaroon);
        out.push_str(", invoice=");
        write_quoted(&mut out, &self.invoice);
        if token_param {
            out.push_str(", version=\"0\", token=");
            write_quoted(&mut out, &self.macaroon);
        }
        out
    }

    /// The `WWW-Authenticate` values to send, in order.
    pub fn header_values(&self, style: &ChallengeStyle) -> Vec<String> {
        let mut values = Vec::with_capacity(2);
        if style.lsat_header {
            values.push(self.format(Scheme::Lsat, style.token_param));
        }
        values.push(self.format(Scheme::L402, style.token_param));
        values
    }
}

impl fmt::Display for Challenge {
    /// Aperture's form: `L402 macaroon="…", invoice="…"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(self.scheme, false))
    }
}

impl FromStr for Challenge {
    type Err = ChallengeError;

    /// The first usable L402 (or else LSAT) challenge in one header value.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Challenges::parse([s]).l402().cloned()
    }
}

/// One challenge found in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedChallenge {
    /// A well-formed L402 or LSAT challenge.
    L402(Challenge),
    /// An L402 or LSAT challenge that could not be used.
    Malformed(ChallengeError),
    /// A challenge of another scheme (an MPP `Payment` one, say).
    Other {
        /// The scheme as sent.
        scheme: String,
        /// Its parameters, names lower-cased.
        params: Vec<(String, String)>,
    },
}

/// Every challenge in one or more `WWW-Authenticate` values, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenges {
    items: Vec<ParsedChallenge>,
}

impl Challenges {
    /// Parses every challenge in the given header values.
    pub fn parse<'a, I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut items = Vec::new();
        for value in values {
            parse_value(value, &mut items);
        }
        Challenges { items }
    }

    /// All challenges, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = &ParsedChallenge> {
        self.items.iter()
    }

    /// The challenge to pay: the first well-formed `L402` one, else the first
    /// well-formed `LSAT` one.
    ///
    /// # Errors
    /// The first malformed L402/LSAT challenge's error, or
    /// [`ChallengeError::NoChallenge`].
    pub fn l402(&self) -> Result<&Challenge, ChallengeError> {
        let mut lsat = None;
        let mut error = None;
        for item in &self.items {
            match item {
                ParsedChallenge::L402(c) if c.scheme == Scheme::L402 => return Ok(c),
                ParsedChallenge::L402(c) => {
                    lsat.get_or_insert(c);
                }
                ParsedChallenge::Malformed(e) => {
                    error.get_or_insert(e);
                }
                ParsedChallenge::Other { .. } => {}
            }
        }
        lsat.ok_or_else(|| error.cloned().unwrap_or(ChallengeError::NoChallenge))
    }

    /// The parameters of the first challenge of another scheme, matched
    /// case-insensitively.
    pub fn other(&self, scheme: &str) -> Option<&[(String, String)]> {
        self.items.iter().find_map(|item| match item {
            ParsedChallenge::Other { scheme: s, params } if s.eq_ignore_ascii_case(scheme) => {
                Some(params.as_slice())
            }
            _ => None,
        })
    }
}

struct Raw {
    scheme: String,
    params: Vec<(String, String)>,
    error: Option<ChallengeError>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_delimiter(b: u8) -> bool {
    is_space(b) || matches!(b, b',' | b'=' | b'"' | b'\'')
}

/// Reads a quoted string starting at the quote at `start`; returns the
/// unescaped text and the index after the closing quote.
fn read_quoted(s: &str, start: usize) -> Result<(String, usize), ChallengeError> {
    let bytes = s.as_bytes();
    let quote = bytes[start];
    let mut out = String::new();
    let mut i = start + 1;
    let mut run = i;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => {
                out.push_str(&s[run..i]);
                // The escaped character is taken literally (it may be
                // multi-byte: copy up to the next char boundary).
                let next = i + 1;
                let end = (next + 1..=bytes.len())
                    .find(|&e| s.is_char_boundary(e))
                    .unwrap_or(bytes.len());
                if next < bytes.len() {
                    out.push_str(&s[next..end]);
                }
                i = end;
                run = i;
            }
            b if b == quote => {
                out.push_str(&s[run..i]);
                return Ok((out, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(ChallengeError::UnterminatedQuote)
}

fn finish(raw: Raw, items: &mut Vec<ParsedChallenge>) {
    let Some(scheme) = Scheme::recognize(&raw.scheme) else {
        items.push(ParsedChallenge::Other {
            scheme: raw.scheme,
            params: raw.params,
        });
        return;
    };
    if let Some(error) = raw.error {
        items.push(ParsedChallenge::Malformed(error));
        return;
    }
    let mut macaroon = None;
    let mut token = None;
    let mut invoice = None;
    let mut version = None;
    for (name, value) in raw.params {
        match name.as_str() {
            "macaroon" => macaroon = Some(value),
            "token" => token = Some(value),
            "invoice" => invoice = Some(value),
            "version" => version = Some(value),
            _ => {} // unknown parameters are ignored, as the spec requires
        }
    }
    let macaroon = match (macaroon, token) {
        (Some(m), Some(t)) if m != t => {
            items.push(ParsedChallenge::Malformed(
                ChallengeError::ConflictingMacaroons(scheme),
            ));
            return;
        }
        (Some(m), _) | (None, Some(m)) if !m.is_empty() => m,
        _ => {
            items.push(ParsedChallenge::Malformed(ChallengeError::MissingMacaroon(
                scheme,
            )));
            return;
        }
    };
    let Some(invoice) = invoice.filter(|i| !i.is_empty()) else {
        items.push(ParsedChallenge::Malformed(ChallengeError::MissingInvoice(
            scheme,
        )));
        return;
    };
    items.push(ParsedChallenge::L402(Challenge {
        scheme,
        macaroon,
        invoice,
        version,
    }));
}

fn parse_value(s: &str, items: &mut Vec<ParsedChallenge>) {
    let bytes = s.as_bytes();
    let mut current: Option<Raw> = None;
    let mut i = 0;
    loop {
        while i < bytes.len() && (is_space(bytes[i]) || bytes[i] == b',') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && !is_delimiter(bytes[i]) {
            i += 1;
        }
        if start == i {
            // A stray '=' or quote where a name should be.
            if let Some(raw) = current.as_mut() {
                raw.error
                    .get_or_insert(ChallengeError::MissingMacaroon(Scheme::L402));
            }
            if matches!(bytes[i], b'"' | b'\'') {
                match read_quoted(s, i) {
                    Ok((_, end)) => i = end,
                    Err(_) => break,
                }
            } else {
                i += 1;
            }
            continue;
        }
        let token = &s[start..i];
        let mut j = i;
        while j < bytes.len() && is_space(bytes[j]) {
            j += 1;
        }
        if j < bytes.len() && bytes[j] == b'=' {
            i = j + 1;
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            let value = if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                match read_quoted(s, i) {
                    Ok((value, end)) => {
                        i = end;
                        value
                    }
                    Err(e) => {
                        if let Some(raw) = current.as_mut() {
                            raw.error.get_or_insert(e);
                        }
                        i = bytes.len();
                        String::new()
                    }
                }
            } else {
                let vstart = i;
                while i < bytes.len() && bytes[i] != b',' && !is_space(bytes[i]) {
                    i += 1;
                }
                s[vstart..i].to_owned()
            };
            if let Some(raw) = current.as_mut() {
                raw.params.push((token.to_ascii_lowercase(), value));
            }
        } else {
            if let Some(raw) = current.take() {
                finish(raw, items);
            }
            current = Some(Raw {
                scheme: token.to_owned(),
                params: Vec::new(),
                error: None,
            });
        }
    }
    if let Some(raw) = current {
        finish(raw, items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: &str = "AgEEbHNhdAJCAAAwpHpumws6ufQoDwiTLNcge0QPUIWA0+tVY+tKPYAJ/zSfmEGlIpNm3VzxuzCqLhEp5KGiyPLUM9L+kcB7uzS+AAIPc2VydmljZXM9bWVtZTowAAISbWVtZV9jYXBhYmlsaXRpZXM9AAAGILA1VCEIExukt4nG+XR9tX8WJ2BVMiHG3UNt1uYJ+NRD";
    const INV: &str = "lnbcrt100n1p3qqkyg";

    fn one(value: &str) -> Result<Challenge, ChallengeError> {
        value.parse()
    }

    #[test]
    fn dialects() {
        let forms = [
            format!(r#"L402 macaroon="{MAC}", invoice="{INV}""#),
            format!(r#"LSAT macaroon="{MAC}", invoice="{INV}""#),
            format!(r#"l402 macaroon="{MAC}",invoice="{INV}""#),
            format!(r#"L402 invoice="{INV}", macaroon="{MAC}""#),
            format!(r#"L402 macaroon={MAC}, invoice={INV}"#),
            format!(r#"L402 version="0", token="{MAC}", invoice="{INV}""#),
            format!(r#"L402 version="0" token="{MAC}", invoice="{INV}""#),
            format!(r#"L402 Macaroon = "{MAC}" , Invoice = '{INV}'"#),
            format!(r#"L402 macaroon="{MAC}", invoice="{INV}", version="0", token="{MAC}""#),
        ];
        for form in &forms {
            let c = one(form).unwrap_or_else(|e| panic!("{form}: {e}"));
            assert_eq!(c.macaroon, MAC, "{form}");
            assert_eq!(c.invoice, INV, "{form}");
        }
    }

    #[test]
    fn payment_challenge_beside_l402_in_either_order() {
        let mpp =
            r#"Payment id="abc", realm="x", method="lightning", intent="charge", request="eyJ9""#;
        let l402 = format!(r#"L402 macaroon="{MAC}", invoice="{INV}""#);
        for joined in [format!("{mpp}, {l402}"), format!("{l402}, {mpp}")] {
            let parsed = Challenges::parse([joined.as_str()]);
            assert_eq!(parsed.l402().unwrap().macaroon, MAC);
            assert_eq!(
                parsed.other("Payment").unwrap()[0],
                ("id".to_owned(), "abc".to_owned())
            );
        }
        let parsed = Challenges::parse([mpp, l402.as_str()]);
        assert_eq!(parsed.l402().unwrap().invoice, INV);
    }

    #[test]
    fn l402_is_preferred_over_lsat() {
        let parsed = Challenges::parse([
            r#"LSAT macaroon="a", invoice="i1""#,
            r#"L402 macaroon="b", invoice="i2""#,
        ]);
        assert_eq!(parsed.l402().unwrap().macaroon, "b");
    }

    #[test]
    fn errors() {
        assert_eq!(one(r#"Basic realm="x""#), Err(ChallengeError::NoChallenge));
        assert_eq!(one(""), Err(ChallengeError::NoChallenge));
        assert_eq!(
            one(r#"L402 invoice="x""#),
            Err(ChallengeError::MissingMacaroon(Scheme::L402))
        );
        assert_eq!(
            one(r#"LSAT macaroon="x""#),
            Err(ChallengeError::MissingInvoice(Scheme::Lsat))
        );
        assert_eq!(
            one(r#"L402 macaroon="x", invoice="y"#),
            Err(ChallengeError::UnterminatedQuote)
        );
        assert_eq!(
            one(r#"L402 macaroon="a", token="b", invoice="y""#),
            Err(ChallengeError::ConflictingMacaroons(Scheme::L402))
        );
    }

    #[test]
    fn emitted_form_matches_apertures_client_regex() {
        let c = Challenge::new(MAC, INV);
        let text = c.to_string();
        assert_eq!(text, format!(r#"L402 macaroon="{MAC}", invoice="{INV}""#));
        assert_eq!(one(&text).unwrap(), c);
    }

    #[test]
    fn escaped_quotes_round_trip() {
        let c = Challenge::new("m\"a\\c", "inv");
        assert_eq!(one(&c.to_string()).unwrap().macaroon, "m\"a\\c");
    }
}

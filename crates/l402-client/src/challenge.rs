//! Reading a `402 Payment Required`: every dialect deployed servers send,
//! through one function, [`parse_challenge`].
//!
//! | Dialect | Where the challenge is |
//! |---|---|
//! | Aperture, `l402 serve`, the 2026 spec, Alby, legacy LSAT | `WWW-Authenticate` (any case, `macaroon=` or `token=`, quoted or bare, any order) |
//! | l402-express | the header, and the body `{"l402": {"macaroon", "invoice", "payment_hash", "amount_sats", …}}` |
//! | l402kit (PyPI, npm) | the header, and the body `{"invoice" \| "paymentRequest" \| "payment_request", "macaroon", "price_sats" \| "priceSats"}` |
//! | Lightning Enable's challenge shape | the body `{"invoice", "macaroon", "paymentHash", "priceSats"}` |
//!
//! A challenge only in the JSON body (no `WWW-Authenticate`) is read from
//! the body. When both are present they must agree (token, invoice, and the
//! body's payment hash and price against the invoice): otherwise the 402 is
//! refused before anything is paid
//! ([`ChallengeProblem::BodyDisagrees`], [`ChallengeProblem::BodyInconsistent`]).
//!
//! The token is sent back unchanged. A V2 macaroon with Aperture's
//! identifier is a [`TokenKind::Macaroon`]: it names a payment hash, which the
//! client checks against the invoice's before paying. Anything else
//! (l402kit's base64 JSON, Alby's `base64url(JSON).hmac`) is a
//! [`TokenKind::Opaque`] token: it is paid after the same invoice checks, the
//! payment hash comes from the invoice, and receipts and traces say the token
//! could not be checked against it (one that names another payment hash in
//! readable JSON is refused: the server would not accept it after payment)
//! ([`ClientBuilder::require_macaroon`](crate::ClientBuilder::require_macaroon)
//! refuses such tokens).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use l402::invoice::{Currency, Invoice};
use l402::{Caveat, ChallengeError, Challenges, Condition, Identifier, PaymentHash, Scheme};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::error::ChallengeProblem;
use crate::receipt::Quote;

/// The longest token the client sends back (bytes); servers' own limits on
/// `Authorization` are about this size.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The largest body read for a JSON challenge (bytes); a larger body is not
/// looked at (the header alone counts).
pub const MAX_CHALLENGE_BODY_BYTES: usize = 64 * 1024;

/// What kind of token a server sent, and so what the client could check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenKind {
    /// A V2 macaroon with Aperture's identifier: the payment hash it names
    /// was checked equal to the invoice's before paying.
    #[default]
    Macaroon,
    /// Anything else (l402kit's base64 JSON, Alby's `base64url(JSON).hmac`,
    /// a macaroon without an L402 identifier): sent back as given; it could
    /// not be checked against the invoice's payment hash. (A payment hash it
    /// names in unsigned JSON, as l402kit's does, must still be the
    /// invoice's: a token naming another is refused before paying.)
    Opaque,
}

impl TokenKind {
    /// Its stored name: `macaroon` or `opaque`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenKind::Macaroon => "macaroon",
            TokenKind::Opaque => "opaque",
        }
    }

    /// Whether the token was checked against the invoice's payment hash.
    pub fn hash_checked(&self) -> bool {
        matches!(self, TokenKind::Macaroon)
    }

    /// What `token` is, and the payment hash it names when it is a V2
    /// macaroon with Aperture's identifier (the one reading the client
    /// itself uses).
    ///
    /// ```
    /// use l402_client::TokenKind;
    /// let (kind, hash) = TokenKind::of("eyJoYXNoIjoiYWIifQ==");
    /// assert_eq!((kind, hash), (TokenKind::Opaque, None));
    /// ```
    pub fn of(token: &str) -> (TokenKind, Option<PaymentHash>) {
        let classified = Self::classify(token);
        (classified.kind, classified.payment_hash)
    }

    /// The kind of `token`, with the payment hash and expiry it names.
    pub(crate) fn classify(token: &str) -> Classified {
        match token.parse::<l402::Macaroon>() {
            Ok(macaroon) => match Identifier::from_bytes(macaroon.identifier()) {
                Ok(id) => Classified {
                    kind: TokenKind::Macaroon,
                    payment_hash: Some(id.payment_hash),
                    expires_at: macaroon_expiry(&macaroon),
                },
                Err(_) => Classified {
                    kind: TokenKind::Opaque,
                    payment_hash: None,
                    expires_at: macaroon_expiry(&macaroon),
                },
            },
            Err(_) => {
                let json = JsonToken::read(token);
                Classified {
                    kind: TokenKind::Opaque,
                    payment_hash: json.as_ref().and_then(|j| j.payment_hash),
                    expires_at: json.and_then(|j| j.expires_at),
                }
            }
        }
    }
}

/// What a token says about itself.
pub(crate) struct Classified {
    pub(crate) kind: TokenKind,
    pub(crate) payment_hash: Option<PaymentHash>,
    pub(crate) expires_at: Option<u64>,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a token kind (`macaroon` or `opaque`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token kind {0:?} (expected macaroon or opaque)")]
pub struct UnknownTokenKind(pub String);

impl FromStr for TokenKind {
    type Err = UnknownTokenKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "macaroon" => Ok(TokenKind::Macaroon),
            "opaque" => Ok(TokenKind::Opaque),
            other => Err(UnknownTokenKind(other.chars().take(32).collect())),
        }
    }
}

/// Where a challenge was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChallengeSource {
    /// `WWW-Authenticate` only.
    Header,
    /// The JSON body only (no L402 challenge in `WWW-Authenticate`).
    Body,
    /// Both, and they agree.
    HeaderAndBody,
    /// A bare BOLT11 invoice handed over with no token
    /// ([`Client::pay_invoice`](crate::Client::pay_invoice)).
    Invoice,
}

impl fmt::Display for ChallengeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChallengeSource::Header => "header",
            ChallengeSource::Body => "body",
            ChallengeSource::HeaderAndBody => "header_and_body",
            ChallengeSource::Invoice => "invoice",
        })
    }
}

/// A 402, decoded: what the server asks to be paid ([`Quote`]) and the
/// token it offers in exchange. Nothing here is checked against the
/// client's limits yet; the client does that before paying.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Offer {
    /// Amount, the invoice's payment hash, invoice, expiry, payee, network,
    /// scheme, token kind and where the challenge was read.
    pub quote: Quote,
    /// The token (macaroon or opaque), exactly as sent.
    pub token: String,
    /// The payment hash the token names, if it names one the client can
    /// read: a macaroon's identifier, or the `hash` of an opaque base64-JSON
    /// token (l402kit's, unsigned). The client refuses to pay when it differs
    /// from `quote.payment_hash` (the server would refuse the credential).
    pub token_payment_hash: Option<PaymentHash>,
    /// When the token says it expires (unix seconds): a macaroon's expiry
    /// caveats, or an `exp` in an opaque JSON token.
    pub token_expires_at: Option<u64>,
    /// The invoice, decoded (signature checked).
    pub invoice: Invoice,
}

/// The challenge found in a 402 before the invoice is decoded.
struct Raw {
    scheme: Scheme,
    token: String,
    invoice: String,
    source: ChallengeSource,
}

/// The challenge fields a JSON body carries.
#[derive(Debug, Default)]
struct BodyChallenge {
    token: Option<String>,
    invoice: Option<String>,
    payment_hash: Option<String>,
    amount_sats: Option<u64>,
}

fn text(object: &serde_json::Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match object.get(*n) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

fn number(object: &serde_json::Map<String, Value>, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| match object.get(*n) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// The challenge fields of a JSON body: l402-express's `l402` object, else
/// the top level (l402kit, Lightning Enable). `None` if the body is not a
/// JSON object carrying a token or an invoice.
fn body_challenge(body: &[u8]) -> Option<BodyChallenge> {
    if body.len() > MAX_CHALLENGE_BODY_BYTES {
        return None;
    }
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'{' {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let top = value.as_object()?;
    let object = match top.get("l402") {
        Some(Value::Object(inner)) => inner,
        _ => top,
    };
    let found = BodyChallenge {
        token: text(object, &["macaroon", "token"]),
        invoice: text(object, &["invoice", "paymentRequest", "payment_request"]),
        payment_hash: text(object, &["payment_hash", "paymentHash"]),
        amount_sats: number(
            object,
            &["amount_sats", "amountSats", "price_sats", "priceSats"],
        ),
    };
    (found.token.is_some() || found.invoice.is_some()).then_some(found)
}

/// The challenge to pay: the header's and the body's, reconciled.
fn raw_challenge(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Raw, Option<BodyChallenge>), ChallengeProblem> {
    let values = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let challenges = Challenges::parse(values);
    let header = challenges.l402();
    let body = body_challenge(body);
    match (header, body) {
        (Ok(c), None) => Ok((
            Raw {
                scheme: c.scheme,
                token: c.macaroon.clone(),
                invoice: c.invoice.clone(),
                source: ChallengeSource::Header,
            },
            None,
        )),
        (Ok(c), Some(b)) => {
            if b.token.as_deref().is_some_and(|t| t != c.macaroon) {
                return Err(ChallengeProblem::BodyDisagrees("macaroon"));
            }
            if b.invoice
                .as_deref()
                .is_some_and(|i| !i.eq_ignore_ascii_case(&c.invoice))
            {
                return Err(ChallengeProblem::BodyDisagrees("invoice"));
            }
            Ok((
                Raw {
                    scheme: c.scheme,
                    token: c.macaroon.clone(),
                    invoice: c.invoice.clone(),
                    source: ChallengeSource::HeaderAndBody,
                },
                Some(b),
            ))
        }
        (Err(ChallengeError::NoChallenge), Some(mut b)) => {
            let Some(invoice) = b.invoice.take() else {
                return Err(ChallengeError::MissingInvoice(Scheme::L402).into());
            };
            let Some(token) = b.token.take() else {
                return Err(ChallengeError::MissingMacaroon(Scheme::L402).into());
            };
            Ok((
                Raw {
                    scheme: Scheme::L402,
                    token,
                    invoice,
                    source: ChallengeSource::Body,
                },
                Some(b),
            ))
        }
        // A malformed header challenge is refused even when the body has
        // one: the two cannot be compared.
        (Err(e), _) => Err(e.into()),
    }
}

/// Whether `token` has only characters that `Authorization: L402
/// <token>:<preimage>` can carry for every deployed server (printable ASCII;
/// no `:`, which splits token and preimage, no `,`, quote or backslash).
pub(crate) fn sendable(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b':' | b'"' | b'\\' | b','))
}

/// Whether `token` can be sent back in `Authorization: L402 <token>:<preimage>`.
fn check_token(token: &str) -> Result<(), ChallengeProblem> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ChallengeProblem::UnusableToken("longer than 4096 bytes"));
    }
    if !sendable(token) {
        return Err(ChallengeProblem::UnusableToken(
            "it has characters a credential cannot carry (space, control, ':', ',', '\"' or '\\')",
        ));
    }
    Ok(())
}

pub(crate) fn network_name(c: &Currency) -> &'static str {
    match c {
        Currency::Bitcoin => "bitcoin",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

/// The earliest expiry among a macaroon's caveats (unix seconds).
pub(crate) fn macaroon_expiry(macaroon: &l402::Macaroon) -> Option<u64> {
    macaroon
        .caveats()
        .filter_map(|bytes| Caveat::from_bytes(bytes).ok())
        .filter_map(|c| match Condition::classify(c.condition())? {
            Condition::ValidUntil | Condition::ServiceValidUntil(_) => c.value().parse().ok(),
            Condition::Expiration => c.value().parse::<u64>().ok().map(|ms| ms / 1000),
            _ => None,
        })
        .min()
}

/// What an opaque token written as base64 JSON says about itself
/// (l402kit's `base64(JSON{hash, exp})`, Alby's `base64url(JSON).hmac`).
/// Unsigned, so it proves nothing; it is read only to refuse a token that
/// names another payment hash than its invoice's (the server would refuse
/// the credential after the payment) and to stop reusing it once expired.
struct JsonToken {
    payment_hash: Option<PaymentHash>,
    expires_at: Option<u64>,
}

impl JsonToken {
    fn read(token: &str) -> Option<JsonToken> {
        let payload = token.split('.').next()?.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(payload)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload))
            .ok()?;
        let value: Value = serde_json::from_slice(&bytes).ok()?;
        let object = value.as_object()?;
        let payment_hash = ["hash", "paymentHash", "payment_hash"]
            .iter()
            .find_map(|k| object.get(*k)?.as_str()?.parse().ok());
        // Milliseconds (l402kit) or seconds: a time in seconds is below
        // 10^11 until the year 5138.
        let expires_at = object.get("exp").and_then(Value::as_u64).map(|exp| {
            if exp >= 100_000_000_000 {
                exp / 1000
            } else {
                exp
            }
        });
        Some(JsonToken {
            payment_hash,
            expires_at,
        })
    }
}

/// Reads a 402 in every dialect deployed servers send: seed 001's
/// `parseChallenge(status, headers, body)`.
///
/// Returns the invoice (decoded, signature checked), its amount and payment
/// hash, the token and its [`TokenKind`], and where the challenge was read
/// ([`ChallengeSource`]). It checks nothing against the client's limits
/// (amount, network, expiry, budgets): [`Client`](crate::Client) does that
/// before paying.
///
/// # Errors
/// [`ChallengeProblem`]: not a 402, no challenge in the header or the JSON
/// body, header and body disagreeing, a body whose payment hash or price
/// is not its invoice's, a token that cannot be sent back in a header, or
/// an invoice that does not decode.
///
/// ```
/// use l402_client::{ChallengeProblem, StatusCode, parse_challenge};
/// use reqwest::header::HeaderMap;
///
/// // l402-express's body with no header: read from the body, but this
/// // invoice does not decode.
/// let body = br#"{"error":"Payment Required","l402":{"macaroon":"AgEE","invoice":"lnbc1"}}"#;
/// let err = parse_challenge(StatusCode::PAYMENT_REQUIRED, &HeaderMap::new(), body).unwrap_err();
/// assert!(matches!(err, ChallengeProblem::Invoice(_)));
///
/// // Not a 402.
/// let err = parse_challenge(StatusCode::OK, &HeaderMap::new(), b"").unwrap_err();
/// assert_eq!(err, ChallengeProblem::NotPaymentRequired(200));
/// ```
pub fn parse_challenge(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Offer, ChallengeProblem> {
    if status != StatusCode::PAYMENT_REQUIRED {
        return Err(ChallengeProblem::NotPaymentRequired(status.as_u16()));
    }
    let (raw, body) = raw_challenge(headers, body)?;
    check_token(&raw.token)?;
    let invoice: Invoice = raw.invoice.parse().map_err(ChallengeProblem::Invoice)?;
    let payment_hash = invoice.payment_hash();
    if let Some(body) = &body {
        if let Some(hash) = &body.payment_hash
            && !hash.eq_ignore_ascii_case(&payment_hash.to_string())
        {
            return Err(ChallengeProblem::BodyInconsistent("payment hash"));
        }
        if let (Some(price), Some(amount)) = (body.amount_sats, invoice.amount_msat())
            && price.saturating_mul(1000) != amount
        {
            return Err(ChallengeProblem::BodyInconsistent("price"));
        }
    }
    let token = TokenKind::classify(&raw.token);
    let quote = Quote {
        amount_msat: invoice.amount_msat(),
        payment_hash,
        invoice: raw.invoice,
        expires_at: invoice.expires_at(),
        payee: invoice.payee().to_string(),
        description: invoice.description(),
        network: network_name(&invoice.currency()).to_string(),
        scheme: raw.scheme,
        token_kind: token.kind,
        source: raw.source,
    };
    Ok(Offer {
        quote,
        token: raw.token,
        token_payment_hash: token.payment_hash,
        token_expires_at: token.expires_at,
        invoice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(WWW_AUTHENTICATE, v.parse().unwrap());
        }
        map
    }

    fn raw(h: &[&str], body: &str) -> Result<Raw, ChallengeProblem> {
        raw_challenge(&headers(h), body.as_bytes()).map(|(r, _)| r)
    }

    #[test]
    fn body_dialects() {
        for body in [
            r#"{"error":"Payment Required","l402":{"macaroon":"m","invoice":"i","amount_sats":1}}"#,
            r#"{"error":"Payment Required","price_sats":1,"invoice":"i","macaroon":"m"}"#,
            r#"{"paymentRequest":"i","macaroon":"m"}"#,
            r#"{"payment_request":"i","macaroon":"m"}"#,
            r#"{"invoice":"i","macaroon":"m","paymentHash":"h","expiresAt":"2026-01-01T00:00:00Z","priceSats":1}"#,
            r#"  {"invoice":"i","token":"m"}"#,
        ] {
            let r = raw(&[], body).unwrap();
            assert_eq!((r.token.as_str(), r.invoice.as_str()), ("m", "i"), "{body}");
            assert_eq!(r.source, ChallengeSource::Body);
        }
    }

    #[test]
    fn header_and_body_must_agree() {
        let h = [r#"L402 macaroon="m", invoice="i""#];
        let r = raw(&h, r#"{"invoice":"I","macaroon":"m"}"#).unwrap();
        assert_eq!(r.source, ChallengeSource::HeaderAndBody);
        assert_eq!(
            raw(&h, r#"{"invoice":"i","macaroon":"other"}"#).err(),
            Some(ChallengeProblem::BodyDisagrees("macaroon"))
        );
        assert_eq!(
            raw(&h, r#"{"l402":{"invoice":"j","macaroon":"m"}}"#).err(),
            Some(ChallengeProblem::BodyDisagrees("invoice"))
        );
        // Not JSON, or JSON without a challenge: the header alone.
        assert_eq!(
            raw(&h, "payment required").unwrap().source,
            ChallengeSource::Header
        );
        assert_eq!(
            raw(&h, r#"{"error":"x"}"#).unwrap().source,
            ChallengeSource::Header
        );
        // A malformed header challenge is not rescued by the body.
        assert_eq!(
            raw(
                &[r#"L402 invoice="i""#],
                r#"{"invoice":"i","macaroon":"m"}"#
            )
            .err(),
            Some(ChallengeProblem::Challenge(
                ChallengeError::MissingMacaroon(Scheme::L402)
            ))
        );
    }

    #[test]
    fn body_only_needs_both_fields() {
        assert_eq!(
            raw(&[], r#"{"invoice":"i"}"#).err(),
            Some(ChallengeProblem::Challenge(
                ChallengeError::MissingMacaroon(Scheme::L402)
            ))
        );
        assert_eq!(
            raw(&[], r#"{"macaroon":"m"}"#).err(),
            Some(ChallengeProblem::Challenge(ChallengeError::MissingInvoice(
                Scheme::L402
            )))
        );
        assert_eq!(
            raw(&[], "[1,2]").err(),
            Some(ChallengeProblem::Challenge(ChallengeError::NoChallenge))
        );
        let big = format!(
            r#"{{"invoice":"i","macaroon":"m","pad":"{}"}}"#,
            "x".repeat(MAX_CHALLENGE_BODY_BYTES)
        );
        assert_eq!(
            raw(&[], &big).err(),
            Some(ChallengeProblem::Challenge(ChallengeError::NoChallenge))
        );
    }

    #[test]
    fn tokens_that_cannot_be_sent_back_are_refused() {
        assert!(check_token("eyJoYXNoIjoiYWIifQ==.0a1b").is_ok());
        for bad in ["a:b", "a b", "a,b", "a\"b", "é"] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
        assert!(check_token(&"a".repeat(MAX_TOKEN_BYTES + 1)).is_err());
    }

    proptest::proptest! {
        /// Whatever a server sends, reading it never panics, and a token it
        /// accepts can be sent back in a header.
        #[test]
        fn arbitrary_402s_never_panic(
            header in "[ -~]{0,200}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            keys in proptest::collection::vec(
                proptest::sample::select(vec![
                    "invoice", "paymentRequest", "payment_request", "macaroon", "token",
                    "payment_hash", "paymentHash", "price_sats", "amount_sats", "l402",
                ]),
                0..6,
            ),
            value in "[ -~]{0,40}",
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = header.parse() {
                headers.insert(WWW_AUTHENTICATE, v);
            }
            let _ = parse_challenge(StatusCode::PAYMENT_REQUIRED, &headers, &body);
            let object: serde_json::Map<String, Value> = keys
                .iter()
                .map(|k| (k.to_string(), Value::String(value.clone())))
                .collect();
            let json = serde_json::to_vec(&Value::Object(object.clone())).unwrap();
            let nested = serde_json::to_vec(&json!({"l402": object})).unwrap();
            for body in [json, nested] {
                if let Ok(offer) = parse_challenge(StatusCode::PAYMENT_REQUIRED, &headers, &body) {
                    proptest::prop_assert!(sendable(&offer.token));
                }
                let _ = TokenKind::classify(&value);
            }
        }
    }

    #[test]
    fn opaque_json_tokens_give_their_expiry() {
        let std = base64::engine::general_purpose::STANDARD;
        let l402kit = std.encode(br#"{"hash": "ab", "exp": 1900000000000}"#);
        let c = TokenKind::classify(&l402kit);
        assert_eq!(c.kind, TokenKind::Opaque);
        assert_eq!(c.expires_at, Some(1_900_000_000));
        assert_eq!(c.payment_hash, None, "not a hash");
        let hash = "ab".repeat(32);
        let named = std.encode(format!(r#"{{"hash": "{hash}"}}"#));
        assert_eq!(
            TokenKind::classify(&named).payment_hash,
            Some(hash.parse().unwrap())
        );
        let alby = format!(
            "{}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1900000000}"#),
            "ab".repeat(32)
        );
        assert_eq!(TokenKind::classify(&alby).expires_at, Some(1_900_000_000));
        assert_eq!(TokenKind::classify("not-base64!").expires_at, None);
        assert_eq!("opaque".parse::<TokenKind>(), Ok(TokenKind::Opaque));
        assert!("x".parse::<TokenKind>().is_err());
    }
}

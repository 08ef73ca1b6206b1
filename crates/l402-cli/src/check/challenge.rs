//! The unpaid items: what a `402` says, judged against what the deployed
//! clients parse (shared `reference/wire-format.md` §1, §8). Pure: an
//! [`Answer`] in, items out.

use l402::invoice::{Currency, Invoice};
use l402::{Caveat, Challenge, Challenges, Identifier, Macaroon, ParsedChallenge, Scheme};
use reqwest::StatusCode;
use reqwest::header::{ACCESS_CONTROL_EXPOSE_HEADERS, CACHE_CONTROL, HeaderMap, WWW_AUTHENTICATE};

use super::report::{Item, Level, Report};

/// One HTTP answer as the checker saw it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (at most the probe's limit).
    pub body: Vec<u8>,
}

impl Answer {
    /// The `WWW-Authenticate` values, in order.
    pub fn challenges(&self) -> Vec<String> {
        self.headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// `HTTP <status>`, plus whether a challenge came with it.
    pub fn describe(&self) -> String {
        let n = self.headers.get_all(WWW_AUTHENTICATE).iter().count();
        if self.status.is_success() {
            format!("HTTP {}", self.status.as_u16())
        } else if n == 0 {
            format!("HTTP {}, no WWW-Authenticate", self.status.as_u16())
        } else {
            format!(
                "HTTP {} with {n} WWW-Authenticate header(s)",
                self.status.as_u16()
            )
        }
    }
}

/// Options of the unpaid items.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Unix seconds, for expiry.
    pub now: u64,
    /// The network invoices must be for (`--network`), if given.
    pub network: Option<Currency>,
}

const R: Level = Level::Required;
const A: Level = Level::Advisory;

/// Judges a `402` answer.
pub fn inspect(answer: &Answer, expect: &Expect, report: &mut Report) {
    report.push(Item::check(
        "status_402",
        R,
        answer.status == StatusCode::PAYMENT_REQUIRED,
        answer.describe(),
        "answer a request without a credential with 402 Payment Required (lnget, \
         l402-requests, routeweiler and lightning-enable-mcp act on 402 only)",
    ));
    let values = answer.challenges();
    let parsed = Challenges::parse(values.iter().map(String::as_str));
    let l402 = parsed.l402();
    match &l402 {
        Ok(c) => report.push(Item::pass(
            "challenge_header",
            R,
            format!("{} challenge in WWW-Authenticate", c.scheme),
        )),
        Err(e) => report.push(Item::fail(
            "challenge_header",
            R,
            format!("{e}"),
            "send `WWW-Authenticate: L402 macaroon=\"<base64>\", invoice=\"<bolt11>\"` \
             (a challenge only in the JSON body is read by l402kit's client and l402 get, \
             not by Aperture's, lnget, Alby or l402-requests)",
        )),
    }
    header_form(&values, &parsed, report);
    report.push(cache_control(&answer.headers));
    report.push(cors(&answer.headers));
    body_agrees(answer, report);

    let (token, invoice) = match l402 {
        Ok(c) => (c.macaroon.clone(), c.invoice.clone()),
        Err(_) => {
            match l402_client::parse_challenge(answer.status, &answer.headers, &answer.body) {
                // A body-only challenge: judge its token and invoice too.
                Ok(offer) => (offer.token, offer.quote.invoice),
                Err(_) => {
                    for id in [
                        "macaroon_v2",
                        "macaroon_identifier",
                        "payment_hash_match",
                        "invoice_decodes",
                        "invoice_amount",
                        "invoice_expiry",
                    ] {
                        report.push(Item::skip(id, R, "no challenge to read"));
                    }
                    return;
                }
            }
        }
    };
    token_items(&token, &invoice, report);
    invoice_items(&invoice, expect, report);
}

/// Where the scheme `name` starts a challenge in `value`.
fn scheme_at(value: &str, name: &str) -> Option<usize> {
    let lower = value.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(&name) {
        let at = from + found;
        let before = lower[..at].chars().next_back();
        let after = lower[at + name.len()..].chars().next();
        if matches!(before, None | Some(' ' | ',' | '\t')) && matches!(after, Some(' ' | '\t')) {
            return Some(at);
        }
        from = at + name.len();
    }
    None
}

/// The raw text of the first challenge of `scheme`: the header value it is
/// in, from the scheme on.
fn raw_of<'a>(values: &'a [String], scheme: &str) -> Option<(usize, &'a str)> {
    values
        .iter()
        .enumerate()
        .find_map(|(i, v)| scheme_at(v, scheme).map(|at| (i, &v[at..])))
}

fn first_of(parsed: &Challenges, scheme: Scheme) -> Option<&Challenge> {
    parsed.iter().find_map(|c| match c {
        ParsedChallenge::L402(c) if c.scheme == scheme => Some(c),
        _ => None,
    })
}

/// Scheme, order among challenges, parameter order and quoting, the exact
/// form, and the LSAT challenge.
fn header_form(values: &[String], parsed: &Challenges, report: &mut Report) {
    let first = parsed.iter().next();
    report.push(match first {
        None => Item::skip("challenge_first", R, "no challenge"),
        Some(ParsedChallenge::Other { scheme, .. }) => Item::fail(
            "challenge_first",
            R,
            format!("the first challenge is {scheme:?}, not L402"),
            "put the L402 challenge first, as the first header and first within a \
             comma-joined header: routeweiler, npm l402 and Alby's fetch402 read only the \
             first scheme and fail (npm l402 pays again forever)",
        ),
        Some(_) => Item::pass("challenge_first", R, "an L402/LSAT challenge comes first"),
    });

    let Some(challenge) = first_of(parsed, Scheme::L402) else {
        let why = if first_of(parsed, Scheme::Lsat).is_some() {
            "only an LSAT challenge"
        } else {
            "no well-formed L402 challenge"
        };
        report.push(Item::fail(
            "l402_scheme",
            R,
            why,
            "send an `L402` challenge (lnget, l402-express, l402kit and npm l402 look for \
             L402; LSAT is the legacy name)",
        ));
        for id in ["param_order", "param_quoting", "header_form"] {
            report.push(Item::skip(id, R, "no L402 challenge"));
        }
        report.push(lsat(values, parsed, None));
        return;
    };
    let Some((_, raw)) = raw_of(values, "L402") else {
        // Parsed, so present: unreachable in practice; report, never panic.
        report.push(Item::skip(
            "l402_scheme",
            R,
            "the challenge text was not found",
        ));
        return;
    };
    let spelled = &raw[..4];
    report.push(Item::check(
        "l402_scheme",
        R,
        spelled == "L402",
        format!("scheme spelled {spelled:?}"),
        "spell the scheme `L402` exactly: Aperture's client regex and npm l402 match it \
         case-sensitively",
    ));

    let params = raw[4..].trim_start();
    let order_ok = params.starts_with("macaroon=") && {
        let value_end = match params["macaroon=".len()..].strip_prefix('"') {
            Some(rest) => rest.find('"').map(|e| "macaroon=".len() + 1 + e + 1),
            None => params.find(',').or(Some(params.len())),
        };
        value_end.is_some_and(|end| {
            params[end..]
                .trim_start_matches([',', ' ', '\t'])
                .starts_with("invoice=")
        })
    };
    report.push(Item::check(
        "param_order",
        R,
        order_ok,
        if order_ok {
            "macaroon= first, invoice= second".to_owned()
        } else {
            format!("parameters begin {:?}", clip(params, 48))
        },
        "write `macaroon=` right after the scheme and `invoice=` second; `version`/`token` \
         may follow the invoice, never precede the macaroon (Aperture's client regex, \
         l402-requests and lnget need this order)",
    ));
    let quoted = raw.contains(&format!("=\"{}\"", challenge.macaroon))
        && raw.contains(&format!("invoice=\"{}\"", challenge.invoice));
    report.push(Item::check(
        "param_quoting",
        R,
        quoted,
        if quoted {
            "macaroon and invoice are double-quoted"
        } else {
            "macaroon or invoice not double-quoted"
        },
        "double-quote both values: `macaroon=\"…\"`, `invoice=\"…\"` (the deployed regexes \
         match quotes)",
    ));
    let canonical = Challenge::new(challenge.macaroon.clone(), challenge.invoice.clone());
    let exact = raw.starts_with(&canonical.to_string());
    report.push(if !order_ok || !quoted {
        Item::skip("header_form", R, "see param_order and param_quoting")
    } else {
        Item::check(
            "header_form",
            R,
            exact,
            if exact {
                "exactly `L402 macaroon=\"…\", invoice=\"…\"`".to_owned()
            } else {
                format!("spacing differs: {:?}", clip(raw, 48))
            },
            "one space after L402 and `, ` between the parameters: Aperture's client regex \
             is `(LSAT|L402) macaroon=\"(.*?)\", invoice=\"(.*?)\"`",
        )
    });
    report.push(lsat(values, parsed, Some(challenge)));
}

fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// LSAT compatibility: Aperture sends an LSAT challenge first, with the same
/// macaroon and invoice, for Loop and Pool clients that read only the first
/// header.
fn lsat(values: &[String], parsed: &Challenges, l402: Option<&Challenge>) -> Item {
    let hint = "to serve Loop/Pool clients from before the rename, send \
                `WWW-Authenticate: LSAT macaroon=\"…\", invoice=\"…\"` first with the same \
                macaroon and invoice, then the L402 one (as Aperture does)";
    let Some(lsat) = first_of(parsed, Scheme::Lsat) else {
        return Item::fail("lsat_challenge", A, "no LSAT challenge", hint);
    };
    let same = l402.is_none_or(|c| c.macaroon == lsat.macaroon && c.invoice == lsat.invoice);
    let first = matches!(
        (raw_of(values, "LSAT"), raw_of(values, "L402")),
        (Some((i, a)), Some((j, b))) if i < j || (i == j && a.len() > b.len())
    ) || l402.is_none();
    Item::check(
        "lsat_challenge",
        A,
        same && first,
        match (same, first) {
            (true, true) => "an LSAT challenge first, same macaroon and invoice",
            (false, _) => "the LSAT challenge names another macaroon or invoice",
            (true, false) => "the LSAT challenge comes after the L402 one",
        },
        hint,
    )
}

fn cache_control(headers: &HeaderMap) -> Item {
    let value = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ");
    let ok = value.split(',').any(|d| d.trim() == "no-store");
    Item::check(
        "cache_control",
        A,
        ok,
        if value.is_empty() {
            "no Cache-Control".to_owned()
        } else {
            format!("Cache-Control: {value}")
        },
        "send `Cache-Control: no-store` with the 402: a shared cache would hand one invoice \
         to many buyers",
    )
}

fn cors(headers: &HeaderMap) -> Item {
    let value = headers
        .get_all(ACCESS_CONTROL_EXPOSE_HEADERS)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    let ok = value
        .split(',')
        .any(|h| h.trim().eq_ignore_ascii_case("www-authenticate") || h.trim() == "*");
    Item::check(
        "cors_expose",
        A,
        ok,
        if value.is_empty() {
            "no Access-Control-Expose-Headers".to_owned()
        } else {
            format!("Access-Control-Expose-Headers: {value}")
        },
        "send `Access-Control-Expose-Headers: WWW-Authenticate`: browser clients cannot \
         read the challenge otherwise",
    )
}

/// The JSON body, if it carries a challenge, must agree with the header
/// (l402kit's client reads the body first). Read by the client's one
/// challenge parser.
fn body_agrees(answer: &Answer, report: &mut Report) {
    use l402_client::{ChallengeProblem, ChallengeSource};
    let hint = "make the JSON body's invoice, macaroon, payment hash and price those of the \
                WWW-Authenticate challenge (l402kit's client reads the body first; l402 get \
                refuses to pay when they differ)";
    report.push(
        match l402_client::parse_challenge(answer.status, &answer.headers, &answer.body) {
            Ok(offer) => match offer.quote.source {
                ChallengeSource::HeaderAndBody => Item::pass(
                    "body_agrees",
                    R,
                    "the body's challenge matches the header's",
                ),
                ChallengeSource::Body => Item::pass(
                    "body_agrees",
                    R,
                    "the challenge is only in the body (see challenge_header)",
                ),
                _ => Item::pass(
                    "body_agrees",
                    R,
                    "no challenge in the body (it is optional)",
                ),
            },
            Err(
                e @ (ChallengeProblem::BodyDisagrees(_) | ChallengeProblem::BodyInconsistent(_)),
            ) => Item::fail("body_agrees", R, e.to_string(), hint),
            Err(e) => Item::skip("body_agrees", R, format!("not compared: {e}")),
        },
    );
}

/// The `hash` of l402kit's opaque token, `base64(JSON{"hash", "exp"})`.
fn opaque_json_hash(token: &str) -> Option<String> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(token).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("hash")?.as_str().map(str::to_ascii_lowercase)
}

/// The macaroon items.
fn token_items(token: &str, invoice: &str, report: &mut Report) {
    let invoice_hash = invoice.parse::<Invoice>().ok().map(|i| i.payment_hash());
    let macaroon = match token.parse::<Macaroon>() {
        Ok(m) => m,
        Err(e) => {
            let json_hash = opaque_json_hash(token);
            let what = if json_hash.is_some() {
                "base64 JSON (l402kit's unsigned token), not a macaroon".to_owned()
            } else {
                format!("not a V2 macaroon: {e}")
            };
            report.push(Item::fail(
                "macaroon_v2",
                R,
                what,
                "send a libmacaroons V2 macaroon in base64 (go-macaroon's bytes): clients that \
                 check the token against the invoice (l402 get --require-macaroon, lsat-js, \
                 Aperture's client) cannot use anything else",
            ));
            report.push(Item::skip("macaroon_identifier", R, "not a macaroon"));
            report.push(match (json_hash, invoice_hash) {
                (Some(h), Some(i)) => Item::check(
                    "payment_hash_match",
                    R,
                    h == i.to_string(),
                    format!("the opaque token's hash {h}, the invoice's {i}"),
                    "the token must name the invoice's payment hash",
                ),
                _ => Item::skip(
                    "payment_hash_match",
                    R,
                    "the token names no payment hash a client can read",
                ),
            });
            return;
        }
    };
    report.push(Item::pass(
        "macaroon_v2",
        R,
        format!(
            "V2 macaroon, location {:?}, {} caveat(s)",
            macaroon.location(),
            macaroon.caveats().len()
        ),
    ));
    let caveats: Vec<String> = macaroon
        .caveats()
        .map(|c| match Caveat::from_bytes(c) {
            Ok(c) => c.to_string(),
            Err(_) => format!("<{} undecodable bytes>", c.len()),
        })
        .collect();
    report.push(Item::info(
        "caveats",
        if caveats.is_empty() {
            "none".to_owned()
        } else {
            caveats.join("; ")
        },
    ));
    match Identifier::from_bytes(macaroon.identifier()) {
        Ok(id) => {
            report.push(Item::pass(
                "macaroon_identifier",
                R,
                format!(
                    "version 0, payment hash {}, token id {}…",
                    id.payment_hash,
                    &hex::encode(id.token_id.0)[..16]
                ),
            ));
            report.push(match invoice_hash {
                Some(i) => Item::check(
                    "payment_hash_match",
                    R,
                    i == id.payment_hash,
                    if i == id.payment_hash {
                        "the macaroon's payment hash is the invoice's".to_owned()
                    } else {
                        format!("macaroon {}, invoice {i}", id.payment_hash)
                    },
                    "mint the macaroon for the invoice's payment hash: every checking client \
                     refuses to pay otherwise, and the preimage could never verify",
                ),
                None => Item::skip("payment_hash_match", R, "the invoice does not decode"),
            });
        }
        Err(e) => {
            report.push(Item::fail(
                "macaroon_identifier",
                R,
                e.to_string(),
                "use Aperture's 66-byte identifier: version 0 (2 bytes), payment hash, token id",
            ));
            report.push(Item::skip(
                "payment_hash_match",
                R,
                "no payment hash in the identifier",
            ));
        }
    }
}

fn network_name(c: &Currency) -> &'static str {
    match c {
        Currency::Bitcoin => "bitcoin",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

fn invoice_items(text: &str, expect: &Expect, report: &mut Report) {
    let invoice = match text.parse::<Invoice>() {
        Ok(i) => i,
        Err(e) => {
            report.push(Item::fail(
                "invoice_decodes",
                R,
                e.to_string(),
                "send a BOLT11 invoice your node signed (every client decodes it before paying)",
            ));
            for id in ["invoice_amount", "invoice_expiry"] {
                report.push(Item::skip(id, R, "the invoice does not decode"));
            }
            return;
        }
    };
    report.push(Item::pass(
        "invoice_decodes",
        R,
        format!("BOLT11, signature valid, payee {}", invoice.payee()),
    ));
    report.push(match invoice.amount_msat() {
        Some(0) | None => Item::fail(
            "invoice_amount",
            R,
            if invoice.amount_msat().is_none() {
                "the invoice has no amount"
            } else {
                "the invoice is for zero"
            },
            "put the price in the invoice: l402-requests, lightning-enable-mcp and l402 get \
             refuse amountless invoices",
        ),
        Some(msat) => Item::pass("invoice_amount", R, format!("{} sats", msat.div_ceil(1000))),
    });
    let left = invoice.expires_at().saturating_sub(expect.now);
    report.push(Item::check(
        "invoice_expiry",
        R,
        left > 0,
        if left > 0 {
            format!("expires in {left} s")
        } else {
            format!("expired at unix time {}", invoice.expires_at())
        },
        "issue a fresh invoice with each 402 (clients refuse expired invoices)",
    ));
    let network = network_name(&invoice.currency());
    report.push(match &expect.network {
        Some(want) => Item::check(
            "invoice_network",
            R,
            invoice.currency() == *want,
            format!("{network} invoice"),
            format!("the invoice must be for {} (--network)", network_name(want)),
        ),
        None => Item::info("invoice_network", format!("{network} invoice")),
    });
}

#[cfg(test)]
mod tests;

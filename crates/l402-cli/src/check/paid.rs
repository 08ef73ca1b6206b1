//! The paid items (`--pay`): one purchase through the paying client, under
//! `l402 get`'s limits and budgets, then probes with the credential it
//! bought: reuse, a wrong preimage, another path, the `LSAT` scheme.

use l402::Preimage;
use l402_client::{Client, FetchError, Scope, SqliteStore, TokenStore, TokenUse};
use reqwest::Url;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::json;

use super::challenge::Answer;
use super::probe::Prober;
use super::report::{Incomplete, Item, Level, Report};
use crate::get;

const R: Level = Level::Required;
const A: Level = Level::Advisory;

/// Where the paid probes go.
pub struct Targets<'a> {
    /// The URL checked.
    pub url: &'a Url,
    /// `--other-path`, resolved against the URL.
    pub other: Option<&'a Url>,
}

/// Whether an answer refuses a forged credential the way decision 5 wants:
/// 401 (or 403) and no challenge.
pub fn refused_without_challenge(answer: &Answer) -> bool {
    matches!(answer.status.as_u16(), 401 | 403) && !answer.headers.contains_key(WWW_AUTHENTICATE)
}

/// The item for a forged credential's answer (`garbage_credential`,
/// `wrong_preimage`).
pub fn forged_item(id: &'static str, what: &str, answer: &Answer) -> Item {
    if answer.status.is_success() {
        return Item::fail(
            id,
            R,
            format!("{what}: {} (access granted)", answer.describe()),
            "verify the credential: sha256(preimage) must equal the token's payment hash \
             and the macaroon's signature must check; never serve without both",
        );
    }
    Item::check(
        id,
        R,
        refused_without_challenge(answer),
        format!("{what}: {}", answer.describe()),
        "answer a forged or unparseable credential with 401 and no WWW-Authenticate: Alby \
         pays again on any response with a challenge, npm l402 pays forever after a paid \
         retry gets 402",
    )
}

/// Buys once and runs the paid probes. A purchase that did not happen
/// (limits, the wallet, the network) stops here: the report says why.
pub async fn check(
    client: &Client,
    store: &SqliteStore,
    prober: &Prober,
    targets: Targets<'_>,
    report: &mut Report,
) {
    let mut request = client.request(prober.method.clone(), targets.url.as_str());
    for (name, value) in &prober.headers {
        request = request.header(name.as_str(), value.as_bytes());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            not_bought(&e, report);
            return;
        }
    };
    match response.token() {
        TokenUse::Paid | TokenUse::Recovered => {
            if let Some(r) = response.receipt() {
                report.purchase = Some(json!({
                    "amount_sats": r.amount_msat.div_ceil(1000),
                    "fee_msat": r.fee_msat,
                    "payment_hash": r.payment_hash.to_string(),
                    "token_kind": r.token_kind,
                    "recovered": r.recovered,
                }));
            }
        }
        TokenUse::Cached => {
            report.purchase = Some(json!({"amount_sats": 0, "reused_stored_token": true}));
        }
        TokenUse::None => {}
    }
    let status = response.status();
    let how = match response.token() {
        TokenUse::Paid => "paid now",
        TokenUse::Recovered => "recovered an interrupted payment",
        TokenUse::Cached => "a token bought before, nothing paid",
        TokenUse::None => "no credential was needed",
    };
    report.push(Item::check(
        "paid_access",
        R,
        status.is_success() && response.token() != TokenUse::None,
        format!("HTTP {} with the credential ({how})", status.as_u16()),
        "serve the resource (2xx) to a request whose credential verifies",
    ));
    let scope = Scope::of(targets.url);
    let token = match store.get(scope.as_str()).await {
        Ok(Some(token)) => token,
        Ok(None) => {
            for id in ["reuse", "wrong_preimage", "other_path", "lsat_credential"] {
                report.push(Item::skip(id, Level::Info, "no stored credential"));
            }
            return;
        }
        Err(e) => {
            report.incomplete = Some(Incomplete {
                code: "storage",
                message: format!("reading the bought token: {e}"),
                money_moved: Some("yes"),
            });
            return;
        }
    };
    let Ok(authorization) = token.authorization() else {
        report.push(Item::skip(
            "reuse",
            Level::Info,
            "the stored token cannot be sent",
        ));
        return;
    };
    probes(prober, &targets, &token.token, &authorization, report).await;
}

/// Reuse, a wrong preimage, another path, the LSAT scheme.
async fn probes(
    prober: &Prober,
    targets: &Targets<'_>,
    token: &str,
    authorization: &str,
    report: &mut Report,
) {
    let reusable = match prober.send(targets.url, Some(authorization)).await {
        Ok(answer) => {
            let ok = answer.status.is_success();
            report.push(Item::info(
                "reuse",
                if ok {
                    format!("reusable: {} on a second use", answer.describe())
                } else {
                    format!(
                        "single-use: {} on a second use (clients that cache tokens, lnget and \
                         l402-requests, buy again)",
                        answer.describe()
                    )
                },
            ));
            ok
        }
        Err(e) => {
            report.push(Item::skip(
                "reuse",
                Level::Info,
                format!("network error: {e}"),
            ));
            false
        }
    };
    match Preimage::random() {
        Ok(wrong) => {
            let forged = format!("L402 {token}:{}", wrong.to_hex());
            report.push(match prober.send(targets.url, Some(&forged)).await {
                Ok(answer) => {
                    forged_item("wrong_preimage", "the token with a wrong preimage", &answer)
                }
                Err(e) => Item::skip("wrong_preimage", R, format!("network error: {e}")),
            });
        }
        Err(e) => report.push(Item::skip(
            "wrong_preimage",
            R,
            format!("no randomness: {e}"),
        )),
    }
    report.push(match targets.other {
        None => Item::skip(
            "other_path",
            A,
            "give --other-path PATH (another paid path of the server) to check it",
        ),
        Some(_) if !reusable => Item::skip("other_path", A, "the token is single-use"),
        Some(other) => match other_path(prober, other, authorization).await {
            Err(why) => Item::skip("other_path", A, why),
            Ok(answer) => Item::check(
                "other_path",
                A,
                !answer.status.is_success(),
                format!("on {}: {}", other.path(), answer.describe()),
                "bind the token to what was paid (a resource caveat), unless the server sells \
                 the whole API as one service",
            ),
        },
    });
    report.push(if !reusable {
        Item::skip("lsat_credential", A, "the token is single-use")
    } else {
        let lsat = format!("LSAT {}", authorization.trim_start_matches("L402 "));
        match prober.send(targets.url, Some(&lsat)).await {
            Ok(answer) => Item::check(
                "lsat_credential",
                A,
                answer.status.is_success(),
                format!("`Authorization: LSAT …`: {}", answer.describe()),
                "accept the LSAT scheme as well as L402: Loop, Pool and lsat-js's toToken() \
                 send LSAT",
            ),
            Err(e) => Item::skip("lsat_credential", A, format!("network error: {e}")),
        }
    });
}

/// The answer with the credential on `other`, once it is known to be a
/// paid path (402 without a credential); else why not.
async fn other_path(prober: &Prober, other: &Url, authorization: &str) -> Result<Answer, String> {
    let free = prober
        .send(other, None)
        .await
        .map_err(|e| format!("network error: {e}"))?;
    if free.status.as_u16() != 402 {
        return Err(format!(
            "{} is not a paid path ({} without a credential)",
            other.path(),
            free.describe()
        ));
    }
    prober
        .send(other, Some(authorization))
        .await
        .map_err(|e| format!("network error: {e}"))
}

/// The purchase did not happen, or happened and the server refused it.
fn not_bought(e: &FetchError, report: &mut Report) {
    let money = get::moved(e.money_moved());
    if let FetchError::ServerRefused { status, .. } = e {
        report.push(Item::fail(
            "paid_access",
            R,
            format!("paid, then HTTP {status} with the credential"),
            "serve the resource (2xx) to a request whose credential verifies",
        ));
        return;
    }
    report.incomplete = Some(Incomplete {
        code: "not_bought",
        message: format!(
            "the purchase did not happen: {} [{}]",
            get::message(e),
            e.code()
        ),
        money_moved: Some(money),
    });
}

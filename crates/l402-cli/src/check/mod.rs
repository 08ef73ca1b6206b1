//! `l402 check URL`: does this seller's 402 work with the deployed L402
//! clients? Fetches the URL without paying and judges the answer item by
//! item (header form and order, LSAT, caching, CORS, the macaroon, the
//! invoice, the JSON body, a garbage credential); with `--pay`, buys once
//! through the paying client under `l402 get`'s limits and checks the paid
//! path. Each item is required (a deployed client fails, or access comes
//! without a verified payment) or advisory (some clients or setups
//! suffer); the exit code is 0 only when every required item passed.

mod challenge;
mod paid;
mod probe;
mod report;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use l402::invoice::Currency;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::{Global, get};
use challenge::Expect;
use probe::Prober;
use report::{Incomplete, Report};

/// Exit codes (documented in `l402 check --help`).
mod exit {
    pub const REQUIRED_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INCOMPLETE: u8 = 3;
}

/// Flags of `l402 check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Items (stable ids; --json lists each with its level, verdict, detail and hint):
  required   status_402, challenge_header, challenge_first, l402_scheme,
             param_order, param_quoting, header_form, body_agrees,
             macaroon_v2, macaroon_identifier, payment_hash_match,
             invoice_decodes, invoice_amount, invoice_expiry,
             garbage_credential (401 and no WWW-Authenticate),
             invoice_network (with --network);
             with --pay: paid_access, wrong_preimage (401, no challenge)
  advisory   lsat_challenge, cache_control, cors_expose;
             with --pay: other_path (with --other-path), lsat_credential
  info       caveats, invoice_network (without --network); with --pay: reuse
A required item fails when a deployed client fails on it (Aperture's client,
lnget, l402-requests, routeweiler, Alby, npm l402, lightning-enable-mcp,
l402kit) or when access comes without a verified payment. An advisory item
fails (WARN) when some clients or setups suffer: old Loop/Pool clients,
browsers, shared caches.

--pay buys once with the paying client of `l402 get`: the same wallet, limits,
budgets and configuration (see `l402 get --help`), the same token store. A
token already stored for the URL is used instead of paying again.

Exit codes:
  0  every required item passed (warnings allowed)
  1  a required item failed
  2  usage or configuration error (bad flags, no wallet for --pay)
  3  the check could not run to the end: the URL could not be fetched, or
     --pay did not buy (over a limit, the payment failed or is unknown; the
     JSON says whether money moved)")]
pub struct Args {
    /// The paid URL to check.
    pub url: String,

    /// HTTP method [default: GET].
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,

    /// Extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Also buy once and check the paid path (within the limits of `l402 get`).
    #[arg(long)]
    pub pay: bool,

    /// Another paid path of the same server: with --pay, the bought token
    /// must be refused there.
    #[arg(long, value_name = "PATH", requires = "pay")]
    pub other_path: Option<String>,

    /// Wallet, limits and budgets for --pay: the flags of `l402 get`.
    #[command(
        flatten,
        next_help_heading = "With --pay (the wallet and limits of l402 get)"
    )]
    pub buy: get::PayArgs,
}

/// Runs the check.
pub async fn run(global: &Global, args: Args) -> ExitCode {
    match check(global, &args).await {
        Ok(report) => {
            let code = exit_code(&report);
            if global.json {
                println!("{}", report.json(code));
            } else {
                print!("{}", report.human(code));
            }
            ExitCode::from(code)
        }
        Err(e) => {
            if global.json {
                let out = serde_json::json!({
                    "ok": false,
                    "exit_code": exit::USAGE,
                    "error": {"code": "usage", "message": format!("{e:#}")},
                });
                println!("{out}");
            } else {
                eprintln!("l402 check: error: {e:#}");
            }
            ExitCode::from(exit::USAGE)
        }
    }
}

fn exit_code(report: &Report) -> u8 {
    if !report.required_passed() {
        exit::REQUIRED_FAILED
    } else if report.incomplete.is_some() {
        exit::INCOMPLETE
    } else {
        0
    }
}

fn prober(args: &Args) -> anyhow::Result<Prober> {
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| anyhow!("invalid method {m:?}"))?,
        None => Method::GET,
    };
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow!("-H takes `Name: value`, not {header:?}"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("-H {header:?}"))?;
        let value =
            HeaderValue::from_str(value.trim()).with_context(|| format!("-H {header:?}"))?;
        headers.push((name, value));
    }
    let timeout = Duration::from_secs(args.buy.timeout.max(1));
    Ok(Prober {
        http: crate::tls::http_client(timeout)?,
        method,
        headers,
    })
}

async fn check(global: &Global, args: &Args) -> anyhow::Result<Report> {
    let url = Url::parse(&args.url).with_context(|| format!("invalid URL {:?}", args.url))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(anyhow!("only http(s) URLs with a host, not {:?}", args.url));
    }
    let other = args
        .other_path
        .as_deref()
        .map(|p| url.join(p).with_context(|| format!("--other-path {p:?}")))
        .transpose()?;
    let network = args
        .buy
        .network
        .as_deref()
        .map(get::parse_network)
        .transpose()?;
    let prober = prober(args)?;
    // The paying client is built (and the wallet resolved) before any
    // request: a configuration error is exit 2, not a half-run check.
    let buyer = if args.pay {
        Some(get::paying_client(global, &args.buy, global.json).await?)
    } else {
        None
    };

    let mut report = Report {
        url: url.to_string(),
        ..Report::default()
    };
    if !unpaid(&prober, &url, network, &mut report).await {
        return Ok(report);
    }
    if let Some((client, store)) = buyer {
        let targets = paid::Targets {
            url: &url,
            other: other.as_ref(),
        };
        paid::check(&client, &store, &prober, targets, &mut report).await;
    }
    Ok(report)
}

/// The unpaid items; false when the URL could not be fetched.
async fn unpaid(
    prober: &Prober,
    url: &Url,
    network: Option<Currency>,
    report: &mut Report,
) -> bool {
    let answer = match prober.send(url, None).await {
        Ok(answer) => answer,
        Err(e) => {
            report.incomplete = Some(Incomplete {
                code: "unreachable",
                message: format!("fetching {url}: {e:#}"),
                money_moved: None,
            });
            return false;
        }
    };
    let expect = Expect {
        now: l402::time::unix_now(),
        network,
    };
    challenge::inspect(&answer, &expect, report);
    let required = report::Level::Required;
    report.push(if answer.status.is_success() {
        // A free answer: a credential has nothing to unlock.
        report::Item::skip(
            "garbage_credential",
            required,
            "the URL answers without payment",
        )
    } else {
        match prober.send(url, Some(probe::GARBAGE_CREDENTIAL)).await {
            Ok(answer) => paid::forged_item("garbage_credential", "a garbage credential", &answer),
            Err(e) => report::Item::skip(
                "garbage_credential",
                required,
                format!("network error: {e:#}"),
            ),
        }
    });
    true
}

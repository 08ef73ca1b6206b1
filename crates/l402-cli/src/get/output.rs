//! What `l402 get` prints: progress on standard error, the answer (text or
//! `--json`), errors with whether money moved, and the `-o` file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use l402_client::{Event, FetchError, MoneyMoved, Response, TokenUse};
use serde_json::{Value, json};

use super::{Args, abort_hook, exit_code};
use crate::Global;

pub(super) fn progress(event: &Event<'_>) {
    match event {
        Event::Challenged(quote) => {
            let amount = quote
                .amount_sats()
                .map_or_else(|| "an unstated amount".to_string(), |s| format!("{s} sats"));
            eprintln!(
                "l402: payment required: {amount} ({} invoice, payee {}…)",
                quote.network,
                &quote.payee[..quote.payee.len().min(16)]
            );
            if !quote.token_kind.hash_checked() {
                eprintln!(
                    "l402: the server's token is not an L402 macaroon: it cannot be checked \
                     against the invoice's payment hash (the invoice is checked in full; \
                     --require-macaroon refuses such tokens)"
                );
            }
        }
        Event::Paying(quote) => eprintln!(
            "l402: paying {} sats…",
            quote.amount_sats().unwrap_or_default()
        ),
        Event::Paid(payment) => {
            abort_hook(event);
            eprintln!(
                "l402: paid {} sats (fee {} msat), preimage checked; payment hash {}",
                payment.amount_msat.div_ceil(1000),
                payment.fee_msat,
                payment.payment_hash
            );
        }
        Event::Recovered(hash) => {
            eprintln!(
                "l402: recovered the token of an interrupted payment ({hash}); not paying again"
            )
        }
        Event::TokenRefused { status } => {
            eprintln!(
                "l402: the stored token was refused (HTTP {status}: single-use, expired or \
                 revoked); dropped it"
            )
        }
        Event::Retrying {
            attempt,
            status,
            delay,
        } => eprintln!(
            "l402: server answered {status} to the paid credential; retry {attempt} in {} ms (no new payment)",
            delay.as_millis()
        ),
        _ => {}
    }
}

/// The file of `-o`, opened before the request (not truncated until the
/// answer is written; removed on failure if this run created it).
pub(super) struct OutputFile {
    file: std::fs::File,
    pub(super) path: PathBuf,
    created: bool,
}

impl OutputFile {
    pub(super) fn open(path: &std::path::Path) -> anyhow::Result<OutputFile> {
        let created = !path.exists();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(OutputFile {
            file,
            path: path.to_path_buf(),
            created,
        })
    }

    /// Replaces the file's content with `body`.
    pub(super) fn write(mut self, head: &[u8], body: &[u8]) -> anyhow::Result<()> {
        let context = || format!("writing {}", self.path.display());
        if self.file.metadata().with_context(context)?.is_file() {
            self.file.set_len(0).with_context(context)?;
        }
        self.file.write_all(head).with_context(context)?;
        self.file.write_all(body).with_context(context)?;
        self.file.flush().with_context(context)?;
        Ok(())
    }

    pub(super) fn discard(self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `no`, `yes` or `unknown` (also for `l402 check`).
pub(crate) fn moved(m: MoneyMoved) -> &'static str {
    match m {
        MoneyMoved::No => "no",
        MoneyMoved::Yes => "yes",
        MoneyMoved::Unknown => "unknown",
    }
}

/// The error and each of its causes, once each (errors print only their own
/// text). Also for `l402 check`.
pub(crate) fn message(e: &FetchError) -> String {
    e.chain()
}

pub(super) fn report_error(global: &Global, e: &FetchError) {
    if global.json {
        let mut out = json!({
            "ok": false,
            "error": {
                "code": e.code(),
                "message": message(e),
                "money_moved": moved(e.money_moved()),
                "exit_code": exit_code(e),
            },
        });
        if let Some(receipt) = e.receipt() {
            out["receipt"] = serde_json::to_value(receipt).unwrap_or(Value::Null);
        }
        if let FetchError::ServerRefused { status, body, .. } = e {
            out["status"] = json!(status);
            out["body"] = json!(body);
        }
        println!("{out}");
    } else {
        eprintln!("l402 get: {} [{}]", message(e), e.money_moved());
    }
}

pub(super) fn output(
    global: &Global,
    args: &Args,
    response: &Response,
    sink: Option<OutputFile>,
) -> anyhow::Result<()> {
    if global.json {
        let headers: serde_json::Map<String, Value> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let mut out = json!({
            "ok": true,
            "status": response.status().as_u16(),
            "url": response.url().to_string(),
            "headers": headers,
            "token": response.token(),
            "paid": response.token() == TokenUse::Paid,
            "receipt": response.receipt(),
            "quote": response.quote(),
            "would_pay": response.would_pay(),
            "refused_token": response.refused_token(),
        });
        if let Some(sink) = sink {
            out["output"] = json!(sink.path.display().to_string());
            sink.write(&[], response.bytes())?;
            println!("{out}");
            return Ok(());
        }
        match std::str::from_utf8(response.bytes()) {
            Ok(text) => out["body"] = json!(text),
            Err(_) => out["body_hex"] = json!(hex::encode(response.bytes())),
        }
        if let Ok(v) = serde_json::from_slice::<Value>(response.bytes()) {
            out["body_json"] = v;
        }
        println!("{out}");
        return Ok(());
    }
    if let Some(quote) = response.quote() {
        // A price, not a body: leave no empty file behind.
        if let Some(sink) = sink {
            sink.discard();
        }
        let amount = quote
            .amount_sats()
            .map_or_else(|| "no amount stated".to_string(), |s| format!("{s} sats"));
        let verdict = if response.would_pay() {
            " (dry run: every check passed; not paid)"
        } else {
            " (not paid)"
        };
        println!("price: {amount}{verdict}");
        println!("payment hash: {}", quote.payment_hash);
        println!("network: {}  payee: {}", quote.network, quote.payee);
        println!(
            "token: {}{}  (challenge read from the {})",
            quote.token_kind,
            if quote.token_kind.hash_checked() {
                ", its payment hash checked"
            } else {
                ", not checkable against the payment hash"
            },
            match quote.source {
                l402_client::ChallengeSource::Body => "JSON body",
                l402_client::ChallengeSource::Header => "WWW-Authenticate header",
                _ => "header and JSON body, which agree",
            }
        );
        if let Some(d) = quote.description.as_deref().filter(|d| !d.is_empty()) {
            println!("description: {d}");
        }
        return Ok(());
    }
    // A payment or recovery was reported as it happened (`progress`).
    if !args.silent && response.receipt().is_none() && response.token() == TokenUse::Cached {
        eprintln!("l402: reused a stored token (nothing paid)");
    }
    let mut head = Vec::new();
    if args.include {
        writeln!(head, "HTTP {}", response.status())?;
        for (name, value) in response.headers() {
            writeln!(
                head,
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            )?;
        }
        writeln!(head)?;
    }
    if let Some(sink) = sink {
        return sink.write(&head, response.bytes());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&head)?;
    out.write_all(response.bytes())?;
    out.flush()?;
    Ok(())
}

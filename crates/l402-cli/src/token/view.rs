//! `l402 token list` and `show`: what is stored, for people and scripts.
//! The preimage is printed only by `show --reveal`.

use l402::time::{rfc3339, unix_now};
use l402::{Caveat, Identifier, Macaroon};
use l402_client::StoredToken;
use reqwest::Url;
use serde_json::{Value, json};

use crate::Global;

/// `scheme://host[:port]` and the path of a stored scope.
fn split_scope(scope: &str) -> (String, String) {
    match Url::parse(scope) {
        Ok(url) => (url.origin().ascii_serialization(), url.path().to_owned()),
        Err(_) => (scope.to_owned(), String::new()),
    }
}

fn expiry_text(token: &StoredToken, now: u64) -> String {
    match token.expires_at {
        None => "never".to_owned(),
        Some(t) if t <= now => format!("{} (expired)", rfc3339(t)),
        Some(t) => rfc3339(t),
    }
}

fn paid_text(token: &StoredToken) -> String {
    token
        .amount_msat
        .map_or_else(|| "?".to_owned(), |m| format!("{} sat", m.div_ceil(1000)))
}

/// A token as JSON, without the preimage.
pub fn summary(token: &StoredToken, now: u64) -> Value {
    let (origin, path) = split_scope(&token.scope);
    json!({
        "scope": token.scope,
        "origin": origin,
        "path": path,
        "kind": token.kind,
        "payment_hash": token.payment_hash.to_string(),
        "amount_msat": token.amount_msat,
        "amount_sats": token.amount_msat.map(|m| m.div_ceil(1000)),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "expired": token.is_expired_at(now),
        "uses": token.uses,
    })
}

/// `l402 token list`.
pub fn list(global: &Global, tokens: &[StoredToken]) {
    let now = unix_now();
    if global.json {
        let all: Vec<Value> = tokens.iter().map(|t| summary(t, now)).collect();
        println!("{}", json!({"ok": true, "tokens": all}));
        return;
    }
    if tokens.is_empty() {
        println!("no stored tokens");
        return;
    }
    let rows: Vec<[String; 7]> = tokens
        .iter()
        .map(|t| {
            let (origin, path) = split_scope(&t.scope);
            [
                origin,
                path,
                t.kind.to_string(),
                paid_text(t),
                expiry_text(t, now),
                t.uses.to_string(),
                t.payment_hash.to_string()[..12].to_owned(),
            ]
        })
        .collect();
    let header = ["ORIGIN", "PATH", "KIND", "PAID", "EXPIRES", "USES", "HASH"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:w$}  "));
            }
        }
        out
    };
    println!("{}", line(&header.map(str::to_owned)));
    for row in &rows {
        println!("{}", line(row));
    }
}

/// The macaroon, decoded, as JSON (`null` for an opaque token).
pub fn decoded(token: &str) -> Value {
    let Ok(macaroon) = token.parse::<Macaroon>() else {
        return Value::Null;
    };
    let caveats: Vec<String> = macaroon
        .caveats()
        .map(|c| match Caveat::from_bytes(c) {
            Ok(c) => c.to_string(),
            Err(_) => format!("<{} undecodable bytes>", c.len()),
        })
        .collect();
    let identifier = match Identifier::from_bytes(macaroon.identifier()) {
        Ok(id) => json!({
            "version": 0,
            "payment_hash": id.payment_hash.to_string(),
            "token_id": hex::encode(id.token_id.0),
        }),
        Err(e) => json!({"error": e.to_string(), "hex": hex::encode(macaroon.identifier())}),
    };
    json!({
        "location": macaroon.location(),
        "identifier": identifier,
        "caveats": caveats,
    })
}

/// `l402 token show`.
pub fn show(global: &Global, token: &StoredToken, reveal: bool) {
    let now = unix_now();
    let macaroon = decoded(&token.token);
    if global.json {
        let mut out = summary(token, now);
        out["ok"] = json!(true);
        out["token"] = json!(token.token);
        out["macaroon"] = macaroon;
        if reveal {
            out["preimage"] = json!(token.preimage.to_hex());
        }
        println!("{out}");
        return;
    }
    let (origin, path) = split_scope(&token.scope);
    println!("origin:       {origin}");
    println!("path:         {path}");
    println!("kind:         {}", token.kind);
    println!("paid:         {}", paid_text(token));
    println!("bought:       {}", rfc3339(token.created_at));
    println!("expires:      {}", expiry_text(token, now));
    println!("uses:         {}", token.uses);
    println!("payment hash: {}", token.payment_hash);
    if macaroon.is_null() {
        println!("token:        {} (opaque: not a macaroon)", token.token);
    } else {
        println!(
            "location:     {}",
            macaroon["location"].as_str().unwrap_or("")
        );
        match macaroon["identifier"]["token_id"].as_str() {
            Some(id) => println!("token id:     {id}"),
            None => println!(
                "identifier:   not an L402 one ({})",
                macaroon["identifier"]["error"].as_str().unwrap_or("")
            ),
        }
        let caveats = macaroon["caveats"].as_array().cloned().unwrap_or_default();
        if caveats.is_empty() {
            println!("caveats:      none");
        } else {
            println!("caveats:");
            for caveat in caveats {
                println!("  {}", caveat.as_str().unwrap_or(""));
            }
        }
        println!("macaroon:     {}", token.token);
    }
    if reveal {
        println!("preimage:     {}", token.preimage.to_hex());
    } else {
        println!("preimage:     (hidden; --reveal prints it)");
    }
}

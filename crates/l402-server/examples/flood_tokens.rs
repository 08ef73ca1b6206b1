//! Writes the credentials `scripts/bench-flood.sh` sends to `l402 serve`.
//!
//! `cargo run --release -p l402-server --example flood_tokens -- <secret hex>
//! <resource> <price sats> <out dir> [spellings] [garbage]`
//!
//! - `<out>/genuine`: one valid credential for `<resource>` at `<price>`,
//!   minted with the server's secret exactly as the layer mints the tokens it
//!   sells (the preimage is the proof of payment; the layer never asks the
//!   backend);
//! - `<out>/spellings`: that one token in `spellings` (default 100,000)
//!   distinct valid spellings: scheme case (`L402`/`LSAT`), either base64
//!   alphabet, with or without padding, spaces and tabs, preimage hex case;
//!   one in ten also adds a narrowing caveat (`valid_until` a little
//!   earlier), which makes a new signature, so a new token to cache;
//! - `<out>/garbage`: `garbage` (default 100,000) distinct credentials that
//!   must be refused with 401 and mint nothing: half random bytes where the
//!   macaroon goes, half well-formed tokens signed with another secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::Write;

use l402::{Caveat, Credential, Keyring, Macaroon, Minter, Preimage};

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).unwrap();
    bytes
}

/// A random spelling of `macaroon` (standard base64, padded) and `hex`.
fn spelling(macaroon: &str, hex: &str, r: &[u8]) -> String {
    let scheme: String = if r[0] & 1 == 0 { "L402" } else { "LSAT" }
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if r[1] >> i & 1 == 1 {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect();
    let mut mac = macaroon.to_owned();
    if r[2] & 1 == 1 {
        mac = mac.replace('+', "-").replace('/', "_");
    }
    if r[2] & 2 == 2 {
        mac = mac.trim_end_matches('=').to_owned();
    }
    let space = |b: u8| [" ", "  ", "\t", " \t"][(b % 4) as usize];
    let hex: String = hex
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if r[4 + i / 8] >> (i % 8) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let around = |b: u8| ["", " ", "\t"][(b % 3) as usize];
    format!(
        "{scheme}{}{mac}{}:{}{hex}",
        space(r[3]),
        around(r[12]),
        around(r[13])
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [secret, resource, price, out, rest @ ..] = args.as_slice() else {
        panic!(
            "usage: flood_tokens <secret hex> <resource> <price> <out dir> [spellings] [garbage]"
        );
    };
    let price: u64 = price.parse().unwrap();
    let spellings: usize = rest.first().map_or(100_000, |n| n.parse().unwrap());
    let garbage: usize = rest.get(1).map_or(100_000, |n| n.parse().unwrap());
    let out = std::path::Path::new(out);
    let keys = Keyring::from_hex(1, secret).unwrap();
    let minter = Minter::new(keys);
    let preimage = Preimage::random().unwrap();
    let valid_until = l402::time::unix_now() + 86_400;
    let caveats = [
        Caveat::resource(resource),
        Caveat::amount_sats(price),
        Caveat::valid_until(valid_until),
    ];
    let macaroon = minter.mint(preimage.payment_hash(), &caveats).unwrap();
    let genuine = Credential::new(macaroon.clone(), preimage.clone());
    std::fs::write(out.join("genuine"), format!("{genuine}\n")).unwrap();

    let hex = preimage.to_hex();
    let mut seen = HashSet::new();
    let mut file = std::io::BufWriter::new(std::fs::File::create(out.join("spellings")).unwrap());
    let mut narrowed = 0u64;
    while seen.len() < spellings {
        let r = random_bytes(16);
        let mac: Macaroon = if r[15].is_multiple_of(10) {
            narrowed += 1;
            let mut m = macaroon.clone();
            m.add_first_party_caveat(format!("valid_until={}", valid_until - narrowed))
                .unwrap();
            m
        } else {
            macaroon.clone()
        };
        let line = spelling(&mac.to_string(), &hex, &r);
        if seen.insert(line.clone()) {
            writeln!(file, "{line}").unwrap();
        }
    }
    file.flush().unwrap();

    let forger = Minter::new(Keyring::new(1, random_bytes(32).try_into().unwrap()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(out.join("garbage")).unwrap());
    for i in 0..garbage {
        let line = if i.is_multiple_of(2) {
            // The form of a credential; random characters where the
            // macaroon goes.
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let encoded: String = random_bytes(200 + i % 200)
                .iter()
                .map(|b| alphabet[(b % 64) as usize] as char)
                .collect();
            let hex = Preimage::random().unwrap().to_hex();
            format!("L402 {encoded}:{hex}")
        } else {
            let p = Preimage::random().unwrap();
            let m = forger.mint(p.payment_hash(), &caveats).unwrap();
            Credential::new(m, p).to_string()
        };
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    eprintln!(
        "flood_tokens: 1 genuine, {spellings} spellings ({narrowed} narrowed), {garbage} garbage in {}",
        out.display()
    );
}

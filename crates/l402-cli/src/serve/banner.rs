//! What `l402 serve` prints once it listens: the JSON `listening` event,
//! or the text banner with the backend, the producer API, the paid routes,
//! the services and how to pay the demo.

use std::path::PathBuf;

use serde_json::json;

use super::app::{DEMO_PATH, DEMO_PRICE_SATS};
use super::proxy;
use crate::config::{Backend, Config, StoreTarget};
use crate::devwallet::{self, DevWalletFile};
use crate::{Global, state};

pub(super) struct ProducerInfo {
    pub(super) store: &'static str,
    pub(super) admin_token_file: Option<PathBuf>,
}

pub(super) fn announce(
    global: &Global,
    config: &Config,
    base: &str,
    dev_wallet: Option<&DevWalletFile>,
    producer: Option<&ProducerInfo>,
) {
    let demo_url = config.demo.then(|| format!("{base}{DEMO_PATH}"));
    if global.json {
        let line = json!({
            "event": "listening",
            "url": base,
            "backend": config.backend.kind(),
            "backend_url": config.backend.location(),
            "real_lightning": !matches!(config.backend, Backend::Dev),
            "demo_url": demo_url,
            "demo_price_sats": config.demo.then_some(DEMO_PRICE_SATS),
            "routes": config.routes.iter().map(|r| json!({"path": r.path, "price_sats": r.price_sats})).collect::<Vec<_>>(),
            "services": proxy::announced(&config.services),
            "dev_wallet": dev_wallet.map(|w| json!({"url": w.url, "file": devwallet::path(&global.data_dir)})),
            "data_dir": global.data_dir,
            "producer": producer.map(|p| json!({
                "url": format!("{base}/api/l402"),
                "openapi": format!("{base}/api/openapi.json"),
                "store": p.store,
                "admin_token_file": p.admin_token_file,
            })),
        });
        println!("{line}");
        return;
    }
    println!("l402 serve: listening on {base}");
    match &config.backend {
        Backend::Dev => println!(
            "  backend:  embedded dev node - NOT A REAL LIGHTNING NODE, no real money moves"
        ),
        Backend::Lnbits { url, .. } => println!("  backend:  LNbits at {url}"),
        Backend::Node(node) => println!("  backend:  {} at {}", node.label(), node.location()),
    }
    println!("  data:     {}", global.data_dir.display());
    if let Some(p) = producer {
        let store = match &config.store.target {
            StoreTarget::Sqlite => format!(
                "SQLite {}",
                global.data_dir.join(state::STORE_FILE).display()
            ),
            StoreTarget::Postgres { .. } => "PostgreSQL".to_owned(),
        };
        println!("  producer: POST {base}/api/l402/challenges (X-API-Key; store: {store})");
        println!(
            "            merchants and keys: l402 merchant --help; API: {base}/api/openapi.json"
        );
        match &p.admin_token_file {
            Some(f) => println!("            admin token: {}", f.display()),
            None => println!("            admin token: from L402_ADMIN_TOKEN"),
        }
    }
    for route in &config.routes {
        println!(
            "  paid:     GET {base}{}  ({} sats)",
            route.path, route.price_sats
        );
    }
    proxy::print_banner(&config.services);
    let Some(demo_url) = demo_url else { return };
    println!("  demo:     GET {demo_url}  ({DEMO_PRICE_SATS} sats)");
    if let Some(wallet) = dev_wallet {
        println!(
            "  wallet:   {} (LNbits API; buyer admin key {})",
            wallet.url, wallet.admin_key
        );
        println!();
        println!("Pay the demo with curl and jq (each step is one shell command):");
        println!("  1. C=$(curl -s {demo_url})");
        println!(
            "     -> 402 Payment Required; the JSON body holds .l402.invoice and .l402.macaroon"
        );
        println!(
            "  2. P=$(curl -s -X POST {}/api/v1/payments -H 'X-Api-Key: {}' -H 'Content-Type: application/json' -d \"$(echo \"$C\" | jq -c '{{out: true, bolt11: .l402.invoice}}')\" | jq -r .preimage)",
            wallet.url, wallet.admin_key
        );
        println!("     -> the dev wallet pays the invoice; .preimage is the proof of payment");
        println!(
            "  3. curl -s {demo_url} -H \"Authorization: L402 $(echo \"$C\" | jq -r .l402.macaroon):$P\""
        );
        println!("     -> 200 and a joke");
        println!("Or: {} {demo_url}", get_command(&global.data_dir));
    }
}

/// How to run `l402 get` against this server: with its data directory
/// unless that is the default one, so `get` finds the dev wallet.
fn get_command(data_dir: &std::path::Path) -> String {
    if data_dir == crate::paths::data_dir(None) {
        return "l402 get".to_owned();
    }
    let dir = data_dir.to_string_lossy();
    let plain = dir
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain {
        format!("l402 --data-dir {dir} get")
    } else {
        format!("l402 --data-dir '{}' get", dir.replace('\'', "'\\''"))
    }
}

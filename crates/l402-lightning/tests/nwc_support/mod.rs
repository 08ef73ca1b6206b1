//! Running the NWC test stack from Rust tests: Alby's wallet service
//! (`scripts/nwc/service.mjs`) over the relay `scripts/nwc.sh start` runs,
//! serving wallets of a dev node's HTTP API; and a proxy that cuts a
//! client's relay connection after its next published request. Shared by
//! l402-lightning's `tests/nwc.rs` and l402-cli's `tests/nwc_e2e.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use l402_lightning::dev::DevWallet;
use l402_lightning::nwc::NwcUri;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// The stack `scripts/nwc.sh start` runs, or `None` (skip) outside CI.
pub fn stack() -> Option<(String, String, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("L402_NWC_RELAY_URL"),
        var("L402_NWC_NODE"),
        var("L402_NWC_SERVICE"),
    ) {
        (Some(relay), Some(node), Some(service)) => Some((relay, node, service)),
        _ if var("L402_REQUIRE_NWC").as_deref() == Some("1") => panic!(
            "L402_REQUIRE_NWC=1 but the NWC stack is not set up: run \
             `bash scripts/nwc.sh start` and `eval \"$(bash scripts/nwc.sh env)\"`"
        ),
        _ => {
            eprintln!("skipped: no NWC stack (bash scripts/nwc.sh start)");
            None
        }
    }
}

/// Alby's wallet service, serving dev-node wallets over the relay.
pub struct Service {
    _child: Child,
    pub connections: HashMap<String, String>,
}

pub async fn service(backend_url: &str, wallets: &[(&str, &DevWallet)]) -> Option<Service> {
    let keys: Vec<(&str, &str, &str)> = wallets
        .iter()
        .map(|(name, w)| (*name, w.admin_key(), w.invoice_key()))
        .collect();
    service_with_keys(backend_url, &keys).await
}

/// Alby's wallet service serving `(name, admin key, invoice key)` wallets
/// of the LNbits(-compatible) API at `backend_url`.
pub async fn service_with_keys(
    backend_url: &str,
    wallets: &[(&str, &str, &str)],
) -> Option<Service> {
    let (relay, node, script) = stack()?;
    let wallets: Vec<Value> = wallets
        .iter()
        .map(|(name, admin, invoice)| json!({ "name": name, "admin_key": admin, "invoice_key": invoice }))
        .collect();
    let mut child = Command::new(node)
        .arg(script)
        .env("NWC_RELAY_URL", relay)
        .env("NWC_BACKEND_URL", backend_url)
        .env("NWC_WALLETS", Value::from(wallets).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["ready"] == true
            {
                return v;
            }
        }
        panic!("the wallet service exited before it was ready");
    })
    .await
    .expect("the wallet service is ready within 60 s");
    let connections = ready["connections"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    Some(Service {
        _child: child,
        connections,
    })
}

/// A TCP proxy to the relay that, once armed, swallows everything from the
/// relay from its next `OK` on (the acknowledgement of a published
/// request), then cuts the connection 1.5 s later: the wallet has acted on
/// the request, the client never hears the answer.
pub struct Proxy {
    pub url: String,
    pub cut: Arc<AtomicBool>,
}

pub async fn proxy(relay: &str) -> Proxy {
    let target: SocketAddr = relay.trim_start_matches("ws://").parse().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let cut = Arc::new(AtomicBool::new(false));
    let armed = cut.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let armed = armed.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    if chunk.windows(5).any(|w| w == b"[\"OK\"")
                        && armed.swap(false, Ordering::SeqCst)
                    {
                        tokio::time::sleep(Duration::from_millis(1_500)).await;
                        break;
                    }
                    if cw.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    Proxy { url, cut }
}

/// The secret of `uri`.
pub fn secret_of(uri: &NwcUri) -> String {
    let text = uri.to_secret_string();
    text[text.find("secret=").unwrap() + 7..][..64].to_owned()
}

/// `uri` with `relay` as its only relay.
pub fn with_relay(uri: &NwcUri, relay: &str) -> NwcUri {
    format!(
        "nostr+walletconnect://{}?relay={relay}&secret={}",
        uri.wallet_pubkey().to_hex(),
        secret_of(uri)
    )
    .parse()
    .unwrap()
}

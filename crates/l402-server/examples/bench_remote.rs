//! The app `scripts/bench-remote.sh` loads: one "hello" handler
//! bare (`/hello`), behind a local layer (`/local/hello`, its own embedded
//! dev node and keyring) and behind a remote layer (`/remote/hello`, a
//! producer API at `PRODUCER_URL` with the merchant key `PRODUCER_KEY`); the
//! 402 paths of both (`/local-mint/hello`, `/remote-mint/hello`: every
//! request gets a new challenge, minted here or by the producer).
//!
//! `cargo run --release -p l402-server --features remote --example
//! bench_remote -- <dir>` buys one token for each paid route (the remote one
//! paid with the producer's dev wallet, `PRODUCER_WALLET_URL` and
//! `PRODUCER_WALLET_KEY`, LNbits-shaped), checks it once, which verifies it
//! (remotely for the remote route) and caches it, and writes its
//! `Authorization` value to `<dir>/tokens-local` and `<dir>/tokens-remote`;
//! then writes `<dir>/ready` and serves on `BENCH_ADDR` (default
//! 127.0.0.1:5131) until killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use l402::{Challenges, Credential, Keyring};
use l402_lightning::dev::DevNode;
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{PayRequest, Wallet};
use l402_server::{L402Layer, RemoteProducer};

async fn hello() -> &'static str {
    "hello"
}

/// Buys `url` with `wallet`, checks the credential once, returns it.
async fn buy(http: &reqwest::Client, url: &str, wallet: &dyn Wallet) -> String {
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 402, "{url}");
    let values: Vec<String> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let challenge = Challenges::parse(values.iter().map(String::as_str))
        .l402()
        .unwrap()
        .clone();
    let payment = wallet
        .pay(&PayRequest::new(challenge.invoice.clone()))
        .await
        .unwrap();
    let credential =
        Credential::new(challenge.decode_macaroon().unwrap(), payment.preimage).to_string();
    let check = http
        .get(url)
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200, "{url}");
    credential
}

#[tokio::main]
async fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: bench_remote <dir>"));
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let addr = std::env::var("BENCH_ADDR").unwrap_or_else(|_| "127.0.0.1:5131".to_owned());
    let data = tempfile::tempdir().unwrap();
    let node = DevNode::builder()
        .data_dir(data.path())
        .open()
        .await
        .unwrap();
    let merchant = Arc::new(node.wallet("merchant").await.unwrap());
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(1_000).await.unwrap();
    let keys = Keyring::new(1, [7; 32]);
    let producer = RemoteProducer::builder(env("PRODUCER_KEY"))
        .base_url(env("PRODUCER_URL"))
        .build()
        .unwrap();
    let local = || {
        L402Layer::builder(merchant.clone(), keys.clone())
            .price_sats(1)
            .resource("hello")
            .build()
    };
    let remote = || {
        L402Layer::remote(producer.clone())
            .price_sats(1)
            .resource("hello")
            .build()
    };
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/local/hello", get(hello).layer(local()))
        .route("/local-mint/hello", get(hello).layer(local()))
        .route("/remote/hello", get(hello).layer(remote()))
        .route("/remote-mint/hello", get(hello).layer(remote()));
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = reqwest::Client::new();
    let local = buy(&http, &format!("http://{addr}/local/hello"), &buyer).await;
    std::fs::write(dir.join("tokens-local"), format!("{local}\n")).unwrap();
    let producer_wallet = LnbitsClient::builder(env("PRODUCER_WALLET_URL"))
        .admin_key(env("PRODUCER_WALLET_KEY"))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let remote = buy(
        &http,
        &format!("http://{addr}/remote/hello"),
        &producer_wallet,
    )
    .await;
    std::fs::write(dir.join("tokens-remote"), format!("{remote}\n")).unwrap();
    std::fs::write(dir.join("ready"), b"").unwrap();
    eprintln!("bench_remote: ready on {addr}");
    std::future::pending::<()>().await;
}

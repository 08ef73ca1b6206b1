//! The server `scripts/bench-serve.sh` loads: the same "hello" handler bare
//! (`/hello`), behind the L402 layer (`/paid/hello`, reached with a valid
//! credential), and the layer's 402 path (`/mint/hello`, every request mints
//! an invoice on the embedded dev node).
//!
//! `cargo run --release -p l402-server --example bench_server -- <credential file>`
//! buys a token for `/paid/hello` from itself, writes the `Authorization`
//! value to the file, then serves on 127.0.0.1:8499 until killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use l402::{Challenges, Credential, Keyring};
use l402_lightning::dev::DevNode;
use l402_lightning::{PayRequest, Wallet};
use l402_server::L402Layer;

async fn hello() -> &'static str {
    "hello"
}

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: bench_server <credential file>");
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::builder()
        .data_dir(dir.path())
        .open()
        .await
        .unwrap();
    let merchant = Arc::new(node.wallet("merchant").await.unwrap());
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(1_000).await.unwrap();
    let keys = Keyring::new(1, [7; 32]);
    let layer = || {
        L402Layer::builder(merchant.clone(), keys.clone())
            .price_sats(1)
            .resource("hello")
            .token_lifetime(Duration::from_secs(86_400))
            .build()
    };
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/paid/hello", get(hello).layer(layer()))
        .route("/mint/hello", get(hello).layer(layer()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8499")
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = reqwest::Client::new();
    let resp = http
        .get("http://127.0.0.1:8499/paid/hello")
        .send()
        .await
        .unwrap();
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
    let payment = buyer
        .pay(&PayRequest::new(challenge.invoice.clone()))
        .await
        .unwrap();
    let credential =
        Credential::new(challenge.decode_macaroon().unwrap(), payment.preimage).to_string();
    let check = http
        .get("http://127.0.0.1:8499/paid/hello")
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200);
    std::fs::write(&out, &credential).unwrap();
    eprintln!("bench_server: ready on 127.0.0.1:8499");
    std::future::pending::<()>().await;
}

//! The server `scripts/bench-serve.sh` loads: the same "hello" handler bare
//! (`/hello`), behind the L402 layer (`/paid/hello`, reached with valid
//! credentials), and the layer's 402 path (`/mint/hello`, every request mints
//! an invoice on the embedded dev node).
//!
//! `cargo run --release -p l402-server --example bench_server -- <dir> [N...]`
//! buys one token for `/paid/hello` from itself (a real payment on the dev
//! node) and writes its `Authorization` value to `<dir>/tokens-1`; for each
//! further `N` it writes `<dir>/tokens-N` with N distinct valid credentials,
//! minted with the server's keyring for random preimages exactly as the
//! layer mints the tokens it sells (the layer never asks the backend whether
//! an invoice was paid: the preimage is the proof). Then it writes
//! `<dir>/ready` and serves on 127.0.0.1:8499 (`BENCH_ADDR` to change) until
//! killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use l402::{Caveat, Challenges, Credential, Keyring, Minter, Preimage};
use l402_lightning::dev::DevNode;
use l402_lightning::{PayRequest, Wallet};
use l402_server::L402Layer;

async fn hello() -> &'static str {
    "hello"
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: bench_server <dir> [N...]"));
    let sets: Vec<usize> = args.map(|n| n.parse().expect("N is a number")).collect();
    let addr = std::env::var("BENCH_ADDR").unwrap_or_else(|_| "127.0.0.1:8499".to_owned());
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
    let lifetime = Duration::from_secs(86_400);
    let layer = || {
        L402Layer::builder(merchant.clone(), keys.clone())
            .price_sats(1)
            .resource("hello")
            .token_lifetime(lifetime)
            .build()
    };
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/paid/hello", get(hello).layer(layer()))
        .route("/mint/hello", get(hello).layer(layer()));
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // One token bought for real.
    let url = format!("http://{addr}/paid/hello");
    let http = reqwest::Client::new();
    let resp = http.get(&url).send().await.unwrap();
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
        .get(&url)
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200);
    std::fs::write(dir.join("tokens-1"), format!("{credential}\n")).unwrap();

    // Sets of distinct tokens, minted as the layer mints them.
    let minter = Minter::new(keys.clone());
    for n in sets {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(dir.join(format!("tokens-{n}"))).unwrap(),
        );
        for _ in 0..n {
            let preimage = Preimage::random().unwrap();
            let caveats = [
                Caveat::resource("hello"),
                Caveat::amount_sats(1),
                Caveat::valid_until(l402::time::unix_now() + lifetime.as_secs()),
            ];
            let macaroon = minter.mint(preimage.payment_hash(), &caveats).unwrap();
            writeln!(out, "{}", Credential::new(macaroon, preimage)).unwrap();
        }
        out.flush().unwrap();
    }
    std::fs::write(dir.join("ready"), b"").unwrap();
    eprintln!("bench_server: ready on {addr}");
    std::future::pending::<()>().await;
}

//! Splits through two real `l402 serve` processes. Instance A runs the dev
//! node with `[splits]` on (its merchant wallet pays); instance B sells
//! through LNbits, pointed at A's dev node with the dev buyer wallet's
//! invoice key, and gives merchant `bob` a Lightning Address. A payment to
//! A's `POST /api/invoice` with `ownerAddress` = B's address, once verified,
//! is split on its own: B's address mints an invoice, A's worker pays it,
//! and B's wallet receives the owner's share once. Verifying again, and
//! restarting A, pay nothing more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::path::Path;
use std::time::{Duration, Instant};

use l402_lightning::{PayRequest, Wallet};
use serde_json::{Value, json};
use serve_support::{Server, dev_wallet, l402};

/// A's fixed port (H8's range, 52800-52899): B's backend URL must survive
/// A's restart.
const A_PORT: u16 = 52811;

/// `l402 serve <args>` on `listen`, once it has announced itself.
async fn serve_on(data: &Path, listen: &str, args: &[&str]) -> Server {
    serve_support::start_on(l402(data), listen, args).await
}

fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned()
}

async fn payouts(http: &reqwest::Client, base: &str, token: &str) -> Vec<Value> {
    let resp = http
        .get(format!("{base}/api/admin/payouts"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["payouts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_reaches_another_l402_serve_once_and_survives_a_restart() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (a_data, b_data) = (dir_a.path(), dir_b.path());
    let config_a = a_data.join("l402.toml");
    // 1% operator fee; http addresses (loopback test); quick retries.
    std::fs::write(
        &config_a,
        "[splits]\nenabled = true\nfee_bps = 100\nminimum_sats = 10\nallow_http = true\nretry_secs = 1\n",
    )
    .unwrap();
    let a_listen = format!("127.0.0.1:{A_PORT}");
    let a_args = ["--config", config_a.to_str().unwrap()];
    let a = serve_on(a_data, &a_listen, &a_args).await;
    let a_base = a.url();
    let buyer = dev_wallet(a_data);
    let wallet_file: Value =
        serde_json::from_slice(&std::fs::read(a_data.join("dev-wallet.json")).unwrap()).unwrap();

    // B: LNbits at A's dev node, receiving into the dev buyer wallet.
    let out = l402(b_data)
        .args(["merchant", "create", "bob"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bob: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = serve_on(
        b_data,
        "127.0.0.1:0",
        &[
            "--backend",
            "lnbits",
            "--lnbits-url",
            wallet_file["url"].as_str().unwrap(),
            "--lnbits-invoice-key",
            wallet_file["invoice_key"].as_str().unwrap(),
        ],
    )
    .await;
    let b_base = b.url();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!(
            "{b_base}/api/admin/merchants/{}/lightning-address",
            bob["id"]
        ))
        .bearer_auth(admin_token(b_data))
        .json(&json!({"username": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let address = resp.json::<Value>().await.unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(address.starts_with("bob@127.0.0.1:"), "{address}");

    // A sells 1000 sats with B's address as the owner; the buyer pays.
    let invoice: Value = http
        .post(format!("{a_base}/api/invoice"))
        .json(&json!({"amountSats": 1000, "ownerAddress": address}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paid = buyer
        .pay(&PayRequest::new(
            invoice["paymentRequest"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    let after_paying = buyer.balance_msat().await.unwrap();
    let token = format!(
        "{}:{}",
        invoice["macaroon"].as_str().unwrap(),
        paid.preimage.to_hex()
    );
    let verify = || {
        let (http, a_base, token) = (http.clone(), a_base.clone(), token.clone());
        async move {
            let v: Value = http
                .post(format!("{a_base}/api/verify"))
                .json(&json!({"token": token}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["valid"], true, "{v}");
        }
    };
    verify().await;

    // The split runs on its own: 990 sats (1000 minus 1%) reach B, once.
    let a_token = admin_token(a_data);
    let deadline = Instant::now() + Duration::from_secs(30);
    let payout = loop {
        let list = payouts(&http, &a_base, &a_token).await;
        if let Some(p) = list.iter().find(|p| p["state"] == "paid") {
            assert_eq!(list.len(), 1, "{list:#?}");
            break p.clone();
        }
        assert!(Instant::now() < deadline, "never paid: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(payout["amountSats"], 990, "{payout}");
    assert_eq!(
        payout["ownerAddress"].as_str(),
        Some(address.as_str()),
        "{payout}"
    );
    let received = buyer.balance_msat().await.unwrap() - after_paying;
    assert_eq!(received, 990_000, "B's wallet received the share once");

    // Verifying again credits nothing more.
    verify().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(payouts(&http, &a_base, &a_token).await.len(), 1);

    // A restarts on the same port and data: the paid payout stays paid,
    // nothing is paid again.
    a.stop().await;
    let a = serve_on(a_data, &a_listen, &a_args).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let list = payouts(&http, &a.url(), &a_token).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["state"], "paid", "{list:#?}");
    verify_after_restart(&http, &a.url(), &token).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(payouts(&http, &a.url(), &a_token).await.len(), 1);
    let buyer = dev_wallet(a_data);
    assert_eq!(
        buyer.balance_msat().await.unwrap() - after_paying,
        990_000,
        "nothing paid twice"
    );
    b.stop().await;
    a.stop().await;
}

async fn verify_after_restart(http: &reqwest::Client, base: &str, token: &str) {
    let v: Value = http
        .post(format!("{base}/api/verify"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["valid"], true, "{v}");
}

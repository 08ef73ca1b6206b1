//! LNURL-auth through the real `l402 serve` binary: a wallet (the secp256k1
//! crate) logs in, `l402 merchant link-key` links its key, and the session
//! reads the merchant's `/api/stats`; `/api/global-stats` is public.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use serde_json::Value;
use serve_support::{l402, start};

async fn get(http: &reqwest::Client, url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = http.get(url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_wallet_logs_in_to_l402_serve_and_reads_its_merchants_stats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let out = l402(data)
        .args(["merchant", "create", "dashboard"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = start(l402(data), &[]).await;
    let base = server.url();
    let http = reqwest::Client::new();

    let (status, issued) = get(&http, &format!("{base}/api/lnurl-auth"), None).await;
    assert_eq!(status, 200, "{issued}");
    let (_, bytes) = bitcoin::bech32::decode(issued["lnurl"].as_str().unwrap()).unwrap();
    let callback = String::from_utf8(bytes).unwrap();
    assert!(callback.starts_with(&format!("{base}/api/lnurl-auth?tag=login&k1=")));
    let k1 = issued["k1"].as_str().unwrap();
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x5a; 32]).unwrap();
    let digest: [u8; 32] = hex::decode(k1).unwrap().try_into().unwrap();
    let sig = hex::encode(
        secp.sign_ecdsa(&Message::from_digest(digest), &sk)
            .serialize_der(),
    );
    let key = hex::encode(PublicKey::from_secret_key(&secp, &sk).serialize());
    let (status, body) = get(&http, &format!("{callback}&sig={sig}&key={key}"), None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("OK")),
        "{body}"
    );
    let (_, polled) = get(&http, &format!("{base}/api/lnurl-auth?poll={k1}"), None).await;
    let token = polled["token"].as_str().unwrap().to_owned();

    let (status, body) = get(&http, &format!("{base}/api/stats"), Some(&token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("key_not_linked"))
    );
    let out = l402(data)
        .args(["merchant", "link-key", "1", &key.to_uppercase()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let linked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (linked["merchantId"].as_i64(), linked["key"].as_str()),
        (Some(1), Some(key.as_str()))
    );
    let bad = l402(data)
        .args(["merchant", "link-key", "1", "02abcd"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());

    let (status, body) = get(&http, &format!("{base}/api/stats"), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["merchantId"].as_i64(), body["totalPayments"].as_u64()),
        (Some(1), Some(0))
    );
    let (status, body) = get(&http, &format!("{base}/api/global-stats"), None).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(0)));
}

#[tokio::test]
async fn the_lnurl_callback_is_built_on_the_configured_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("l402.toml");
    std::fs::write(
        &config,
        "[producer]\npublic_url = \"https://pay.example.com/\"\n",
    )
    .unwrap();
    let server = start(l402(dir.path()), &["--config", config.to_str().unwrap()]).await;
    let http = reqwest::Client::new();
    let (status, issued) = get(&http, &format!("{}/api/lnurl-auth", server.url()), None).await;
    assert_eq!(status, 200, "{issued}");
    let (_, bytes) = bitcoin::bech32::decode(issued["lnurl"].as_str().unwrap()).unwrap();
    let callback = String::from_utf8(bytes).unwrap();
    assert!(
        callback.starts_with("https://pay.example.com/api/lnurl-auth?tag=login&k1="),
        "{callback}"
    );
    server.stop().await;
}

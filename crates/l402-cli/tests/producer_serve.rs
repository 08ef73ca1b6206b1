//! The producer API in the real `l402 serve` binary: merchants and keys from
//! `l402 merchant`, restarts that lose nothing, and two processes sharing one
//! PostgreSQL and one server secret (`L402_TEST_DATABASE_URL`; without it the
//! PostgreSQL test prints how to enable it and passes, unless
//! `L402_REQUIRE_POSTGRES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

#[path = "../../l402-store/tests/pg_support/mod.rs"]
mod pg_support;
mod serve_support;

use l402_lightning::{PayRequest, Wallet};
use pg_support::{DropSchema, pg_url, unique_schema};
use serde_json::{Value, json};
use serve_support::{dev_wallet, l402, start};
use tokio::process::Command;

const SECRET: &str = "5f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
const ADMIN: &str = "shared-admin-token-for-tests";

async fn cli(mut cmd: Command, args: &[&str]) -> Value {
    let out = cmd.arg("merchant").args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "l402 merchant {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = http
        .post(url)
        .header("X-Api-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn admin_stats(http: &reqwest::Client, base: &str, token: &str) -> Value {
    let resp = http
        .get(format!("{base}/api/admin/stats"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn merchant_cli_then_serve_then_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let m = cli(l402(data), &["create", "weather shop"]).await;
    assert_eq!(m["id"], 1);
    let k = cli(l402(data), &["key", "create", "1", "--label", "prod"]).await;
    let key = k["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("l402k_"));
    let listed = cli(l402(data), &["key", "list", "1"]).await;
    assert_eq!(listed["keys"][0]["id"], k["id"]);
    assert!(
        !listed.to_string().contains(&key),
        "listing never shows the key"
    );

    let server = start(l402(data), &[]).await;
    assert_eq!(server.info["producer"]["store"], "sqlite");
    let token_file = server.info["producer"]["admin_token_file"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    let base = server.url();
    let http = reqwest::Client::new();
    let (status, c) = post(
        &http,
        &format!("{base}/api/l402/challenges"),
        &key,
        json!({"resource": "/api/forecast", "priceSats": 25}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    let paid = dev_wallet(data)
        .pay(&PayRequest::new(c["invoice"].as_str().unwrap()))
        .await
        .unwrap();
    let verify = json!({"macaroon": c["macaroon"], "preimage": paid.preimage.to_hex(), "resource": "/api/forecast", "amountSats": 25});
    let (status, v) = post(
        &http,
        &format!("{base}/api/l402/challenges/verify"),
        &key,
        verify.clone(),
    )
    .await;
    assert_eq!((status, v["valid"].clone()), (200, json!(true)), "{v}");

    // The demo route, sold by the L402 layer: its challenge and payment are
    // recorded too (merchant 0, this server's own sales).
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    let resp = http.get(&demo).send().await.unwrap();
    assert_eq!(resp.status(), 402);
    assert!(resp.headers().get("www-authenticate").is_some());
    let body: Value = resp.json().await.unwrap();
    let demo_paid = dev_wallet(data)
        .pay(&PayRequest::new(body["l402"]["invoice"].as_str().unwrap()))
        .await
        .unwrap();
    let auth = format!(
        "L402 {}:{}",
        body["l402"]["macaroon"].as_str().unwrap(),
        demo_paid.preimage.to_hex()
    );
    let resp = http
        .get(&demo)
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let stats = admin_stats(&http, &base, &admin).await;
    let own = stats["byMerchant"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["merchantId"] == 0)
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(own["challenges"], 1, "{stats}");
    assert_eq!(own["payments"], 1, "{stats}");
    assert_eq!(own["paidSats"], 21, "{stats}");
    server.stop().await;

    // Restart: merchants, keys, challenges, payments and counts are all there,
    // and the token still verifies.
    let server = start(l402(data), &[]).await;
    let base = server.url();
    let (_, v) = post(
        &http,
        &format!("{base}/api/l402/challenges/verify"),
        &key,
        verify.clone(),
    )
    .await;
    assert_eq!(v["valid"], true);
    let stats = admin_stats(&http, &base, &admin).await;
    assert_eq!(stats["totals"]["challenges"], 2, "{stats}");
    assert_eq!(stats["totals"]["payments"], 2);
    assert_eq!(stats["totals"]["paidSats"], 25 + 21);
    assert_eq!(stats["totals"]["verifications"]["valid"], 2);
    let merchants = cli(l402(data), &["list"]).await;
    assert_eq!(merchants["merchants"][0]["name"], "weather shop");

    // Revoked from the command line while the server runs: refused within the key cache's 5 s.
    cli(
        l402(data),
        &["key", "revoke", "1", k["id"].as_str().unwrap()],
    )
    .await;
    let mut refused = false;
    for _ in 0..70 {
        let (status, _) = post(
            &http,
            &format!("{base}/api/l402/challenges/verify"),
            &key,
            verify.clone(),
        )
        .await;
        if status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "a revoked key still works");
    server.stop().await;

    // Bad command-line input fails with a message.
    let out = l402(data)
        .args(["merchant", "key", "create", "99"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("merchant 99"));
}

#[tokio::test]
async fn two_instances_share_postgres_and_the_secret() {
    let Some(url) = pg_url() else { return };
    let schema = unique_schema("two");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let shared = |dir: &Path| {
        let mut cmd = l402(dir);
        cmd.env("L402_DATABASE_URL", &url)
            .env("L402_DATABASE_SCHEMA", &schema)
            .env("L402_SERVER_SECRET", SECRET)
            .env("L402_ADMIN_TOKEN", ADMIN);
        cmd
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both start at once: migrations are serialized by the database.
    let (a, b) = tokio::join!(
        start(shared(dir_a.path()), &[]),
        start(shared(dir_b.path()), &[])
    );
    assert_eq!(a.info["producer"]["store"], "postgres");
    let (base_a, base_b) = (a.url(), b.url());
    let http = reqwest::Client::new();

    let m = cli(shared(dir_a.path()), &["create", "shared"]).await;
    let id = m["id"].as_i64().unwrap();
    let k = cli(shared(dir_b.path()), &["key", "create", &id.to_string()]).await;
    let key = k["key"].as_str().unwrap().to_owned();

    // Minted by A, paid through A's node, verified by B.
    let (status, c) = post(
        &http,
        &format!("{base_a}/api/l402/challenges"),
        &key,
        json!({"resource": "/shared", "priceSats": 7}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    let paid = dev_wallet(dir_a.path())
        .pay(&PayRequest::new(c["invoice"].as_str().unwrap()))
        .await
        .unwrap();
    let verify = json!({"macaroon": c["macaroon"], "preimage": paid.preimage.to_hex(), "resource": "/shared", "amountSats": 7});
    let (_, v) = post(
        &http,
        &format!("{base_b}/api/l402/challenges/verify"),
        &key,
        verify.clone(),
    )
    .await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["merchantId"], id);
    let (_, v) = post(
        &http,
        &format!("{base_a}/api/l402/challenges/verify"),
        &key,
        verify,
    )
    .await;
    assert_eq!(v["valid"], true, "{v}");

    // Idempotency across both: by address (same resource and price) ...
    let (_, again) = post(
        &http,
        &format!("{base_b}/api/l402/challenges"),
        &key,
        json!({"resource": "/shared", "priceSats": 7}),
    )
    .await;
    assert_eq!(again["paymentHash"], c["paymentHash"]);
    // ... and by X-Idempotency-Key, also when both are asked at once.
    let create = |base: String| {
        let http = http.clone();
        let key = key.clone();
        async move {
            let resp = http
                .post(format!("{base}/api/l402/challenges"))
                .header("X-API-Key", key)
                .header("X-Idempotency-Key", "order-42")
                .json(&json!({"resource": "/other", "priceSats": 3}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()["paymentHash"].clone()
        }
    };
    let (x, y) = tokio::join!(create(base_a.clone()), create(base_b.clone()));
    assert_eq!(x, y);

    // Stats count both instances (counts are flushed every second).
    let mut stats = Value::Null;
    for _ in 0..50 {
        stats = admin_stats(&http, &base_b, ADMIN).await;
        if stats["totals"]["verifications"]["valid"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stats["totals"]["verifications"]["valid"], 2, "{stats}");
    assert_eq!(stats["totals"]["challenges"], 2, "{stats}");
    assert_eq!(stats["totals"]["payments"], 1, "{stats}");
    let from_a = admin_stats(&http, &base_a, ADMIN).await;
    assert_eq!(from_a["totals"], stats["totals"]);

    a.stop().await;
    b.stop().await;
    // Restart one: nothing lost.
    let a = start(shared(dir_a.path()), &[]).await;
    let stats = admin_stats(&http, &a.url(), ADMIN).await;
    assert_eq!(stats["totals"]["challenges"], 2);
    assert_eq!(stats["totals"]["payments"], 1);
    a.stop().await;
}

/// `POST /api/invoice` (limited to 1 a minute per client) from 127.0.0.1
/// with `X-Forwarded-For: <client>`: its status.
async fn invoice_for(http: &reqwest::Client, base: &str, client: &str) -> u16 {
    http.post(format!("{base}/api/invoice"))
        .header("X-Forwarded-For", client)
        .json(&json!({"amountSats": 1}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn trusted_proxies_from_the_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let http = reqwest::Client::new();
    let config = data.join("serve.toml");
    let write = |producer: &str| {
        std::fs::write(
            &config,
            format!("[producer]\nrate_limit_per_minute = 1\n{producer}\n"),
        )
        .unwrap();
    };
    let cfg = config.to_str().unwrap().to_owned();

    // This host is a trusted proxy: each forwarded client has its own limit.
    write("trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1\"]");
    let s = start(l402(data), &["--no-demo", "-c", &cfg]).await;
    assert_eq!(invoice_for(&http, &s.url(), "203.0.113.5").await, 200);
    assert_eq!(invoice_for(&http, &s.url(), "203.0.113.5").await, 429);
    assert_eq!(invoice_for(&http, &s.url(), "203.0.113.6").await, 200);
    s.stop().await;

    // The environment overrides the file: 127.0.0.1 is no longer trusted,
    // so X-Forwarded-For is ignored and both requests are this host's.
    let mut cmd = l402(data);
    cmd.env("L402_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.1");
    let s = start(cmd, &["--no-demo", "-c", &cfg]).await;
    assert_eq!(invoice_for(&http, &s.url(), "203.0.113.7").await, 200);
    assert_eq!(invoice_for(&http, &s.url(), "203.0.113.8").await, 429);
    s.stop().await;

    // The old key still works (this host's proxies), with a deprecation note.
    write("trust_forwarded_for = true");
    let (s, stderr) =
        serve_support::start_capturing_stderr(l402(data), &["--no-demo", "-c", &cfg]).await;
    assert_eq!(invoice_for(&http, &s.url(), "203.0.113.9").await, 200);
    assert_eq!(invoice_for(&http, &s.url(), "203.0.113.10").await, 200);
    s.stop().await;
    let stderr = stderr.await.unwrap();
    assert!(
        stderr.contains("producer.trust_forwarded_for is deprecated")
            && stderr.contains("trusted_proxies"),
        "{stderr}"
    );

    // Bad values: exit 2, naming the file or variable, the key and the reason.
    for (file, env, source) in [
        ("trusted_proxies = [\"10.0.0.0/33\"]", None, "serve.toml"),
        ("trusted_proxies = [\"proxy.local\"]", None, "serve.toml"),
        ("trusted_proxies = \"10.0.0.1,\"", None, "serve.toml"),
        (
            "trusted_proxies = [\"10.0.0.1\"]\ntrust_forwarded_for = true",
            None,
            "serve.toml",
        ),
        ("", Some("10.0.0.1,nonsense"), "L402_TRUSTED_PROXIES"),
    ] {
        write(file);
        let mut cmd = l402(data);
        if let Some(env) = env {
            cmd.env("L402_TRUSTED_PROXIES", env);
        }
        let out = cmd
            .args(["serve", "--no-demo", "--listen", "127.0.0.1:0", "-c", &cfg])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file} {env:?}: {stderr}");
        assert!(
            stderr.contains(source) && stderr.contains("producer.trusted_proxies"),
            "{file} {env:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }

    // Documented in --help.
    let out = l402(data).args(["serve", "--help"]).output().await.unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("trusted_proxies") && help.contains("L402_TRUSTED_PROXIES"),
        "{help}"
    );
}

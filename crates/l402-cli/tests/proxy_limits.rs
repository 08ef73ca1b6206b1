//! `l402 serve`'s proxy limits, the real binary over real HTTP in front of
//! a real upstream: rate limits per token and per client network (429 +
//! `Retry-After`, gRPC clients `grpc-status: 8`), a realm whose token,
//! paid once, opens its other services and no service outside it, and
//! freebies and rate limits shared by two instances on one PostgreSQL
//! (`L402_TEST_DATABASE_URL`; without it that test says so and passes,
//! unless `L402_REQUIRE_POSTGRES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
#[path = "../../l402-store/tests/pg_support/mod.rs"]
mod pg_support;
mod proxy_support;
mod serve_support;

use std::path::Path;

use l402_lightning::Wallet;
use pg_support::{DropSchema, pg_url, unique_schema};
use proxy_support::{Upstream, upstream};
use serde_json::Value;
use serve_support::{Server, dev_wallet, l402, refused_start, start};

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn write_config(dir: &Path, services: &str) -> String {
    let text = format!("[demo]\nenabled = false\n{services}");
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `l402 --json get <url>` from `dir` (its dev wallet pays): the status.
async fn buy(dir: &Path, url: &str) -> Value {
    let run = get_support::get_json(dir, &[url], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.json
}

/// The `Authorization` value of the token `l402 get` stored for `url`.
async fn bought_credential(dir: &Path, url: &str) -> String {
    let run = get_support::run_json(dir, &["token", "export", url], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.json["authorization"].as_str().unwrap().to_owned()
}

/// A data directory, a real upstream and `l402 serve` in front of it with
/// `services` (TOML, where `{addr}` stands for the upstream's address).
async fn serve(services: &str) -> (tempfile::TempDir, Upstream, Server) {
    let dir = tempfile::tempdir().unwrap();
    let up = upstream().await;
    let services = services.replace("{addr}", &up.addr.to_string());
    let file = write_config(dir.path(), &services);
    let server = start(l402(dir.path()), &["--config", &file]).await;
    (dir, up, server)
}

/// `GET url`, with `credential` as its `Authorization` if there is one.
async fn get(http: &reqwest::Client, url: &str, credential: Option<&str>) -> reqwest::Response {
    let mut req = http.get(url);
    if let Some(c) = credential {
        req = req.header("authorization", c);
    }
    req.send().await.unwrap()
}

async fn status(http: &reqwest::Client, url: &str, credential: Option<&str>) -> u16 {
    get(http, url, credential).await.status().as_u16()
}

/// A 429's `Retry-After` (seconds) and its JSON `code`.
async fn refused(http: &reqwest::Client, url: &str, credential: Option<&str>) -> (u64, String) {
    let resp = get(http, url, credential).await;
    assert_eq!(resp.status(), 429, "{url}");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    (retry, body["code"].as_str().unwrap().to_owned())
}

async fn buyer_sats(dir: &Path) -> u64 {
    dev_wallet(dir).balance_msat().await.unwrap() / 1000
}

#[tokio::test]
async fn rate_limits_per_token_and_per_network() {
    let (dir, _up, server) = serve(
        r#"
[[services]]
name = "metered"
pathregexp = "^/metered"
address = "{addr}"
price_sats = 2
rate_limits = [{ per = "token", requests = 3, per_secs = 600 }]

[[services]]
name = "crowded"
pathregexp = "^/crowded"
address = "{addr}"
auth = "off"
rate_limits = [{ per = "network", requests = 1, per_secs = 3600, burst = 2 }]
"#,
    )
    .await;
    let base = server.url();
    let http = reqwest::Client::new();

    // Per token: the paid request is the first of three.
    let url = format!("{base}/metered/x");
    let paid = buy(dir.path(), &url).await;
    assert_eq!(paid["status"], 200, "{paid}");
    let credential = bought_credential(dir.path(), &url).await;
    for _ in 0..2 {
        assert_eq!(status(&http, &url, Some(&credential)).await, 200);
    }
    let (retry, code) = refused(&http, &url, Some(&credential)).await;
    assert_eq!(code, "rate_limited");
    // 3 per 600 s: the next one in 200 s.
    assert!((190..=200).contains(&retry), "{retry}");
    // A gRPC client hears RESOURCE_EXHAUSTED.
    let resp = http
        .post(&url)
        .header("content-type", "application/grpc")
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["grpc-status"], "8");
    assert!(resp.headers().contains_key("retry-after"));
    // Without a token: a challenge, as usual (the limit counts tokens).
    assert_eq!(status(&http, &url, None).await, 402);

    // Per network: a burst of two from 127.0.0.0/24, then an hour apart.
    let crowded = format!("{base}/crowded/y");
    for _ in 0..2 {
        assert_eq!(status(&http, &crowded, None).await, 200);
    }
    let (retry, code) = refused(&http, &crowded, None).await;
    assert_eq!(code, "rate_limited");
    assert!((3590..=3600).contains(&retry), "{retry}");
    server.stop().await;
}

#[tokio::test]
async fn a_realm_token_opens_its_realm_and_nothing_else() {
    let (dir, _up, server) = serve(
        r#"
[[services]]
name = "search"
pathregexp = "^/search"
address = "{addr}"
price_sats = 7
realm = "research"

[[services]]
name = "papers"
pathregexp = "^/papers"
address = "{addr}"
price_sats = 7
realm = "research"

[[services]]
name = "market"
pathregexp = "^/market"
address = "{addr}"
price_sats = 7
"#,
    )
    .await;
    let base = server.url();
    let http = reqwest::Client::new();

    let before = buyer_sats(dir.path()).await;
    let search = format!("{base}/search/q");
    let paid = buy(dir.path(), &search).await;
    assert_eq!(paid["status"], 200, "{paid}");
    let credential = bought_credential(dir.path(), &search).await;
    assert_eq!(buyer_sats(dir.path()).await, before - 7, "paid once");

    // The same token on the realm's other service: no second payment.
    let resp = http
        .get(format!("{base}/papers/1"))
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["path"], "/papers/1");
    assert_eq!(
        status(&http, &format!("{base}/search/again"), Some(&credential)).await,
        200
    );
    // Outside the realm: refused, a fresh challenge.
    assert_eq!(
        status(&http, &format!("{base}/market/x"), Some(&credential)).await,
        402
    );
    assert_eq!(buyer_sats(dir.path()).await, before - 7, "still paid once");
    // A token bought outside the realm does not open it either.
    let market = format!("{base}/market/y");
    buy(dir.path(), &market).await;
    let other = bought_credential(dir.path(), &market).await;
    assert_eq!(
        status(&http, &format!("{base}/papers/2"), Some(&other)).await,
        402
    );
    server.stop().await;
}

#[tokio::test]
async fn a_realm_with_two_prices_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        r#"
[[services]]
name = "a"
address = "127.0.0.1:1"
price_sats = 5
realm = "r"

[[services]]
name = "b"
address = "127.0.0.1:1"
price_sats = 6
realm = "r"
"#,
    );
    let stderr = refused_start(l402(dir.path()), &["--config", &file]).await;
    assert!(
        stderr.contains("services[1].realm") && stderr.contains("one price"),
        "{stderr}"
    );
}

#[tokio::test]
async fn freebies_and_rate_limits_are_shared_by_two_instances_on_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = unique_schema("limits");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let http_up = upstream().await;
    let addr = http_up.addr;
    let services = format!(
        r#"
[[services]]
name = "gift"
pathregexp = "^/gift"
address = "{addr}"
price_sats = 2
auth = "freebie 3"

[[services]]
name = "metered"
pathregexp = "^/metered"
address = "{addr}"
price_sats = 2
rate_limits = [{{ per = "token", requests = 3, per_secs = 600 }}]

[[services]]
name = "crowded"
pathregexp = "^/crowded"
address = "{addr}"
auth = "off"
rate_limits = [{{ per = "network", requests = 2, per_secs = 3600 }}]
"#
    );
    let shared = |dir: &Path| {
        let file = write_config(dir, &services);
        let mut cmd = l402(dir);
        cmd.env("L402_DATABASE_URL", &url)
            .env("L402_DATABASE_SCHEMA", &schema)
            .env("L402_SERVER_SECRET", SECRET);
        (cmd, file)
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((cmd_a, file_a), (cmd_b, file_b)) = (shared(dir_a.path()), shared(dir_b.path()));
    let (args_a, args_b) = (["--config", file_a.as_str()], ["--config", file_b.as_str()]);
    let (a, b) = tokio::join!(start(cmd_a, &args_a), start(cmd_b, &args_b));
    let (base_a, base_b) = (a.url(), b.url());
    let http = reqwest::Client::new();

    // freebie 3 for 127.0.0.0/24, across both: two on A, one on B, then
    // each instance sells.
    for base in [&base_a, &base_b, &base_a] {
        assert_eq!(status(&http, &format!("{base}/gift/x"), None).await, 200);
    }
    assert_eq!(status(&http, &format!("{base_b}/gift/x"), None).await, 402);
    assert_eq!(status(&http, &format!("{base_a}/gift/x"), None).await, 402);

    // 3 per token, across both: bought (and used once) on A, used on B and
    // A, then refused by each.
    let on_a = format!("{base_a}/metered/x");
    let paid = buy(dir_a.path(), &on_a).await;
    assert_eq!(paid["status"], 200, "{paid}");
    let credential = bought_credential(dir_a.path(), &on_a).await;
    let on_b = format!("{base_b}/metered/x");
    assert_eq!(status(&http, &on_b, Some(&credential)).await, 200);
    assert_eq!(status(&http, &on_a, Some(&credential)).await, 200);
    let (retry, code) = refused(&http, &on_b, Some(&credential)).await;
    assert_eq!(code, "rate_limited");
    assert!((190..=200).contains(&retry), "{retry}");
    refused(&http, &on_a, Some(&credential)).await;

    // 2 per network, across both.
    assert_eq!(
        status(&http, &format!("{base_a}/crowded/1"), None).await,
        200
    );
    assert_eq!(
        status(&http, &format!("{base_b}/crowded/2"), None).await,
        200
    );
    refused(&http, &format!("{base_a}/crowded/3"), None).await;
    refused(&http, &format!("{base_b}/crowded/4"), None).await;

    a.stop().await;
    b.stop().await;
}

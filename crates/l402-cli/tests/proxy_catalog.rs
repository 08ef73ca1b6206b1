//! The proxy's service set as others see it, against the real `l402 serve`
//! binary over real HTTP: services added at runtime (admin API, a
//! merchant's `POST /api/proxy`) appear in `/.well-known/l402.json` and
//! leave it when deleted; a path with a `.` or `..` segment (raw or
//! `%2e`-encoded) under a merchant's mount or a rewrite prefix is refused
//! with 400 `bad_path` and never reaches the upstream; two instances on
//! one PostgreSQL (`L402_TEST_DATABASE_URL`; without it that test says so
//! and passes, unless `L402_REQUIRE_POSTGRES=1`): a service added through
//! one answers on the other within the poll interval, without SIGHUP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../l402-store/tests/pg_support/mod.rs"]
mod pg_support;
mod proxy_support;
mod serve_support;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use pg_support::{DropSchema, pg_url, unique_schema};
use proxy_support::upstream;
use serve_support::{Server, l402, start};

fn admin_token(server: &Server) -> String {
    let file = server.info["producer"]["admin_token_file"]
        .as_str()
        .unwrap();
    std::fs::read_to_string(file).unwrap().trim().to_owned()
}

async fn discovery(base: &str) -> Value {
    let resp = reqwest::get(format!("{base}/.well-known/l402.json"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The entry of `service` in the discovery document, if listed.
fn listed(doc: &Value, service: &str) -> Option<Value> {
    let endpoints = doc["endpoints"].as_array().expect("endpoints");
    endpoints.iter().find(|e| e["service"] == service).cloned()
}

/// `GET <path>` sent as written (no client-side normalisation of `..`):
/// the status and the body.
async fn raw_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn config(dir: &std::path::Path, upstream: std::net::SocketAddr) -> String {
    let path = dir.join("l402.toml");
    let text = format!(
        r#"
[demo]
enabled = false
[proxy]
allow_private_upstreams = true
[[services]]
name = "fixed"
pathregexp = "^/fixed"
address = "{upstream}"
price_sats = 2
rewrite = {{ prefix = "/base" }}
"#
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn runtime_services_are_discovered_and_dot_segments_refused() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path(), up.addr);
    let server = start(l402(dir.path()), &["--config", &file]).await;
    let base = server.url();
    let addr = base.trim_start_matches("http://").to_owned();
    let token = admin_token(&server);
    let http = reqwest::Client::new();

    let doc = discovery(&base).await;
    assert!(listed(&doc, "fixed").is_some(), "{doc}");
    assert!(listed(&doc, "added").is_none(), "{doc}");

    // Added through the admin API: listed at once; deleted: gone.
    let resp = http
        .post(format!("{base}/api/admin/services"))
        .bearer_auth(&token)
        .json(&json!({"name": "added", "pathregexp": "^/added/v1", "address": up.addr.to_string(), "price_sats": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let doc = discovery(&base).await;
    let added = listed(&doc, "added").unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(added["path"], "/added/v1", "{added}");
    assert_eq!(added["price_sats"], 3, "{added}");

    // A merchant's proxy: listed under its mount.
    let resp = http
        .post(format!("{base}/api/admin/merchants"))
        .bearer_auth(&token)
        .json(&json!({"name": "m"}))
        .send()
        .await
        .unwrap();
    let m: Value = resp.json().await.unwrap();
    let id = m["id"].as_i64().unwrap();
    let k: Value = http
        .post(format!("{base}/api/admin/merchants/{id}/keys"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = k["key"].as_str().unwrap();
    let resp = http
        .post(format!("{base}/api/proxy"))
        .header("x-api-key", key)
        .json(&json!({"name": "Weather", "targetBaseUrl": format!("http://{}/v1", up.addr), "defaultPriceSats": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let proxy_id = created["proxyId"].as_str().unwrap().to_owned();
    let doc = discovery(&base).await;
    let mounted = listed(&doc, &proxy_id).unwrap_or_else(|| panic!("{doc}"));
    assert!(
        mounted["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/l402/proxy/{proxy_id}")),
        "{mounted}"
    );
    assert_eq!(mounted["price_sats"], 4, "{mounted}");

    // Dot segments under the mount or the rewrite prefix: 400 bad_path.
    for path in [
        format!("/l402/proxy/{proxy_id}/../../admin"),
        format!("/l402/proxy/{proxy_id}/%2e%2e/admin"),
        format!("/l402/proxy/{proxy_id}/x/.%2E/y"),
        "/fixed/../../etc/passwd".to_owned(),
        "/fixed/%2e%2e%2fsecret".to_owned(),
    ] {
        let (status, body) = raw_get(&addr, &path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("\"bad_path\""), "{path}: {body}");
    }
    // A plain path under the mount is sold as usual.
    let (status, _) = raw_get(&addr, &format!("/l402/proxy/{proxy_id}/forecast")).await;
    assert_eq!(status, 402);

    let resp = http
        .delete(format!("{base}/api/admin/services/added"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let doc = discovery(&base).await;
    assert!(listed(&doc, "added").is_none(), "{doc}");
    server.stop().await;
}

#[tokio::test]
async fn a_service_added_on_one_instance_answers_on_the_other() {
    let Some(url) = pg_url() else { return };
    let schema = unique_schema("catalog");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let up = upstream().await;
    let instance = |dir: &std::path::Path| {
        let file = dir.join("l402.toml");
        std::fs::write(&file, "[demo]\nenabled = false\n").unwrap();
        let mut cmd = l402(dir);
        cmd.env("L402_DATABASE_URL", &url)
            .env("L402_DATABASE_SCHEMA", &schema)
            .env("L402_PROXY_POLL_SECS", "1")
            .env(
                "L402_SERVER_SECRET",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            );
        (cmd, file.display().to_string())
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((cmd_a, file_a), (cmd_b, file_b)) = (instance(dir_a.path()), instance(dir_b.path()));
    let a = start(cmd_a, &["--config", &file_a]).await;
    let b = start(cmd_b, &["--config", &file_b]).await;
    let (base_a, base_b) = (a.url(), b.url());
    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("{base_b}/shared/x")).await, 404);

    let resp = http
        .post(format!("{base_a}/api/admin/services"))
        .bearer_auth(admin_token(&a))
        .json(&json!({"name": "shared", "pathregexp": "^/shared", "address": up.addr.to_string(), "price_sats": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    assert_eq!(status(format!("{base_a}/shared/x")).await, 402);
    // B polls every second: sold there within a few, listed too.
    let started = std::time::Instant::now();
    while status(format!("{base_b}/shared/x")).await != 402 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the service added on A never reached B"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let doc = discovery(&base_b).await;
    assert!(listed(&doc, "shared").is_some(), "{doc}");

    // Deleted on A: gone from B too.
    let resp = http
        .delete(format!("{base_a}/api/admin/services/shared"))
        .bearer_auth(admin_token(&a))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let started = std::time::Instant::now();
    while status(format!("{base_b}/shared/x")).await != 404 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the service deleted on A still answers on B"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}

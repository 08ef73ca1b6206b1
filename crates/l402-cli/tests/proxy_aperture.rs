//! `l402 serve --aperture-config`: an Aperture `sample-conf.yaml`-style
//! file (its top-level settings, three services: one plain, one https, one
//! with a dynamic price) is read; the server says which keys it does not
//! support or honours differently, and the plain service is proxied and
//! paid for with `l402 get`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod proxy_support;
mod serve_support;

use serve_support::{l402, start_capturing_stderr};

#[tokio::test]
async fn an_aperture_config_is_read_and_its_unsupported_keys_named() {
    let upstream = proxy_support::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.bin"), [0xca, 0xfe]).unwrap();
    let yaml = format!(
        r#"
listenaddr: "localhost:8081"
staticroot: "./static"
servestatic: false
debuglevel: "debug"
insecure: true
authenticator:
  network: "regtest"
  lndhost: "localhost:10009"
dbbackend: "sqlite"
sqlite:
  dbfile: "/path/to/.aperture/aperture.db"

services:
  - name: "service1"
    hostregexp: '^127\.0\.0\.1(:[0-9]+)?$'
    pathregexp: '^/api/.*$'
    address: "{addr}"
    protocol: http
    headers:
      X-Macaroon: "!file+hex:key.bin"
    rewrite:
      prefix: "/base"
    capabilities: "add,subtract"
    constraints:
        "valid_until": 1682483169
    timeout: 31557600
    price: 0
    authwhitelistpaths:
      - '^/api/free.*$'
    authskipinvoicecreationpaths:
      - '^/api/stream.*$'
    ratelimits:
      - pathregexp: '^/api/.*$'
        requests: 5
        per: 1s
        burst: 100
      - pathregexp: '^/api/free.*$'
        requests: 1
        per: 1s

  - name: "service2"
    hostregexp: "service2.com:8083"
    pathregexp: '^/.*$'
    address: "127.0.0.1:1"
    protocol: https
    price: 1

  - name: "service3"
    hostregexp: "service3.com:8083"
    address: "127.0.0.1:2"
    protocol: http
    dynamicprice:
      enabled: true
      grpcaddress: 127.0.0.1:10010

prometheus:
  enabled: true
  listenaddr: "localhost:9000"
"#,
        addr = upstream.addr
    );
    let file = dir.path().join("aperture.yaml");
    std::fs::write(&file, yaml).unwrap();
    let (server, stderr) = start_capturing_stderr(
        l402(dir.path()),
        &["--no-demo", "--aperture-config", file.to_str().unwrap()],
    )
    .await;
    let services = server.info["services"].as_array().unwrap();
    assert_eq!(services.len(), 3, "{}", server.info);
    assert_eq!(services[0]["name"], "service1");
    // An https upstream (verified, unlike Aperture), a dynamic price (an
    // HTTP pricer where Aperture's gRPC one was).
    assert_eq!(services[1]["protocol"], "https");
    assert_eq!(services[2]["pricer"], "http://127.0.0.1:10010/price");
    // Aperture: a price of 0 is 1 sat.
    assert_eq!(services[0]["price_sats"], 1);

    let base = server.url();
    let http = reqwest::Client::new();
    let resp = http.get(format!("{base}/api/free/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http.get(format!("{base}/api/stream")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http.get(format!("{base}/other")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // No HTTP pricer answers at service3's address: 503, nothing minted.
    let resp = http
        .get(format!("{base}/x"))
        .header("host", "service3.com:8083")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "pricer_unavailable", "{body}");

    let url = format!("{base}/api/data");
    let paid = get_support::get_json(dir.path(), &[&url], &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    assert_eq!(paid.json["receipt"]["amount_msat"], 1_000);
    let seen = &paid.json["body_json"];
    assert_eq!(seen["path"], "/base/api/data");
    assert_eq!(seen["headers"]["x-macaroon"][0], "cafe");

    server.stop().await;
    let stderr = stderr.await.unwrap();
    for note in [
        "listenaddr, staticroot, servestatic, debuglevel, insecure, authenticator, dbbackend, sqlite, prometheus: not read",
        "services[0].constraints: not written into tokens",
        "services[0].ratelimits[1].pathregexp: \"^/api/free.*$\": l402's rate limits apply to the whole service (no per-path form)",
        "services[1].protocol: the upstream's certificate is verified against the system's roots (Aperture skips verification)",
        "services[2].dynamicprice: Aperture's pricer speaks gRPC",
    ] {
        assert!(stderr.contains(note), "{note:?} not in:\n{stderr}");
    }
    // The limit on the service's own paths is taken (per token and per
    // network): no note for it.
    assert!(!stderr.contains("ratelimits[0]"), "{stderr}");
}

#[tokio::test]
async fn a_bad_aperture_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aperture.yaml");
    std::fs::write(
        &file,
        "services:\n  - name: a\n    address: 127.0.0.1:1\n    pathregexp: '('\n",
    )
    .unwrap();
    let out = l402(dir.path())
        .args(["serve", "--aperture-config", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("services[0].pathregexp"), "{stderr}");
}

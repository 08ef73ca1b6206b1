//! What `l402 serve` says about its `[[services]]`, the real binary over
//! real HTTP in front of a real upstream: `/metrics` has the upstream
//! latency of each service and its requests by outcome (labelled with the
//! service's name, never a path or a token) after a purchase with the real
//! `l402 get`, and `promtool check metrics` still passes; the discovery
//! document lists the services that sell (name, path pattern, price,
//! description); and with `[remote]` the services are sold through the
//! remote producer (paid with `l402 get`, the revenue at the producer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod metrics_support;
mod proxy_support;
mod serve_support;

use std::path::Path;
use std::time::Duration;

use metrics_support::{promtool_accepts, sample};
use serde_json::Value;
use serve_support::{Server, l402, refused_start, start};

const ADMIN_TOKEN: &str = "a-proxy-metrics-admin-token";

fn services(upstream: std::net::SocketAddr) -> String {
    format!(
        r#"
[[services]]
name = "weather"
description = "Weather reports, proxied"
pathregexp = "^/weather/.*"
address = "{upstream}"
price_sats = 3

[[services]]
name = "open"
pathregexp = "^/open"
address = "{upstream}"
auth = "off"
"#
    )
}

/// `dir/name`: no demo, `head`, then [`services`] in front of `upstream`.
fn write_config(
    dir: &Path,
    name: &str,
    head: &str,
    upstream: std::net::SocketAddr,
) -> std::path::PathBuf {
    let config = dir.join(name);
    let text = format!("[demo]\nenabled = false\n{head}{}", services(upstream));
    std::fs::write(&config, text).unwrap();
    config
}

async fn scrape(base: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn proxied_requests_show_upstream_latency_and_outcomes_by_service() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = proxy_support::upstream().await;
    let metrics = "[metrics]\nenabled = true\n";
    let config = write_config(dir.path(), "serve.toml", metrics, upstream.addr);
    let mut cmd = l402(dir.path());
    cmd.env("L402_ADMIN_TOKEN", ADMIN_TOKEN);
    let server: Server = start(cmd, &["--config", config.to_str().unwrap()]).await;
    let base = server.url();

    // Nothing proxied yet: no upstream series for the service.
    let before = scrape(&base).await;
    assert_eq!(
        sample(
            &before,
            r#"l402_upstream_request_duration_seconds_count{service="weather"}"#
        ),
        None,
        "{before}"
    );

    // Bought with l402 get (a 402, then the paid retry), then reused; and
    // two requests to the free service.
    let url = format!("{base}/weather/today?city=Oslo");
    for expected in ["paid", "cached"] {
        let run = get_support::get_json(dir.path(), &[&url], &[]).await;
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.json["token"], expected, "{}", run.json);
    }
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client.get(format!("{base}/open/x")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Refused before the upstream: a forged credential.
    let forged = client
        .get(&url)
        .header("authorization", "L402 garbage:00")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let text = scrape(&base).await;
    let upstream_count = |service: &str| {
        sample(
            &text,
            &format!(r#"l402_upstream_request_duration_seconds_count{{service="{service}"}}"#),
        )
    };
    // Two paid requests reached the weather upstream, two the open one;
    // the 402 and the 401 never did.
    assert_eq!(upstream_count("weather"), Some(2.0), "{text}");
    assert_eq!(upstream_count("open"), Some(2.0), "{text}");
    let sum = sample(
        &text,
        r#"l402_upstream_request_duration_seconds_sum{service="weather"}"#,
    )
    .unwrap();
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
    // The layer's requests, by the service's name (never the raw path).
    let outcome = |o: &str| {
        sample(
            &text,
            &format!(r#"l402_requests_total{{route="weather",outcome="{o}"}}"#),
        )
    };
    assert_eq!(outcome("challenged"), Some(1.0), "{text}");
    assert_eq!(outcome("paid"), Some(2.0), "{text}");
    assert_eq!(outcome("rejected"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, r#"l402_challenges_issued_total{route="weather"}"#),
        Some(1.0)
    );
    assert!(!text.contains("/weather/today"), "a raw path as a label");
    assert!(!text.contains("Oslo"));

    promtool_accepts(&text);
    server.stop().await;
}

#[tokio::test]
async fn the_discovery_document_lists_the_services_that_sell() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = proxy_support::upstream().await;
    let route = "[[routes]]\npath = \"/api/report\"\nprice_sats = 5\nbody = \"r\"\n";
    let config = write_config(dir.path(), "serve.toml", route, upstream.addr);
    let server = start(l402(dir.path()), &["--config", config.to_str().unwrap()]).await;
    let doc: Value = reqwest::get(format!("{}/.well-known/l402.json", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoints = doc["endpoints"].as_array().unwrap();
    assert_eq!(
        endpoints.len(),
        2,
        "the route and the selling service: {doc}"
    );
    assert_eq!(endpoints[0]["path"], "/api/report");
    let weather = &endpoints[1];
    assert_eq!(weather["service"], "weather", "{doc}");
    assert_eq!(weather["path"], "/weather/");
    assert_eq!(weather["path_pattern"], "^/weather/.*");
    assert_eq!(weather["price_sats"], 3);
    assert_eq!(weather["pricing"]["base_price_sats"], 3);
    assert_eq!(weather["description"], "Weather reports, proxied");
    assert_eq!(weather["method"], "ANY");
    assert!(
        !doc.to_string().contains("\"open\""),
        "a free service is not listed: {doc}"
    );
    assert!(
        !doc.to_string().contains(&upstream.addr.to_string()),
        "the upstream address is not published"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_service_description_longer_than_the_bound_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[[services]]\nname = \"w\"\naddress = \"127.0.0.1:9\"\ndescription = \"{}\"\n",
            "d".repeat(1001)
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let stderr = refused_start(l402(dir.path()), &["--config", config]).await;
    assert!(
        stderr.contains("services[0].description") && stderr.contains("1000"),
        "{stderr}"
    );
}

async fn merchant(data: &Path, args: &[&str]) -> Value {
    let out = l402(data)
        .arg("merchant")
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "l402 merchant {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn with_remote_the_services_sell_through_the_producer() {
    let dir = tempfile::tempdir().unwrap();
    let producer_dir = dir.path().join("producer");
    merchant(&producer_dir, &["create", "proxy shop"]).await;
    let key = merchant(&producer_dir, &["key", "create", "1", "--label", "proxy"]).await;
    let key = key["key"].as_str().unwrap().to_owned();
    let producer = start(l402(&producer_dir), &["--no-demo"]).await;
    let producer_url = producer.url();

    let upstream = proxy_support::upstream().await;
    let app_dir = dir.path().join("app");
    std::fs::create_dir_all(&app_dir).unwrap();
    let remote =
        format!("[remote]\nurl = \"{producer_url}\"\napi_key = \"{key}\"\ntimeout_secs = 3\n");
    let config = write_config(&app_dir, "remote.toml", &remote, upstream.addr);
    let app = start(l402(&app_dir), &["--config", config.to_str().unwrap()]).await;
    assert_eq!(app.info["backend"], "remote");
    assert_eq!(app.info["services"][0]["name"], "weather", "{}", app.info);
    let url = format!("{}/weather/today", app.url());

    // The producer's dev wallet pays (l402 get from its data directory).
    for expected in ["paid", "cached"] {
        let run = get_support::get_json(&producer_dir, &[&url], &[]).await;
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.json["token"], expected, "{}", run.json);
        assert_eq!(run.json["status"], 200, "{}", run.json);
        assert_eq!(
            run.json["body_json"]["path"], "/weather/today",
            "the upstream answered: {}",
            run.json
        );
    }
    // Free service: no producer involved.
    let open = reqwest::get(format!("{}/open", app.url())).await.unwrap();
    assert_eq!(open.status(), 200);

    // The revenue is the producer's: one payment of 3 sats.
    let mut stats = Value::Null;
    for _ in 0..50 {
        stats = reqwest::Client::new()
            .get(format!("{producer_url}/api/stats"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["totalSats"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stats["totalSats"], 3, "{stats}");
    assert_eq!(stats["totalPayments"], 1, "{stats}");
    app.stop().await;
    producer.stop().await;
}

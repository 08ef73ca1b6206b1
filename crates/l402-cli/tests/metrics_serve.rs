//! `/metrics` of the real `l402 serve`: after a real purchase with the real
//! `l402 get`, the counters say what happened (challenged once, paid twice,
//! one settlement and its revenue on the route, verification results by
//! reason, the invoice's latency on the dev backend) with no payment hash in
//! any label; `promtool check metrics` (Debian's prometheus package,
//! `scripts/promtool.sh`) passes on the output. On the main listener the
//! endpoint needs the admin token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod metrics_support;
mod serve_support;

use std::path::Path;
use std::time::Duration;

use metrics_support::{promtool_accepts, sample};
use serve_support::{Server, get_regtest, l402, start};

/// Ports of this file's own metrics listeners (the helper's range).
const METRICS_PORT: u16 = 52201;

fn write_config(dir: &Path, metrics: &str) -> std::path::PathBuf {
    let path = dir.join("serve.toml");
    std::fs::write(
        &path,
        format!(
            "{metrics}\n[[routes]]\npath = \"/api/report\"\nprice_sats = 5\nbody = \"the report\"\n"
        ),
    )
    .unwrap();
    path
}

async fn scrape(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_purchase_shows_in_the_counters_and_promtool_accepts_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("[metrics]\nlisten = \"127.0.0.1:{METRICS_PORT}\""),
    );
    let server: Server = start(l402(dir.path()), &["--config", config.to_str().unwrap()]).await;
    let base = server.url();
    let metrics_url = format!("http://127.0.0.1:{METRICS_PORT}/metrics");
    let report = format!("{base}/api/report");

    // Bought once, then the stored token reused.
    let paid = get_regtest(dir.path(), &report, &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    assert_eq!(paid.json["token"], "paid", "{}", paid.json);
    let hash = paid.json["receipt"]["payment_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = get_regtest(dir.path(), &report, &[]).await;
    assert_eq!(again.json["token"], "cached", "{}", again.json);
    // Refused: garbage, and a genuine macaroon with a wrong preimage.
    let http = reqwest::Client::new();
    let garbage = http
        .get(&report)
        .header("authorization", "L402 garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
    let challenge: serde_json::Value = http
        .get(&report)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let macaroon = challenge["l402"]["macaroon"].as_str().unwrap();
    let wrong = http
        .get(&report)
        .header(
            "authorization",
            format!("L402 {macaroon}:{}", "00".repeat(32)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    // The settlement arrives from the node's stream: wait for it.
    let mut text = String::new();
    for _ in 0..100 {
        let response = scrape(&metrics_url, None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        text = response.text().await.unwrap();
        if sample(&text, r#"l402_payments_settled_total{route="/api/report"}"#) == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let route = |outcome: &str| {
        sample(
            &text,
            &format!(r#"l402_requests_total{{route="/api/report",outcome="{outcome}"}}"#),
        )
    };
    // l402 get: a 402, then the paid retry; then the reuse. Then the bare
    // request for a challenge, and the two refusals.
    assert_eq!(route("challenged"), Some(2.0), "{text}");
    assert_eq!(route("paid"), Some(2.0), "{text}");
    assert_eq!(route("rejected"), Some(2.0), "{text}");
    assert_eq!(route("free"), Some(0.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"l402_challenges_issued_total{route="/api/report"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"l402_payments_settled_total{route="/api/report"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"l402_revenue_sats_total{route="/api/report"}"#),
        Some(5.0)
    );
    assert_eq!(
        sample(&text, r#"l402_credentials_verified_total{result="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_credentials_verified_total{result="malformed_credential"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_credentials_verified_total{result="wrong_preimage"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_invoice_create_duration_seconds_count{backend="dev"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"l402_backend_up{backend="dev"}"#),
        Some(1.0)
    );
    assert!(text.contains("l402_build_info{"));
    // Bounded labels: no payment hash, no macaroon.
    assert!(!text.contains(&hash), "a payment hash in the metrics");
    assert!(!text.contains(macaroon));

    promtool_accepts(&text);
    server.stop().await;
}

#[tokio::test]
async fn on_the_main_listener_metrics_need_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[metrics]\nenabled = true");
    let token = "a-metrics-admin-token-of-some-length";
    let mut cmd = l402(dir.path());
    cmd.env("L402_ADMIN_TOKEN", token);
    let server = start(cmd, &["--config", config.to_str().unwrap()]).await;
    let url = format!("{}/metrics", server.url());

    let none = scrape(&url, None).await;
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    assert_eq!(body["field"], "Authorization");
    let wrong = scrape(&url, Some("a-metrics-admin-token-of-some-lengtX")).await;
    assert_eq!(wrong.status(), 401);

    let ok = scrape(&url, Some(token)).await;
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(
        text.contains("# TYPE l402_requests_total counter"),
        "{text}"
    );
    // OpenMetrics when asked for.
    let om = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(om.text().await.unwrap().ends_with("# EOF\n"));
    server.stop().await;
}

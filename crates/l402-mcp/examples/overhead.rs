//! What one MCP tool call costs on top of the client library: the same
//! fetch of a local free endpoint (no payment) made three ways, N times each:
//!
//! * direct: `l402_client::Client::get(url).send()` and the body read;
//! * stdio: `access_l402_resource` through [`L402Mcp`] served over stdio by a
//!   child process (this example, `--stdio-server`), JSON-RPC lines over real
//!   pipes, as an MCP host drives `l402 mcp`;
//! * HTTP: the same tool through rmcp's streamable HTTP server as `/mcp`
//!   mounts it ([`HttpConfig::rmcp`]: stateless, JSON answers), one POST per
//!   call over loopback (the `/mcp` host check and key lookup are not in it).
//!
//! Run: `cargo run --release -p l402-mcp --example overhead -- [N]` (default
//! 2000). Prints the median and 99th percentile of each and the overhead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use l402_mcp::http::HttpConfig;
use l402_mcp::rmcp::ServiceExt;
use l402_mcp::rmcp::transport::streamable_http_server::StreamableHttpService;
use l402_mcp::rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use l402_mcp::{Buyer, L402Mcp, Policy, Session};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn server(dir: &std::path::Path) -> L402Mcp {
    let client = l402_client::Client::builder().build().unwrap();
    let policy = Policy {
        // The endpoint is on loopback.
        allow_private_addresses: true,
        ..Policy::default()
    };
    L402Mcp::new(
        Buyer::new(client, None, Session::new(policy), dir.join("policy.json")),
        None,
    )
}

fn call(id: u64, url: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "access_l402_resource", "arguments": {"url": url}}})
}

fn check(answer: &Value) {
    let out = &answer["result"]["structuredContent"];
    assert_eq!(out["success"], true, "{answer}");
    assert_eq!(out["paid_sats"], 0, "{answer}");
}

fn report(name: &str, mut times: Vec<Duration>, base: Option<Duration>) -> Duration {
    times.sort_unstable();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    let extra = base.map_or(String::new(), |b| {
        format!(
            "  overhead {:>7.1} µs",
            (median.as_secs_f64() - b.as_secs_f64()) * 1e6
        )
    });
    println!(
        "{name:<8} median {:>7.1} µs  p99 {:>7.1} µs{extra}",
        median.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    median
}

async fn stdio_server() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path())
        .serve(l402_mcp::rmcp::transport::stdio())
        .await
        .unwrap();
    running.waiting().await.unwrap();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--stdio-server") {
        return stdio_server().await;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();

    // The free endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/free", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/free", axum::routing::get(|| async { "free" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Direct.
    let client = l402_client::Client::builder().build().unwrap();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text(), "free");
        times.push(t.elapsed());
    }
    println!("one call of access_l402_resource on a free loopback URL, {n} times each:");
    let direct = report("direct", times, None);

    // stdio: this example as the server, over real pipes.
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg("--stdio-server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "overhead", "version": "1"}}});
    stdin
        .write_all(format!("{init}\n").as_bytes())
        .await
        .unwrap();
    lines.next_line().await.unwrap().unwrap();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    stdin
        .write_all(format!("{initialized}\n").as_bytes())
        .await
        .unwrap();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let line = format!("{}\n", call(i as u64 + 1, &url));
        stdin.write_all(line.as_bytes()).await.unwrap();
        let answer: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        times.push(t.elapsed());
        check(&answer);
    }
    report("stdio", times, Some(direct));
    drop(stdin);
    let _ = child.wait().await;

    // HTTP: rmcp's streamable HTTP server, as /mcp configures it.
    let mcp = server(dir.path());
    let service = StreamableHttpService::new(
        move || Ok(mcp.clone()),
        Arc::new(NeverSessionManager::default()),
        HttpConfig::default().rmcp(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().nest_service("/mcp", service);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let answer: Value = http
            .post(&mcp_url)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&call(i as u64 + 1, &url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        times.push(t.elapsed());
        check(&answer);
    }
    report("HTTP", times, Some(direct));
}

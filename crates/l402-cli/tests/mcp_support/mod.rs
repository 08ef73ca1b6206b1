//! What the MCP end-to-end tests share: the Python SDK's interpreter, a
//! merchant and its key, the agents' policy file, `/mcp` spoken as raw
//! JSON-RPC over HTTP, and paying an invoice from the dev buyer wallet.
//! Needs `mod get_support;` beside it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::get_support::run_json;

#[path = "../python_support/mod.rs"]
mod python_support;

/// The SDK's interpreter: `L402_MCP_PYTHON`, else the cached venv; `None`
/// (the test is skipped, saying so) unless `L402_REQUIRE_MCP_PYTHON` is set.
pub fn python() -> Option<PathBuf> {
    python_support::MCP.python()
}

/// The buying agent's policy: loopback allowed (the test's server), a
/// 100-sat payment cap, tiers up to 50 silent, 60 logged, 100 confirmed
/// with a code in `<dir>/codes.jsonl`.
pub fn write_policy(dir: &Path) -> PathBuf {
    let path = dir.join("mcp-policy.json");
    let policy = json!({
        "limits": {"maxPerPaymentSats": 100, "maxPerSessionSats": 1000, "maxPerDaySats": 5000},
        "tiers": {"paySilentlyUpToSats": 50, "payAndLogUpToSats": 60, "confirmUpToSats": 100},
        "cooldownSeconds": 0,
        "allowMethods": ["GET", "HEAD"],
        "allowPrivateAddresses": true,
        "confirmation": {"channel": "file", "filePath": dir.join("codes.jsonl"), "ttlSeconds": 120}
    });
    std::fs::write(&path, policy.to_string()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// A new merchant of the server in `data` (`l402 merchant`): its id, API
/// key and the key's id.
pub async fn merchant(data: &Path, name: &str) -> (i64, String, String) {
    let made = run_json(data, &["merchant", "create", name], &[]).await;
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let id = made.json["id"].as_i64().unwrap();
    let key = run_json(data, &["merchant", "key", "create", &id.to_string()], &[]).await;
    assert_eq!(key.code, Some(0), "{}", key.stderr);
    let key = key.json;
    (
        id,
        key["key"].as_str().unwrap().to_owned(),
        key["id"].as_str().unwrap().to_owned(),
    )
}

/// A new merchant's API key.
pub async fn merchant_key(data: &Path) -> String {
    merchant(data, "agent shop").await.1
}

/// Pays `bolt11` from the dev buyer wallet (its LNbits API); the preimage.
pub async fn dev_pay(data: &Path, bolt11: &str) -> String {
    let file: Value =
        serde_json::from_slice(&std::fs::read(data.join("dev-wallet.json")).unwrap()).unwrap();
    let body: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/payments", file["url"].as_str().unwrap()))
        .header("X-Api-Key", file["admin_key"].as_str().unwrap())
        .json(&json!({"out": true, "bolt11": bolt11}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["preimage"]
        .as_str()
        .unwrap_or_else(|| panic!("not paid: {body}"))
        .to_owned()
}

/// One JSON-RPC request to `/mcp` (stateless: no session), with these
/// extra headers; the HTTP status and the JSON answer.
pub async fn rpc(url: &str, headers: &[(&str, &str)], method: &str, params: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text}));
    (status, json)
}

/// A `tools/call` through `/mcp`: the structured result (the call must
/// succeed at the protocol level).
pub async fn call_tool(url: &str, auth: &str, tool: &str, arguments: Value) -> Value {
    let bearer = format!("Bearer {auth}");
    let (status, answer) = rpc(
        url,
        &[("Authorization", &bearer)],
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await;
    assert_eq!(status, 200, "{tool}: {answer}");
    let result = &answer["result"];
    assert_ne!(result["isError"], json!(true), "{tool}: {answer}");
    assert!(result["structuredContent"].is_object(), "{tool}: {answer}");
    result["structuredContent"].clone()
}

/// Runs the Python agent `source` (written to `<data>/<name>`) with `args`
/// and `env`, the budget variables of this process removed, for at most
/// 180 s; returns the JSON report it prints, or fails the test with its
/// stderr.
pub async fn run_agent(
    python: &Path,
    data: &Path,
    name: &str,
    source: &str,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Value {
    let agent = data.join(name);
    std::fs::write(&agent, source).unwrap();
    let mut command = tokio::process::Command::new(python);
    command
        .arg(&agent)
        .args(args)
        .env_remove("L402_MAX_SATS")
        .env_remove("L402_BUDGET_DAY_SATS")
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    agent_report(command, 180).await
}

/// Runs an agent (`command`) for at most `secs` seconds: the JSON report it
/// prints, or the test fails with its stderr.
pub async fn agent_report(mut command: tokio::process::Command, secs: u64) -> Value {
    let out = tokio::time::timeout(std::time::Duration::from_secs(secs), command.output())
        .await
        .expect("the agent finishes")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "agent failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)))
}

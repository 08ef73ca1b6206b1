//! The official MCP TypeScript SDK (`@modelcontextprotocol/sdk` from npm,
//! `scripts/mcp-ts.sh`, agent `scripts/mcp-ts/client.mjs`) against the real
//! binaries: `l402 mcp` over stdio (buyer tools) and `l402 serve`'s `/mcp`
//! over streamable HTTP (seller tools): tools listed with annotations and
//! output schemas, tools called, structured output checked.
//!
//! Run: `export L402_MCP_TS_CLIENT="$(bash scripts/mcp-ts.sh client)"`,
//! then `L402_REQUIRE_MCP_TS=1 cargo test -p l402-cli --test mcp_ts`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod mcp_support;

use std::path::{Path, PathBuf};

use get_support::Serve;
use mcp_support::{agent_report, merchant, write_policy};
use serde_json::{Value, json};

/// The agent: `L402_MCP_TS_CLIENT`, else the cached install; `None` (the
/// test is skipped, saying so) unless `L402_REQUIRE_MCP_TS` is set.
fn client() -> Option<PathBuf> {
    let candidate = std::env::var_os("L402_MCP_TS_CLIENT")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(PathBuf::from(home).join(".cache/l402/mcp-ts/client.mjs"))
        });
    let ok = candidate.as_ref().is_some_and(|c| {
        c.is_file()
            && c.parent()
                .is_some_and(|d| d.join("node_modules/@modelcontextprotocol/sdk").is_dir())
    });
    if ok {
        return candidate;
    }
    assert!(
        std::env::var_os("L402_REQUIRE_MCP_TS").is_none(),
        "L402_REQUIRE_MCP_TS is set but the MCP TypeScript SDK is not installed \
         (bash scripts/mcp-ts.sh install)"
    );
    eprintln!("skipped: the MCP TypeScript SDK is not installed (bash scripts/mcp-ts.sh install)");
    None
}

async fn run(client: &Path, data: &Path, mode: &str, steps: Value, target: &[String]) -> Value {
    let steps_file = data.join(format!("steps-{mode}.json"));
    std::fs::write(&steps_file, steps.to_string()).unwrap();
    // The client hands its environment to the `l402 mcp` it starts: none of
    // this process's l402 configuration (CI exports LNbits' variables).
    let mut node = tokio::process::Command::new("node");
    node.arg(client)
        .arg(mode)
        .arg(&steps_file)
        .args(target)
        .kill_on_drop(true);
    for var in get_support::INHERITED_CONFIG {
        node.env_remove(var);
    }
    agent_report(node, 120).await
}

fn names(report: &Value) -> Vec<String> {
    let mut names: Vec<String> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort_unstable();
    names
}

fn annotated(report: &Value) {
    for tool in report["tools"].as_array().unwrap() {
        assert!(tool["annotations"]["readOnlyHint"].is_boolean(), "{tool}");
        assert!(
            tool["annotations"]["destructiveHint"].is_boolean(),
            "{tool}"
        );
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
    }
}

#[tokio::test]
async fn typescript_sdk_sells_over_http_and_buys_over_stdio() {
    let Some(client) = client() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let serve = Serve::start(data).await;
    let (_, key, _) = merchant(data, "ts shop").await;
    let base = serve.info["url"].as_str().unwrap().to_owned();

    // HTTP: a merchant's seller tools.
    let http = run(
        &client,
        data,
        "http",
        json!([["create_l402_challenge", {"resource": "/api/ts", "priceSats": 12}]]),
        &[
            format!("{base}/mcp"),
            format!("Authorization: Bearer {key}"),
        ],
    )
    .await;
    assert_eq!(http["server"], "l402");
    assert_eq!(
        names(&http),
        ["create_l402_challenge", "verify_l402_payment"]
    );
    annotated(&http);
    let created = &http["results"][0];
    assert_eq!(created["isError"], false, "{created}");
    let created = &created["structured"];
    assert_eq!(created["success"], true, "{created}");
    assert_eq!(created["priceSats"], 12);
    let invoice = created["challenge"]["invoice"].as_str().unwrap();
    assert!(invoice.starts_with("lnbcrt120n"), "{invoice}");

    // stdio: the buyer pays that challenge; read-only tools answer too.
    let policy = write_policy(data);
    let stdio = run(
        &client,
        data,
        "stdio",
        json!([
            ["pay_l402_challenge", {"invoice": invoice, "macaroon": created["challenge"]["macaroon"]}],
            ["get_budget_status", {}],
        ]),
        &[
            env!("CARGO_BIN_EXE_l402").to_owned(),
            "--data-dir".to_owned(),
            data.to_str().unwrap().to_owned(),
            "mcp".to_owned(),
            "--policy".to_owned(),
            policy.to_str().unwrap().to_owned(),
        ],
    )
    .await;
    assert_eq!(stdio["server"], "l402");
    let tools = names(&stdio);
    assert!(
        tools.contains(&"access_l402_resource".to_owned()),
        "{tools:?}"
    );
    assert!(
        tools.contains(&"pay_l402_challenge".to_owned()),
        "{tools:?}"
    );
    annotated(&stdio);
    let paid = &stdio["results"][0]["structured"];
    assert_eq!(paid["success"], true, "{paid}");
    assert_eq!(paid["amount_sats"], 12, "{paid}");
    let header = paid["usage"]["headerValue"].as_str().unwrap();
    assert!(header.starts_with("L402 "), "{header}");
    let status = &stdio["results"][1]["structured"];
    assert_eq!(status["session"]["spentSats"], 12, "{status}");

    // And the preimage B got is the one the producer accepts over /api.
    let verify: Value = reqwest::Client::new()
        .post(format!("{base}/api/l402/challenges/verify"))
        .header("X-API-Key", &key)
        .json(
            &json!({"macaroon": created["challenge"]["macaroon"], "preimage": paid["preimage"],
                      "resource": "/api/ts"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["valid"], true, "{verify}");
}

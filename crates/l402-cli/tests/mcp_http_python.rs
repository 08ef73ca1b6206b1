//! Seed 003's whole story with the official MCP Python SDK (`mcp` 2.3.0,
//! `scripts/mcp-python.sh`) and two real servers: agent A is a merchant on
//! `/mcp` of a real `l402 serve` (streamable HTTP, its API key as a bearer
//! token), agent B is the real `l402 mcp` over stdio paying through that
//! server's dev node. A creates a challenge, B pays it with
//! `pay_l402_challenge`, A verifies it (valid) and a wrong preimage
//! (invalid); B's `access_l402_resource` buys the demo once and reuses the
//! token. The stdio-only checks (limits, confirmation codes) are in
//! `mcp_python.rs`.
//!
//! Run: `export L402_MCP_PYTHON="$(bash scripts/mcp-python.sh python)"`,
//! then `L402_REQUIRE_MCP_PYTHON=1 cargo test -p l402-cli --test mcp_http_python`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod mcp_support;

use bitcoin::hashes::{Hash, sha256};
use get_support::Serve;
use mcp_support::{merchant, python, write_policy};
use serde_json::json;

/// Two agents: `A` over streamable HTTP, `B` over stdio; runs the steps
/// (`[agent, tool, arguments]`, arguments may name an earlier step's result
/// as `{"$ref": [step, key, ...]}`) and prints every result.
const AGENTS: &str = r#"
import asyncio, json, os, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client, create_mcp_http_client

def resolve(value, results):
    if isinstance(value, dict):
        if "$ref" in value:
            out = results[value["$ref"][0]]
            for key in value["$ref"][1:]:
                out = out[key]
            return out
        return {k: resolve(v, results) for k, v in value.items()}
    return value

async def main():
    plan = json.load(open(sys.argv[1]))
    stdio = StdioServerParameters(command=plan["stdio"]["command"], args=plan["stdio"]["args"],
                                  env={k: v for k, v in os.environ.items() if k in ("HOME", "PATH")})
    async with create_mcp_http_client(headers=plan["http"]["headers"]) as http:
        async with streamable_http_client(plan["http"]["url"], http_client=http) as (ra, wa, *_):
            async with ClientSession(ra, wa) as a, stdio_client(stdio) as (rb, wb):
                async with ClientSession(rb, wb) as b:
                    init_a = await a.initialize()
                    await b.initialize()
                    tools_a = [t.name for t in (await a.list_tools()).tools]
                    results = []
                    for who, tool, arguments in plan["steps"]:
                        session = a if who == "A" else b
                        r = await session.call_tool(tool, resolve(arguments, results))
                        results.append({"agent": who, "isError": bool(r.is_error), "structured": r.structured_content})
                    print(json.dumps({"server_a": init_a.server_info.name, "tools_a": tools_a, "results": results}))

asyncio.run(main())
"#;

#[tokio::test]
async fn python_sdk_agent_a_over_http_sells_to_agent_b_over_stdio() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let serve = Serve::start(data).await;
    let (_, key, _) = merchant(data, "weather agent").await;
    let base = serve.info["url"].as_str().unwrap().to_owned();
    let demo = serve.demo_url();
    let before = serve.buyer_balance_sats(data).await;
    let policy = write_policy(data);

    let challenge = |k: &str| json!({"$ref": [0, "structured", "challenge", k]});
    let steps = json!([
        ["A", "create_l402_challenge", {"resource": "/api/weather/forecast", "priceSats": 50,
                                        "description": "7-day weather forecast"}],              // 0
        ["B", "pay_l402_challenge", {"invoice": challenge("invoice"), "macaroon": challenge("macaroon")}], // 1
        ["A", "verify_l402_payment", {"macaroon": challenge("macaroon"),
                                      "preimage": {"$ref": [1, "structured", "preimage"]}}],     // 2
        ["A", "verify_l402_payment", {"macaroon": challenge("macaroon"), "preimage": "00".repeat(32)}], // 3
        ["B", "access_l402_resource", {"url": demo}],                                             // 4
        ["B", "access_l402_resource", {"url": demo}],                                             // 5
    ]);
    let plan = json!({
        "http": {"url": format!("{base}/mcp"), "headers": {"Authorization": format!("Bearer {key}")}},
        "stdio": {
            "command": env!("CARGO_BIN_EXE_l402"),
            "args": ["--data-dir", data, "mcp", "--policy", policy],
        },
        "steps": steps,
    });
    let plan_file = data.join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let report = mcp_support::run_agent(
        &python,
        data,
        "agents.py",
        AGENTS,
        &[plan_file.as_os_str()],
        &[],
    )
    .await;
    assert_eq!(report["server_a"], "l402");
    // Over HTTP a merchant sees the seller tools only.
    let mut tools_a: Vec<&str> = report["tools_a"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tools_a.sort_unstable();
    assert_eq!(tools_a, ["create_l402_challenge", "verify_l402_payment"]);

    let r = |i: usize| {
        let step = &report["results"][i];
        assert_eq!(step["isError"], false, "step {i}: {step}");
        step["structured"].clone()
    };
    let created = r(0);
    assert_eq!(created["success"], true, "{created}");
    assert_eq!(created["priceSats"], 50);
    assert_eq!(created["resource"], "/api/weather/forecast");
    assert!(
        created["challenge"]["invoice"]
            .as_str()
            .unwrap()
            .starts_with("lnbcrt500n")
    );
    let paid = r(1);
    assert_eq!(paid["success"], true, "{paid}");
    let preimage = hex::decode(paid["preimage"].as_str().unwrap()).unwrap();
    assert_eq!(
        sha256::Hash::hash(&preimage).to_string(),
        created["challenge"]["paymentHash"].as_str().unwrap()
    );
    let valid = r(2);
    assert_eq!(
        (&valid["success"], &valid["valid"]),
        (&json!(true), &json!(true)),
        "{valid}"
    );
    assert_eq!(valid["resource"], "/api/weather/forecast");
    assert!(valid["message"].as_str().unwrap().contains("grant access"));
    let invalid = r(3);
    assert_eq!(
        (&invalid["success"], &invalid["valid"]),
        (&json!(true), &json!(false)),
        "{invalid}"
    );
    assert!(
        invalid["message"]
            .as_str()
            .unwrap()
            .contains("Do NOT grant access")
    );
    let bought = r(4);
    assert_eq!(bought["paid_sats"], 21, "{bought}");
    assert!(bought["response"].as_str().unwrap().contains("joke"));
    assert_eq!(r(5)["paid_sats"], 0, "the token is reused");

    // B's wallet moved exactly 50 + 21 sats.
    assert_eq!(serve.buyer_balance_sats(data).await, before - 71);
}

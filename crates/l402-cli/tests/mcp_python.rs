//! `l402 mcp` end to end with a real MCP client: the official Python SDK
//! (`mcp` 2.3.0 from PyPI, `scripts/mcp-python.sh`) over stdio starts the
//! real binary, which pays a real `l402 serve` through the dev node's wallet
//! and sells through that server's producer API.
//!
//! Run: `export L402_MCP_PYTHON="$(bash scripts/mcp-python.sh python)"`,
//! then `L402_REQUIRE_MCP_PYTHON=1 cargo test -p l402-cli --test mcp_python`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod mcp_support;

use bitcoin::hashes::{Hash, sha256};
use get_support::Serve;
use mcp_support::{merchant_key, python, write_policy};
use serde_json::{Value, json};

/// The agent: connects over stdio, lists the tools, then runs each step
/// of `steps.json` (`[tool, arguments]`, arguments may name an earlier
/// step's result as `{"$ref": [step, key, ...]}`) and prints every result.
const AGENT: &str = r#"
import asyncio, json, os, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

def resolve(value, results):
    if isinstance(value, dict):
        if "$code" in value:
            # The user reads the code from the file channel.
            last = open(value["$code"]).read().strip().splitlines()[-1]
            return json.loads(last)["code"]
        if "$ref" in value:
            path = value["$ref"]
            out = results[path[0]]
            for key in path[1:]:
                out = out[key]
            return out
        return {k: resolve(v, results) for k, v in value.items()}
    return value

async def main():
    binary, data_dir, steps_file = sys.argv[1], sys.argv[2], sys.argv[3]
    steps = json.load(open(steps_file))
    params = StdioServerParameters(command=binary, args=["--data-dir", data_dir, "mcp"] + sys.argv[4:],
                                    env={k: v for k, v in os.environ.items() if k.startswith("L402_MERCHANT") or k in ("HOME", "PATH")})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            listed = await session.list_tools()
            tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
            results = []
            for tool, arguments in steps:
                try:
                    arguments = resolve(arguments, results)
                except (KeyError, IndexError, TypeError) as e:
                    results.append({"isError": True, "structured": {"unresolved": repr(e)}})
                    continue
                r = await session.call_tool(tool, arguments)
                results.append({"isError": bool(r.is_error), "structured": r.structured_content})
            print(json.dumps({"server": init.server_info.name, "tools": tools, "results": results}))

asyncio.run(main())
"#;

#[tokio::test]
async fn python_sdk_over_stdio_buys_sells_and_is_refused_over_the_limit() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key = merchant_key(data).await;
    let serve = Serve::start(data).await;
    let demo = serve.demo_url();
    let base = serve.info["url"].as_str().unwrap().to_owned();
    let before = serve.buyer_balance_sats(data).await;
    let policy = write_policy(data);

    let codes = data.join("codes.jsonl");
    let steps = json!([
        ["access_l402_resource", {"url": demo}],                                      // 0: pays 21
        ["access_l402_resource", {"url": demo}],                                      // 1: reuses
        ["create_l402_challenge", {"resource": "/api/weather", "priceSats": 25, "description": "7-day forecast"}], // 2
        ["pay_l402_challenge", {"invoice": {"$ref": [2, "structured", "challenge", "invoice"]},
                                "macaroon": {"$ref": [2, "structured", "challenge", "macaroon"]}}], // 3: pays 25
        ["verify_l402_payment", {"macaroon": {"$ref": [2, "structured", "challenge", "macaroon"]},
                                 "preimage": {"$ref": [3, "structured", "preimage"]}}],           // 4: valid
        ["verify_l402_payment", {"macaroon": {"$ref": [2, "structured", "challenge", "macaroon"]},
                                 "preimage": "00".repeat(32)}],                                   // 5: invalid
        ["pay_l402_challenge", {"invoice": {"$ref": [2, "structured", "challenge", "invoice"]},
                                "macaroon": {"$ref": [2, "structured", "challenge", "macaroon"]}}], // 6: not again
        ["create_l402_challenge", {"resource": "/api/big", "priceSats": 500}],         // 7
        ["pay_l402_challenge", {"invoice": {"$ref": [7, "structured", "challenge", "invoice"]},
                                "macaroon": {"$ref": [7, "structured", "challenge", "macaroon"]}}], // 8: denied
        ["access_l402_resource", {"url": demo, "method": "POST", "body": "x"}],        // 9: method refused
        ["configure_budget", {"per_request": 1_000_000}],                              // 10: cannot raise
        ["get_budget_status", {}],                                                     // 11
        ["get_payment_history", {}],                                                   // 12
        ["get_balance", {}],                                                           // 13
        ["create_invoice", {"amount_sats": 7, "memo": "a tip"}],                         // 14
        ["check_invoice_status", {"invoice_id": {"$ref": [14, "structured", "invoice", "id"]}}], // 15
        ["create_l402_challenge", {"resource": "/api/premium", "priceSats": 80}],       // 16
        ["pay_l402_challenge", {"invoice": {"$ref": [16, "structured", "challenge", "invoice"]},
                                "macaroon": {"$ref": [16, "structured", "challenge", "macaroon"]}}], // 17: needs a code
        ["pay_l402_challenge", {"invoice": {"$ref": [16, "structured", "challenge", "invoice"]},
                                "macaroon": {"$ref": [16, "structured", "challenge", "macaroon"]},
                                "confirmation_code": "WRONG1"}],                                    // 18: wrong, revoked
        ["pay_l402_challenge", {"invoice": {"$ref": [16, "structured", "challenge", "invoice"]},
                                "macaroon": {"$ref": [16, "structured", "challenge", "macaroon"]}}], // 19: a new code
        ["pay_l402_challenge", {"invoice": {"$ref": [16, "structured", "challenge", "invoice"]},
                                "macaroon": {"$ref": [16, "structured", "challenge", "macaroon"]},
                                "confirmation_code": {"$code": codes}}],                            // 20: paid
    ]);
    let steps_file = data.join("steps.json");
    std::fs::write(&steps_file, steps.to_string()).unwrap();
    let report = mcp_support::run_agent(
        &python,
        data,
        "agent.py",
        AGENT,
        &[
            env!("CARGO_BIN_EXE_l402").as_ref(),
            data.as_os_str(),
            steps_file.as_os_str(),
            "--policy".as_ref(),
            policy.as_os_str(),
            "--producer-url".as_ref(),
            base.as_ref(),
        ],
        &[("L402_MERCHANT_API_KEY", &key)],
    )
    .await;
    assert_eq!(report["server"], "l402");

    // Every tool: annotations and an output schema.
    let tools = report["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for name in [
        "access_l402_resource",
        "pay_l402_challenge",
        "get_balance",
        "get_budget_status",
        "configure_budget",
        "get_payment_history",
        "create_l402_challenge",
        "verify_l402_payment",
        "create_invoice",
        "check_invoice_status",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for tool in tools {
        let a = &tool["annotations"];
        assert!(a["readOnlyHint"].is_boolean(), "{tool}");
        assert!(a["destructiveHint"].is_boolean(), "{tool}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
    }
    let by_name = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap();
    assert_eq!(
        by_name("access_l402_resource")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(
        by_name("pay_l402_challenge")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(by_name("get_balance")["annotations"]["readOnlyHint"], true);

    let r = |i: usize| {
        let step = &report["results"][i];
        assert_eq!(step["isError"], false, "step {i}: {step}");
        step["structured"].clone()
    };
    // Buys the demo once, then reuses the token.
    let first = r(0);
    assert_eq!(first["success"], true, "{first}");
    assert_eq!(first["paid_sats"], 21, "{first}");
    assert!(
        first["response"].as_str().unwrap().contains("joke"),
        "{first}"
    );
    let second = r(1);
    assert_eq!(second["success"], true, "{second}");
    assert_eq!(second["paid_sats"], 0, "{second}");

    // Seed 003: challenge, pay, verify.
    let challenge = r(2);
    assert_eq!(challenge["success"], true, "{challenge}");
    assert_eq!(challenge["priceSats"], 25);
    assert_eq!(
        challenge["instructions"]["tokenFormat"],
        "L402 {macaroon}:{preimage}"
    );
    let paid = r(3);
    assert_eq!(paid["success"], true, "{paid}");
    let preimage = hex::decode(paid["preimage"].as_str().unwrap()).unwrap();
    assert_eq!(
        sha256::Hash::hash(&preimage).to_string(),
        challenge["challenge"]["paymentHash"].as_str().unwrap(),
        "sha256(preimage) is the payment hash"
    );
    assert_eq!(
        paid["usage"]["headerValue"],
        format!(
            "L402 {}:{}",
            challenge["challenge"]["macaroon"].as_str().unwrap(),
            paid["preimage"].as_str().unwrap()
        )
    );
    let valid = r(4);
    assert_eq!(
        (valid["success"].clone(), valid["valid"].clone()),
        (json!(true), json!(true)),
        "{valid}"
    );
    assert_eq!(valid["resource"], "/api/weather");
    let invalid = r(5);
    assert_eq!(invalid["valid"], false, "{invalid}");
    assert!(
        invalid["message"]
            .as_str()
            .unwrap()
            .contains("Do NOT grant access")
    );
    // The same invoice again: its proof, nothing paid.
    let again = r(6);
    assert_eq!(again["success"], true, "{again}");
    assert_eq!(again["alreadyPaid"], true, "{again}");
    assert_eq!(again["preimage"], paid["preimage"]);

    // Over the per-payment limit: denied with the reason, nothing paid.
    let denied = r(8);
    assert_eq!(denied["success"], false, "{denied}");
    assert_eq!(denied["denialReason"], "over_payment_limit", "{denied}");
    assert!(
        denied["error"].as_str().unwrap().contains("500"),
        "{denied}"
    );
    // POST is not a paid method under the default policy's methods.
    assert_eq!(r(9)["denialReason"], "method_not_allowed");
    // configure_budget cannot raise a cap.
    assert_eq!(r(10)["effectivePerPaymentSats"], 100);
    let status = r(11);
    assert_eq!(status["session"]["spentSats"], 46, "{status}");
    let history = r(12);
    assert!(
        !history
            .to_string()
            .contains(paid["preimage"].as_str().unwrap()),
        "no preimage in the history"
    );
    assert_eq!(history["count"], 2, "{history}");
    assert_eq!(r(13)["success"], true);
    let invoice = r(14);
    assert_eq!(invoice["success"], true, "{invoice}");
    assert_eq!(invoice["invoice"]["amountSats"], 7);
    assert!(
        invoice["invoice"]["bolt11"]
            .as_str()
            .unwrap()
            .starts_with("lnbcrt")
    );
    let invoice_status = r(15);
    assert_eq!(
        invoice_status["invoice"]["state"], "pending",
        "{invoice_status}"
    );
    assert_eq!(invoice_status["invoice"]["isPaid"], false);

    // The confirm tier: refused without the code (which is not in the
    // result), refused with a wrong one, paid with the one from the file.
    let asked = r(17);
    assert_eq!(asked["success"], false, "{asked}");
    assert_eq!(asked["requiresConfirmation"], true, "{asked}");
    assert_eq!(asked["confirmationChannel"], "file");
    let first_code = std::fs::read_to_string(&codes).unwrap();
    let first_code: Value = serde_json::from_str(first_code.lines().next().unwrap()).unwrap();
    let first_code = first_code["code"].as_str().unwrap().to_owned();
    assert!(
        !asked.to_string().contains(&first_code),
        "the code is never in the result"
    );
    assert_eq!(r(18)["denialReason"], "confirmation_invalid");
    assert_eq!(r(19)["requiresConfirmation"], true);
    let confirmed = r(20);
    assert_eq!(confirmed["success"], true, "{confirmed}");
    assert_eq!(confirmed["amount_sats"], 80);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&codes).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The wallet moved exactly 21 + 25 + 80 sats.
    assert_eq!(serve.buyer_balance_sats(data).await, before - 126);
}

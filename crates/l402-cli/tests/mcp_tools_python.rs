//! `l402 mcp`'s newer buyer tools end to end with the official MCP Python
//! SDK over stdio, against a real `l402 serve` paid through the dev node:
//! `discover_api` on a manifest, `pay_invoice` (once; a duplicate the
//! second time), a confirm-tier `pay_invoice` whose code arrives on the
//! signed webhook (checked with Python's `hmac` by the receiver), a scoped
//! token from `mint_scoped_token` that the server accepts, and receipts as
//! MCP resources without preimages.
//!
//! Run: `export L402_MCP_PYTHON="$(bash scripts/mcp-python.sh python)"`,
//! then `L402_REQUIRE_MCP_PYTHON=1 cargo test -p l402-cli --test mcp_tools_python`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod mcp_support;

use get_support::Serve;
use serde_json::json;

/// The agent: a webhook receiver (it checks each signature with `hmac`)
/// that also serves a manifest, then the MCP session over stdio running
/// `steps.json`. A step is `[tool, arguments]`, or `["@resources"]`,
/// `["@read", uri or payment hash]`; `{"$ref": [step, key...]}` names an earlier result,
/// `{"$webhook": n}` the code of the n-th webhook delivery.
const AGENT: &str = r#"
import asyncio, hashlib, hmac, json, os, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SECRET = "whsec_python_receiver_0123456789"
binary, data_dir, steps_file, demo = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
deliveries = []

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        t, v1 = self.headers["l402-signature"].split(",v1=")
        t = t[len("t="):]
        mac = hmac.new(SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
        deliveries.append({"verified": hmac.compare_digest(mac, v1), "event": json.loads(body)})
        self.send_response(204); self.end_headers()
    def do_GET(self):
        body = json.dumps({"protocol": "l402", "version": "1.0", "provider": "demo shop",
                           "demo_endpoint": demo, "price_sats": 21}).encode()
        self.send_response(200 if self.path == "/.well-known/l402.json" else 404)
        self.send_header("content-type", "application/json"); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

hook = HTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{hook.server_address[1]}"
policy = {
    "limits": {"maxPerPaymentSats": 100, "maxPerSessionSats": 1000, "maxPerDaySats": 5000},
    "tiers": {"paySilentlyUpToSats": 50, "payAndLogUpToSats": 60, "confirmUpToSats": 100},
    "cooldownSeconds": 0, "allowMethods": ["GET", "HEAD"], "allowPrivateAddresses": True,
    "confirmation": {"channel": "webhook", "webhookUrl": base + "/hook",
                     "webhookSecret": SECRET, "ttlSeconds": 120},
}
policy_file = os.path.join(data_dir, "mcp-policy.json")
fd = os.open(policy_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(policy).encode()); os.close(fd)

def resolve(value, results):
    if isinstance(value, dict):
        if "$webhook" in value:
            return deliveries[value["$webhook"]]["event"]["code"]
        if "$ref" in value:
            out = results[value["$ref"][0]]
            for key in value["$ref"][1:]:
                out = out[key]
            return out
        return {k: resolve(v, results) for k, v in value.items()}
    if value == "$base":
        return base
    return value

async def main():
    steps = json.load(open(steps_file))
    params = StdioServerParameters(command=binary,
        args=["--data-dir", data_dir, "mcp", "--policy", policy_file] + sys.argv[5:],
        env={k: v for k, v in os.environ.items() if k.startswith("L402_MERCHANT") or k in ("HOME", "PATH")})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            results = []
            for step in steps:
                if step[0] == "@resources":
                    listed = await session.list_resources()
                    templates = await session.list_resource_templates()
                    results.append({"structured": {
                        "resources": [r.model_dump(mode="json", by_alias=True) for r in listed.resources],
                        "templates": [t.model_dump(mode="json", by_alias=True) for t in templates.resource_templates]}})
                    continue
                if step[0] == "@read":
                    uri = resolve(step[1], results)
                    if not uri.startswith("l402://"):
                        uri = "l402://receipts/" + uri
                    read = await session.read_resource(uri)
                    results.append({"structured": json.loads(read.contents[0].text)})
                    continue
                r = await session.call_tool(step[0], resolve(step[1], results))
                results.append({"isError": bool(r.is_error), "structured": r.structured_content})
            print(json.dumps({"results": results, "deliveries": deliveries}))

asyncio.run(main())
"#;

#[tokio::test]
async fn python_sdk_discovers_pays_invoices_scopes_tokens_and_reads_receipts() {
    let Some(python) = mcp_support::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key = mcp_support::merchant_key(data).await;
    let serve = Serve::start(data).await;
    let demo = serve.demo_url();
    let demo_path = reqwest::Url::parse(&demo).unwrap().path().to_owned();
    let base = serve.info["url"].as_str().unwrap().to_owned();
    let before = serve.buyer_balance_sats(data).await;

    let challenge = |i: usize| json!({"$ref": [i, "structured", "challenge", "invoice"]});
    let steps = json!([
        ["discover_api", {"url": "$base"}],                                            // 0
        ["access_l402_resource", {"url": demo}],                                        // 1: pays 21
        ["mint_scoped_token", {"token": demo, "path": demo_path, "expires_in_secs": 300}], // 2
        ["create_l402_challenge", {"resource": "/api/bill", "priceSats": 25}],          // 3
        ["pay_invoice", {"invoice": challenge(3)}],                                     // 4: pays 25
        ["pay_invoice", {"invoice": challenge(3)}],                                     // 5: duplicate
        ["create_l402_challenge", {"resource": "/api/big-bill", "priceSats": 80}],      // 6
        ["pay_invoice", {"invoice": challenge(6)}],                                     // 7: needs a code
        ["pay_invoice", {"invoice": challenge(6), "confirmation_code": {"$webhook": 0}}], // 8: pays 80
        ["@resources"],                                                                 // 9
        ["@read", "l402://receipts"],                                                   // 10
        ["@read", {"$ref": [10, "structured", "receipts", 0, "paymentHash"]}],           // 11
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
            demo.as_ref(),
            "--producer-url".as_ref(),
            base.as_ref(),
        ],
        &[("L402_MERCHANT_API_KEY", &key)],
    )
    .await;
    let r = |i: usize| {
        let step = &report["results"][i];
        assert_ne!(step["isError"], true, "step {i}: {step}");
        step["structured"].clone()
    };

    let found = r(0);
    assert_eq!(found["success"], true, "{found}");
    assert_eq!(found["endpoints"][0]["url"], demo.as_str());
    assert_eq!(found["endpoints"][0]["priceSats"], 21);
    assert_eq!(r(1)["paid_sats"], 21);

    // The scoped token works at the real server for the demo path.
    let scoped = r(2);
    assert_eq!(scoped["success"], true, "{scoped}");
    let ok = reqwest::Client::new()
        .get(&demo)
        .header("authorization", scoped["authorization"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{scoped}");

    let paid = r(4);
    assert_eq!(paid["success"], true, "{paid}");
    assert_eq!(paid["amountSats"], 25);
    let again = r(5);
    assert_eq!(again["duplicate"], true, "{again}");

    // The confirm tier over the webhook: the code came signed, and only
    // there (never in the result).
    let asked = r(7);
    assert_eq!(asked["requiresConfirmation"], true, "{asked}");
    assert_eq!(asked["confirmationChannel"], "webhook");
    let delivery = &report["deliveries"][0];
    assert_eq!(delivery["verified"], true, "{delivery}");
    assert_eq!(delivery["event"]["amountSats"], 80);
    assert_eq!(delivery["event"]["tool"], "pay_invoice");
    let code = delivery["event"]["code"].as_str().unwrap();
    assert!(!asked.to_string().contains(code));
    assert_eq!(r(8)["success"], true, "{}", r(8));

    // Receipts: listed, read, never a preimage.
    let listed = r(9);
    assert_eq!(listed["resources"][0]["uri"], "l402://receipts", "{listed}");
    assert_eq!(
        listed["templates"][0]["uriTemplate"],
        "l402://receipts/{payment_hash}"
    );
    let receipts = r(10);
    assert_eq!(receipts["count"], 3, "{receipts}");
    let text = receipts.to_string();
    for preimage in [&paid["preimage"], &r(8)["preimage"]] {
        assert!(!text.contains(preimage.as_str().unwrap()), "no preimage");
    }
    let one = r(11);
    assert_eq!(one["paymentHash"], receipts["receipts"][0]["paymentHash"]);

    assert_eq!(serve.buyer_balance_sats(data).await, before - 126);
}

//! `l402 serve`'s `/mcp` over real HTTP against the real binary: the
//! allowed hosts (403 JSON otherwise), who may call (401 JSON otherwise),
//! the seller tools bound to the calling merchant and minted/verified by the
//! producer's own code (a token from `/mcp` verifies at
//! `/api/l402/challenges/verify` and back), and the operator tools behind
//! the admin token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod mcp_support;

use std::path::Path;

use get_support::Serve;
use mcp_support::{call_tool, dev_pay, merchant, rpc};
use serde_json::{Value, json};

fn mcp_url(serve: &Serve) -> String {
    format!("{}/mcp", serve.info["url"].as_str().unwrap())
}

fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned()
}

async fn api(serve: &Serve, path: &str, key: &str, body: Value) -> Value {
    let url = format!("{}{path}", serve.info["url"].as_str().unwrap());
    let response = reqwest::Client::new()
        .post(url)
        .header("X-API-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn other_hosts_and_origins_get_403_json_and_strangers_401() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let url = mcp_url(&serve);
    let (_, key, _) = merchant(dir.path(), "shop").await;
    let bearer = format!("Bearer {key}");

    // A DNS-rebinding attempt: the right address under another name.
    let (status, body) = rpc(
        &url,
        &[("Host", "attacker.example"), ("Authorization", &bearer)],
        "tools/list",
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "host_not_allowed", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("attacker.example")
    );
    // A web page of another origin.
    let (status, body) = rpc(
        &url,
        &[
            ("Origin", "https://evil.example"),
            ("Authorization", &bearer),
        ],
        "tools/list",
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "origin_not_allowed", "{body}");
    // No credentials, a wrong key.
    let (status, body) = rpc(&url, &[], "tools/list", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthorized", "{body}");
    let (status, body) = rpc(
        &url,
        &[("Authorization", "Bearer not-a-key")],
        "tools/list",
        json!({}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("API key"),
        "{body}"
    );

    // A body over the bound is refused unread.
    let big = reqwest::Client::new()
        .post(&url)
        .header("Authorization", &bearer)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
            "x".repeat(100 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);

    // The merchant, by either header, sees exactly the seller tools.
    for header in [
        ("Authorization", bearer.as_str()),
        ("X-API-Key", key.as_str()),
    ] {
        let (status, body) = rpc(&url, &[header], "tools/list", json!({})).await;
        assert_eq!(status, 200, "{body}");
        let mut names: Vec<&str> = body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["create_l402_challenge", "verify_l402_payment"]);
    }
    // A buyer tool is not there to call.
    let (status, body) = rpc(
        &url,
        &[("Authorization", &bearer)],
        "tools/call",
        json!({"name": "pay_l402_challenge", "arguments": {"invoice": "x", "macaroon": "y"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body["error"].is_object(), "{body}");
}

#[tokio::test]
async fn a_token_from_mcp_verifies_at_the_api_and_one_from_the_api_at_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let serve = Serve::start(data).await;
    let url = mcp_url(&serve);
    let (merchant_id, key, _) = merchant(data, "shop").await;
    let (_, other_key, _) = merchant(data, "other shop").await;

    // Minted by /mcp, verified by the producer API.
    let created = call_tool(
        &url,
        &key,
        "create_l402_challenge",
        json!({"resource": "/api/weather", "priceSats": 50, "description": "7-day forecast"}),
    )
    .await;
    assert_eq!(created["success"], true, "{created}");
    assert_eq!(created["priceSats"], 50);
    let challenge = &created["challenge"];
    let macaroon = challenge["macaroon"].as_str().unwrap();
    let preimage = dev_pay(data, challenge["invoice"].as_str().unwrap()).await;
    let verified = api(
        &serve,
        "/api/l402/challenges/verify",
        &key,
        json!({"macaroon": macaroon, "preimage": preimage, "resource": "/api/weather"}),
    )
    .await;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["merchantId"], merchant_id);
    assert_eq!(verified["paymentHash"], challenge["paymentHash"]);
    // ... and by /mcp itself; a wrong preimage is not.
    let valid = call_tool(
        &url,
        &key,
        "verify_l402_payment",
        json!({"macaroon": macaroon, "preimage": preimage}),
    )
    .await;
    assert_eq!(
        (&valid["success"], &valid["valid"]),
        (&json!(true), &json!(true)),
        "{valid}"
    );
    assert_eq!(valid["resource"], "/api/weather");
    let wrong = call_tool(
        &url,
        &key,
        "verify_l402_payment",
        json!({"macaroon": macaroon, "preimage": "00".repeat(32)}),
    )
    .await;
    assert_eq!(wrong["valid"], false, "{wrong}");
    assert!(
        wrong["message"]
            .as_str()
            .unwrap()
            .contains("Do NOT grant access")
    );
    // Bound to the merchant: another merchant's /mcp does not accept it.
    let foreign = call_tool(
        &url,
        &other_key,
        "verify_l402_payment",
        json!({"macaroon": macaroon, "preimage": preimage}),
    )
    .await;
    assert_eq!(foreign["valid"], false, "{foreign}");

    // Minted by the producer API, verified by /mcp.
    let issued = api(
        &serve,
        "/api/l402/challenges",
        &key,
        json!({"resource": "/api/report", "priceSats": 30}),
    )
    .await;
    let preimage = dev_pay(data, issued["invoice"].as_str().unwrap()).await;
    let valid = call_tool(
        &url,
        &key,
        "verify_l402_payment",
        json!({"macaroon": issued["macaroon"], "preimage": preimage}),
    )
    .await;
    assert_eq!(valid["valid"], true, "{valid}");
    assert_eq!(valid["amountSats"], 30, "{valid}");
}

#[tokio::test]
async fn operator_tools_need_the_admin_token_and_revoke_a_merchant_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let serve = Serve::start(data).await;
    let url = mcp_url(&serve);
    let admin = admin_token(data);
    let (merchant_id, key, key_id) = merchant(data, "shop").await;

    let bearer = format!("Bearer {admin}");
    let (status, body) = rpc(&url, &[("Authorization", &bearer)], "tools/list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["list_routes", "revoke_token", "stats"]);
    // A merchant cannot call them.
    let (_, body) = rpc(
        &url,
        &[("X-API-Key", &key)],
        "tools/call",
        json!({"name": "stats", "arguments": {}}),
    )
    .await;
    assert!(body["error"].is_object(), "{body}");

    let routes = call_tool(&url, &admin, "list_routes", json!({})).await;
    assert_eq!(routes["success"], true, "{routes}");
    assert_eq!(
        routes["routes"]["paid"][0]["path"], "/api/demo/joke",
        "{routes}"
    );
    assert_eq!(routes["routes"]["paid"][0]["priceSats"], 21, "{routes}");

    // stats: the producer's own totals, counting a challenge made over /mcp.
    call_tool(
        &url,
        &key,
        "create_l402_challenge",
        json!({"resource": "/api/a", "priceSats": 5}),
    )
    .await;
    let stats = call_tool(&url, &admin, "stats", json!({})).await;
    assert_eq!(stats["success"], true, "{stats}");
    assert_eq!(stats["totals"]["challenges"], 1, "{stats}");
    assert_eq!(stats["byMerchant"][0]["merchantId"], merchant_id, "{stats}");

    // revoke_token revokes the merchant's key: /mcp refuses it from then on.
    let bad = call_tool(
        &url,
        &admin,
        "revoke_token",
        json!({"merchant_id": merchant_id, "key_id": "../../x"}),
    )
    .await;
    assert_eq!(bad["success"], false, "{bad}");
    let revoked = call_tool(
        &url,
        &admin,
        "revoke_token",
        json!({"merchant_id": merchant_id, "key_id": key_id}),
    )
    .await;
    assert_eq!(revoked["success"], true, "{revoked}");
    assert!(revoked["revokedAt"].is_string(), "{revoked}");
    let (status, body) = rpc(&url, &[("X-API-Key", &key)], "tools/list", json!({})).await;
    assert_eq!(status, 401, "{body}");
}

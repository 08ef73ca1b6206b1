//! `l402 check` against the real `l402 serve`: every required item passes
//! (the one warning: no LSAT challenge, which `l402 serve` does not send),
//! and `--pay` buys exactly once, then checks the paid path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check_support;
mod get_support;

use check_support::{failed, run_json, serve_with, verdict};
use get_support::l402;

const CONFIG: &str = r#"
[[routes]]
path = "/api/other"
price_sats = 21
body = "the other resource"
"#;

/// Every item `l402 check` runs without paying, and its verdict against
/// `l402 serve`.
const UNPAID: &[(&str, &str)] = &[
    ("status_402", "pass"),
    ("challenge_header", "pass"),
    ("challenge_first", "pass"),
    ("l402_scheme", "pass"),
    ("param_order", "pass"),
    ("param_quoting", "pass"),
    ("header_form", "pass"),
    ("lsat_challenge", "fail"),
    ("cache_control", "pass"),
    ("cors_expose", "pass"),
    ("body_agrees", "pass"),
    ("macaroon_v2", "pass"),
    ("caveats", "info"),
    ("macaroon_identifier", "pass"),
    ("payment_hash_match", "pass"),
    ("invoice_decodes", "pass"),
    ("invoice_amount", "pass"),
    ("invoice_expiry", "pass"),
    ("invoice_network", "info"),
    ("garbage_credential", "pass"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l402_serve_passes_every_required_item_and_pays_once() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with(dir.path(), CONFIG, &[]).await;
    let demo = serve.demo_url();
    let funded = serve.buyer_balance_sats(dir.path()).await;

    let check = run_json(dir.path(), &["check", &demo], &[]).await;
    assert_eq!(check.code, Some(0), "{} {}", check.json, check.stderr);
    let ids: Vec<&str> = check.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, UNPAID.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    for (id, expected) in UNPAID {
        assert_eq!(verdict(&check.json, id), *expected, "{id}: {}", check.json);
    }
    assert_eq!(check.json["summary"]["required_failed"], 0);
    assert_eq!(check.json["summary"]["warnings"], 1);
    let lsat = &check.json["items"][7];
    assert_eq!(lsat["level"], "advisory");
    assert!(lsat["hint"].as_str().unwrap().contains("LSAT"));
    // Nothing paid without --pay.
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded);

    // --pay: one purchase, then the paid path.
    let other = format!("{}/api/other", serve.info["url"].as_str().unwrap());
    let paid = run_json(
        dir.path(),
        &["check", "--pay", "--other-path", "/api/other", &demo],
        &[],
    )
    .await;
    assert_eq!(paid.code, Some(0), "{} {}", paid.json, paid.stderr);
    for (id, expected) in [
        ("paid_access", "pass"),
        ("reuse", "info"),
        ("wrong_preimage", "pass"),
        ("other_path", "pass"),
        ("lsat_credential", "pass"),
    ] {
        assert_eq!(verdict(&paid.json, id), expected, "{id}: {}", paid.json);
    }
    assert_eq!(failed(&paid.json), ["lsat_challenge"]);
    assert_eq!(paid.json["purchase"]["amount_sats"], 21);
    assert!(paid.json["purchase"].get("preimage").is_none());
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded - 21);
    let reuse = paid.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "reuse")
        .unwrap();
    assert!(reuse["detail"].as_str().unwrap().starts_with("reusable"));

    // Again: the token bought is reused, nothing more is paid; the other
    // path is still refused (402, a fresh challenge: the token names
    // another resource).
    let again = run_json(
        dir.path(),
        &["check", "--pay", "--other-path", &other, &demo],
        &[],
    )
    .await;
    assert_eq!(again.code, Some(0), "{}", again.json);
    assert_eq!(again.json["purchase"]["reused_stored_token"], true);
    assert_eq!(verdict(&again.json, "other_path"), "pass");
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded - 21);

    // Over the limit: the check stops before paying (exit 3), says so.
    let over = run_json(
        dir.path(),
        &["check", "--pay", "--max-sats", "20", &other],
        &[],
    )
    .await;
    assert_eq!(over.code, Some(3), "{}", over.json);
    assert_eq!(over.json["incomplete"]["code"], "not_bought");
    assert_eq!(over.json["incomplete"]["money_moved"], "no");
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded - 21);

    // Human output: a verdict per item, a hint for the warning, the result.
    let human = l402(dir.path())
        .args(["check", &demo])
        .output()
        .await
        .unwrap();
    assert_eq!(human.status.code(), Some(0));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("PASS  status_402"), "{text}");
    assert!(text.contains("WARN  lsat_challenge"), "{text}");
    assert!(text.contains("hint: "), "{text}");
    assert!(
        text.contains("result: 15 required passed, 0 failed; 1 warning(s); exit 0"),
        "{text}"
    );

    // Help documents items and exit codes.
    let help = l402(dir.path())
        .args(["check", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in [
        "required ",
        "advisory ",
        "1  a required item failed",
        "3  the check could not run",
    ] {
        assert!(help.contains(line), "--help lacks {line:?}");
    }
}

#[tokio::test]
async fn an_unreachable_url_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let down = run_json(dir.path(), &["check", &url], &[]).await;
    assert_eq!(down.code, Some(3), "{}", down.json);
    assert_eq!(down.json["incomplete"]["code"], "unreachable");
    let bad = run_json(dir.path(), &["check", "ftp://example.com/x"], &[]).await;
    assert_eq!(bad.code, Some(2), "{}", bad.json);
    // --pay with no wallet anywhere: a configuration error before any request.
    let no_wallet = run_json(dir.path(), &["check", "--pay", &url], &[]).await;
    assert_eq!(no_wallet.code, Some(2), "{}", no_wallet.json);
}

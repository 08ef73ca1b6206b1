//! `l402 check` against a hand-made seller that gets one item wrong per
//! path (tests/check_support/bad.rs): each is reported, alone, with the
//! expected verdict and exit code; with `--pay`, exactly one payment per
//! purchase.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check_support;
mod get_support;

use check_support::bad::{BadServer, PRICE_SATS};
use check_support::{failed, run_json, verdict};
use get_support::Serve;

/// (path, the items that fail, exit code). Paths sending one challenge
/// also lack the LSAT one (advisory), left out of the comparison except
/// for `/nolsat/`.
const UNPAID: &[(&str, &[&str], i32)] = &[
    ("/good/x", &[], 0),
    ("/status/x", &["status_402"], 1),
    ("/order/x", &["param_order"], 1),
    ("/quoting/x", &["param_quoting"], 1),
    ("/spacing/x", &["header_form"], 1),
    ("/lower/x", &["l402_scheme", "header_form"], 1),
    ("/mppfirst/x", &["challenge_first"], 1),
    ("/nochallenge/x", &["challenge_header", "l402_scheme"], 1),
    ("/body/x", &["body_agrees"], 1),
    ("/hash/x", &["payment_hash_match"], 1),
    ("/amountless/x", &["invoice_amount"], 1),
    ("/expired/x", &["invoice_expiry"], 1),
    ("/garbage402/x", &["garbage_credential"], 1),
    ("/garbage200/x", &["garbage_credential"], 1),
    ("/nocache/x", &["cache_control"], 0),
    ("/nocors/x", &["cors_expose"], 0),
    ("/nolsat/x", &["lsat_challenge"], 0),
    ("/badinvoice/x", &["invoice_decodes"], 1),
    ("/opaque/x", &["macaroon_v2"], 1),
    ("/identifier/x", &["macaroon_identifier"], 1),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wrong_item_is_reported_alone() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let dev = format!("{}/dev", serve.info["url"].as_str().unwrap());
    let bad = BadServer::start(&dev).await;
    let funded = serve.buyer_balance_sats(dir.path()).await;

    for (path, expected, code) in UNPAID {
        let check = run_json(dir.path(), &["check", &bad.url(path)], &[]).await;
        assert_eq!(check.code, Some(*code), "{path}: {}", check.json);
        let mut fails = failed(&check.json);
        if *path != "/nolsat/x" {
            fails.retain(|id| id != "lsat_challenge");
        }
        assert_eq!(fails, *expected, "{path}: {}", check.json);
        for id in *expected {
            let item = check.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == *id)
                .unwrap();
            assert!(
                item["hint"].as_str().is_some_and(|h| !h.is_empty()),
                "{path} {id}"
            );
        }
    }
    // --network: an invoice for another network is a required failure.
    let other_network = run_json(
        dir.path(),
        &["check", "--network", "bitcoin", &bad.url("/good/x")],
        &[],
    )
    .await;
    assert_eq!(other_network.code, Some(1), "{}", other_network.json);
    assert_eq!(failed(&other_network.json), ["invoice_network"]);

    // Nothing is paid without --pay.
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded);
    assert_eq!(bad.served(), 1, "only /garbage200 served, to garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_paid_path_each_wrong_item_once_paid() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let dev = format!("{}/dev", serve.info["url"].as_str().unwrap());
    let bad = BadServer::start(&dev).await;
    let funded = serve.buyer_balance_sats(dir.path()).await;

    // (path, --other-path, the paid items that fail, exit code)
    let cases: &[(&str, &str, &[&str], i32)] = &[
        ("/good/x", "/good/y", &[], 0),
        // Checks only the signature: caveats neither.
        (
            "/preimage/x",
            "/preimage/y",
            &["wrong_preimage", "other_path"],
            1,
        ),
        ("/anypath/x", "/anypath/y", &["other_path"], 0),
        ("/paid500/x", "/paid500/y", &["paid_access"], 1),
        ("/nolsatcred/x", "/nolsatcred/y", &["lsat_credential"], 0),
        // Single-use tokens are reported, not failed; what a used token
        // cannot show is skipped.
        ("/singleuse/x", "/singleuse/y", &[], 0),
    ];
    for (n, (path, other, expected, code)) in cases.iter().enumerate() {
        let check = run_json(
            dir.path(),
            &["check", "--pay", "--other-path", other, &bad.url(path)],
            &[],
        )
        .await;
        assert_eq!(
            check.code,
            Some(*code),
            "{path}: {} {}",
            check.json,
            check.stderr
        );
        let paid_items = [
            "paid_access",
            "wrong_preimage",
            "other_path",
            "lsat_credential",
        ];
        let fails: Vec<String> = failed(&check.json)
            .into_iter()
            .filter(|id| paid_items.contains(&id.as_str()))
            .collect();
        assert_eq!(fails, *expected, "{path}: {}", check.json);
        // Exactly one payment per purchase.
        let spent = funded - serve.buyer_balance_sats(dir.path()).await;
        assert_eq!(spent, PRICE_SATS * (n as u64 + 1), "{path}");
        if *path == "/singleuse/x" {
            assert_eq!(verdict(&check.json, "other_path"), "skip");
            assert_eq!(verdict(&check.json, "lsat_credential"), "skip");
            let reuse = check.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == "reuse")
                .unwrap();
            assert!(
                reuse["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("single-use: HTTP 401")
            );
        }
        if *path == "/good/x" {
            assert_eq!(verdict(&check.json, "other_path"), "pass");
            assert_eq!(verdict(&check.json, "wrong_preimage"), "pass");
        }
    }
}

/// A 402 whose body never ends: the checker reads a bounded prefix
/// (256 KiB) and goes on, instead of reading forever.
#[tokio::test]
async fn an_endless_body_is_read_up_to_the_bound() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 402 Payment Required\r\n\
                    WWW-Authenticate: L402 macaroon=\"AgEEbHNhdA==\", invoice=\"lnbcrt1x\"\r\n\
                    Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/endless");
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        run_json(dir.path(), &["check", &url], &[]),
    )
    .await
    .expect("l402 check stops reading an endless body");
    assert_eq!(check.code, Some(1), "{}", check.json);
    assert_eq!(verdict(&check.json, "status_402"), "pass");
    assert_eq!(verdict(&check.json, "macaroon_v2"), "fail");
}

//! `l402 get` against the real `l402 serve` with zero setup: pays the demo
//! through the dev node, reuses the token, refuses over the limit, recovers
//! after being killed between paying and storing the token, and makes one
//! payment for many concurrent runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;

use get_support::{Serve, get_json, l402};

#[tokio::test]
async fn zero_setup_pays_the_demo_once_and_reuses_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let demo = serve.demo_url();
    let before = serve.buyer_balance_sats(dir.path()).await;

    // The price only.
    let quote = get_json(dir.path(), &["--no-pay", &demo], &[]).await;
    assert_eq!(quote.code, Some(0), "{}", quote.stderr);
    assert_eq!(quote.json["status"], 402);
    assert_eq!(quote.json["quote"]["amount_msat"], 21_000);
    // Every check, no payment.
    let dry = get_json(dir.path(), &["--dry-run", &demo], &[]).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert_eq!(dry.json["would_pay"], true);
    // Over the limit: exit 3, nothing paid.
    let over = get_json(dir.path(), &["--max-sats", "20", &demo], &[]).await;
    assert_eq!(over.code, Some(3), "{}", over.json);
    assert_eq!(over.json["error"]["code"], "over_limit");
    assert_eq!(over.json["error"]["money_moved"], "no");
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, before);

    // Pays.
    let paid = get_json(dir.path(), &[&demo], &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    assert_eq!(paid.json["status"], 200);
    assert_eq!(paid.json["token"], "paid");
    assert_eq!(paid.json["receipt"]["amount_msat"], 21_000);
    assert!(paid.json["body_json"]["joke"].is_string(), "{}", paid.json);
    // Reuses.
    let cached = get_json(dir.path(), &[&demo], &[]).await;
    assert_eq!(cached.code, Some(0));
    assert_eq!(cached.json["token"], "cached");
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, before - 21);

    // Human output: the body on stdout, progress on stderr.
    let human = l402(dir.path())
        .arg("get")
        .arg(&demo)
        .output()
        .await
        .unwrap();
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("joke"));
    assert!(String::from_utf8_lossy(&human.stderr).contains("reused a stored token"));

    // Help documents the exit codes.
    let help = l402(dir.path())
        .args(["get", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in [
        "3  over the limit",
        "4  payment failed",
        "5  paid, but the server refused",
        "6  network error",
    ] {
        assert!(help.contains(line), "--help lacks {line:?}");
    }
}

#[cfg(debug_assertions)]
#[tokio::test]
async fn killed_between_paying_and_storing_the_token_then_rerun_pays_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let demo = serve.demo_url();
    let before = serve.buyer_balance_sats(dir.path()).await;

    let crashed = get_json(dir.path(), &[&demo], &[("L402_TEST_ABORT_AFTER_PAY", "1")]).await;
    assert_eq!(crashed.code, None, "the first run must die by a signal");
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, before - 21);

    let rerun = get_json(dir.path(), &[&demo], &[]).await;
    assert_eq!(rerun.code, Some(0), "{}", rerun.stderr);
    assert_eq!(rerun.json["status"], 200);
    // Recovered from the wallet (by the up-front journal check, so the
    // request itself finds the token stored): no second payment.
    assert_eq!(rerun.json["token"], "cached", "{}", rerun.json);
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, before - 21);

    let again = get_json(dir.path(), &[&demo], &[]).await;
    assert_eq!(again.json["token"], "cached");
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, before - 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_get_processes_make_one_payment() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let demo = serve.demo_url();
    let before = serve.buyer_balance_sats(dir.path()).await;
    let runs: Vec<_> = (0..100)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let demo = demo.clone();
            tokio::spawn(async move { get_json(&dir, &[&demo], &[]).await })
        })
        .collect();
    let mut paid = 0;
    for run in runs {
        let run = run.await.unwrap();
        assert_eq!(run.code, Some(0), "{} {}", run.json, run.stderr);
        assert_eq!(run.json["status"], 200);
        if run.json["token"] == "paid" {
            paid += 1;
        }
    }
    assert_eq!(paid, 1);
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, before - 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_stalling_between_reserving_and_paying_still_means_one_payment() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let demo = serve.demo_url();
    let before = serve.buyer_balance_sats(dir.path()).await;
    // The first process reserves the payment, then stalls 15 s before paying
    // (longer than the others used to wait before giving up), its lease
    // renewed meanwhile.
    let stalled = {
        let dir = dir.path().to_path_buf();
        let demo = demo.clone();
        tokio::spawn(async move {
            get_json(
                &dir,
                &[&demo],
                &[("L402_TEST_STALL_AFTER_RESERVE_MS", "15000")],
            )
            .await
        })
    };
    let store = l402_client::SqliteStore::open(dir.path().join("client.sqlite"))
        .await
        .unwrap();
    let reserved = async {
        loop {
            use l402_client::Ledger;
            if !store.pending().await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), reserved)
        .await
        .expect("the stalled process reserves its payment");
    let others: Vec<_> = (0..99)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let demo = demo.clone();
            tokio::spawn(async move { get_json(&dir, &[&demo], &[]).await })
        })
        .collect();
    let mut paid = 0;
    for run in others.into_iter().chain([stalled]) {
        let run = run.await.unwrap();
        assert_eq!(run.code, Some(0), "{} {}", run.json, run.stderr);
        assert_eq!(run.json["status"], 200);
        if run.json["token"] == "paid" {
            paid += 1;
        }
    }
    assert_eq!(paid, 1);
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, before - 21);
}

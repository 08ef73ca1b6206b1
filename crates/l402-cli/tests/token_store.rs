//! `l402 token list/show/rm/export/import` over the store `l402 get` uses,
//! with tokens bought from the real `l402 serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check_support;
mod get_support;

use check_support::run_json;
use get_support::{Serve, get_json, l402};
use l402::{PaymentHash, Preimage};

#[tokio::test]
async fn list_show_export_import_and_rm() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let demo = serve.demo_url();
    let funded = serve.buyer_balance_sats(dir.path()).await;

    let empty = run_json(dir.path(), &["token", "list"], &[]).await;
    assert_eq!(empty.code, Some(0), "{}", empty.stderr);
    assert_eq!(empty.json["tokens"], serde_json::json!([]));

    // Bought once, then used again from the store.
    assert_eq!(
        get_json(dir.path(), &[&demo], &[]).await.json["token"],
        "paid"
    );
    assert_eq!(
        get_json(dir.path(), &[&demo], &[]).await.json["token"],
        "cached"
    );

    let list = run_json(dir.path(), &["token", "list"], &[]).await;
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    let tokens = list.json["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{}", list.json);
    let t = &tokens[0];
    assert_eq!(t["scope"], demo.as_str());
    assert_eq!(t["path"], "/api/demo/joke");
    assert_eq!(t["kind"], "macaroon");
    assert_eq!(t["amount_sats"], 21);
    assert_eq!(t["uses"], 2, "{t}");
    assert_eq!(t["expired"], false);
    assert!(t["expires_at"].as_u64().unwrap() > l402::time::unix_now());
    let hash = t["payment_hash"].as_str().unwrap().to_owned();

    // Human list: a table with the path.
    let human = l402(dir.path())
        .args(["token", "list"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.starts_with("ORIGIN"), "{text}");
    assert!(
        text.contains("/api/demo/joke") && text.contains("21 sat"),
        "{text}"
    );

    // show: decoded, and never the preimage without --reveal.
    let show = run_json(dir.path(), &["token", "show", &demo], &[]).await;
    assert_eq!(show.code, Some(0), "{}", show.stderr);
    assert!(show.json.get("preimage").is_none(), "{}", show.json);
    assert_eq!(
        show.json["macaroon"]["identifier"]["payment_hash"],
        hash.as_str()
    );
    let caveats = show.json["macaroon"]["caveats"].as_array().unwrap();
    assert!(
        caveats.iter().any(|c| c == "resource=/api/demo/joke"),
        "{caveats:?}"
    );
    let revealed = run_json(dir.path(), &["token", "show", "--reveal", &hash[..10]], &[]).await;
    let preimage: Preimage = revealed.json["preimage"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        preimage.payment_hash(),
        hash.parse::<PaymentHash>().unwrap()
    );
    let human = l402(dir.path())
        .args(["token", "show", &demo])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        !text.contains(&preimage.to_hex()),
        "show printed the preimage"
    );
    assert!(
        text.contains("resource=/api/demo/joke") && text.contains("--reveal"),
        "{text}"
    );
    assert!(!String::from_utf8_lossy(&human.stderr).contains(&preimage.to_hex()));

    // export -> import on another "machine": used there without paying.
    let export = l402(dir.path())
        .args(["token", "export", &demo])
        .output()
        .await
        .unwrap();
    assert!(export.status.success());
    let other = tempfile::tempdir().unwrap();
    // The other machine has a wallet (the same dev wallet), so a payment
    // would be possible: the balance shows none is made.
    std::fs::copy(
        dir.path().join("dev-wallet.json"),
        other.path().join("dev-wallet.json"),
    )
    .unwrap();
    let line = other.path().join("token.json");
    std::fs::write(&line, &export.stdout).unwrap();
    let import = run_json(
        other.path(),
        &["token", "import", line.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(import.code, Some(0), "{} {}", import.json, import.stderr);
    assert_eq!(import.json["payment_hash"], hash.as_str());
    let there = get_json(other.path(), &[&demo], &[]).await;
    assert_eq!(there.json["status"], 200, "{}", there.json);
    assert_eq!(there.json["token"], "cached");
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded - 21);

    // A tampered export is refused: the preimage must pay the hash.
    let mut tampered: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    tampered["preimage"] = serde_json::json!(Preimage::from([7u8; 32]).to_hex());
    std::fs::write(&line, tampered.to_string()).unwrap();
    let refused = run_json(
        other.path(),
        &["token", "import", line.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(refused.code, Some(1), "{}", refused.json);

    // attenuate, for people: the credential alone on stdout, what was
    // added on stderr.
    let human = l402(dir.path())
        .args(["token", "attenuate", &demo, "--method", "GET"])
        .output()
        .await
        .unwrap();
    assert!(human.status.success());
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("L402 ") && stdout.trim_end().ends_with(&preimage.to_hex()));
    assert!(String::from_utf8_lossy(&human.stderr).contains("added method=GET"));
    let help = l402(dir.path())
        .args(["token", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for word in [
        "list",
        "show",
        "rm",
        "export",
        "import",
        "attenuate",
        "4  no stored token",
    ] {
        assert!(help.contains(word), "--help lacks {word:?}");
    }

    // rm: gone from the list; the next get pays again.
    let rm = run_json(dir.path(), &["token", "rm", &hash[..12]], &[]).await;
    assert_eq!(rm.code, Some(0), "{}", rm.json);
    let after = run_json(dir.path(), &["token", "list"], &[]).await;
    assert_eq!(after.json["tokens"], serde_json::json!([]));
    let missing = run_json(dir.path(), &["token", "show", &demo], &[]).await;
    assert_eq!(missing.code, Some(4), "{}", missing.json);
    assert_eq!(missing.json["error"]["code"], "not_found");
    assert_eq!(
        get_json(dir.path(), &[&demo], &[]).await.json["token"],
        "paid"
    );
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded - 42);
}

//! LNURL-auth (LUD-04) and sessions over real HTTP, on SQLite and
//! PostgreSQL: logins signed by an independent implementation (`coincurve`,
//! libsecp256k1's Python bindings, from PyPI via scripts/coincurve.sh) and by
//! the `secp256k1` crate; forged, replayed, expired, unknown and wrong-key
//! callbacks refused; bounded pending k1s and sessions per key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use l402_producer::IdentityConfig;
use serde_json::{Value, json};
use support::{Server, start_custom, stores};

/// The coincurve interpreter: `L402_COINCURVE_PYTHON`, or the cached venv of
/// scripts/coincurve.sh; `None` when absent (a failure with
/// `L402_REQUIRE_COINCURVE=1`).
fn coincurve_python() -> Option<String> {
    let python = std::env::var("L402_COINCURVE_PYTHON").ok().or_else(|| {
        let home = std::env::var("XDG_CACHE_HOME")
            .ok()
            .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cache")))?;
        let p = format!("{home}/l402/coincurve-venv/bin/python");
        std::path::Path::new(&p).exists().then_some(p)
    });
    let works = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import coincurve"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if works {
        return python;
    }
    assert!(
        std::env::var("L402_REQUIRE_COINCURVE").as_deref() != Ok("1"),
        "L402_REQUIRE_COINCURVE=1 but coincurve is not installed: run bash scripts/coincurve.sh install"
    );
    eprintln!("skipping the coincurve part: run `bash scripts/coincurve.sh install` to enable it");
    None
}

/// Signs `k1` (hex) with coincurve: (DER signature hex, compressed key hex).
fn coincurve_sign(python: &str, secret_hex: &str, k1: &str) -> (String, String) {
    let script = "import sys, coincurve\n\
        sk = coincurve.PrivateKey(bytes.fromhex(sys.argv[1]))\n\
        sig = sk.sign(bytes.fromhex(sys.argv[2]), hasher=None)\n\
        print(sig.hex(), sk.public_key.format(compressed=True).hex())";
    let out = Command::new(python)
        .args(["-c", script, secret_hex, k1])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (sig, key) = text.trim().split_once(' ').unwrap();
    (sig.to_owned(), key.to_owned())
}

/// Signs `k1` (hex) with the secp256k1 crate.
fn rust_sign(secret: [u8; 32], k1: &str) -> (String, String) {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&secret).unwrap();
    let k1: [u8; 32] = hex::decode(k1).unwrap().try_into().unwrap();
    let sig = secp.sign_ecdsa(&Message::from_digest(k1), &sk);
    (
        hex::encode(sig.serialize_der()),
        hex::encode(PublicKey::from_secret_key(&secp, &sk).serialize()),
    )
}

async fn get(s: &Server, path_and_query: &str, bearer: Option<&str>) -> (u16, Value) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_owned()
    } else {
        format!("{}{path_and_query}", s.base)
    };
    let mut req = s.http.get(url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Issues a login: (k1, the callback URL decoded from the bech32 lnurl).
async fn issue(s: &Server) -> (String, String) {
    let (status, body) = get(s, "/api/lnurl-auth", None).await;
    assert_eq!(status, 200, "{body}");
    let k1 = body["k1"].as_str().unwrap().to_owned();
    assert_eq!(k1.len(), 64);
    let lnurl = body["lnurl"].as_str().unwrap();
    assert!(lnurl.starts_with("lnurl1"), "{lnurl}");
    let (hrp, data) = bitcoin::bech32::decode(lnurl).unwrap();
    assert_eq!(hrp.as_str(), "lnurl");
    let callback = String::from_utf8(data).unwrap();
    assert_eq!(
        callback,
        format!("{}/api/lnurl-auth?tag=login&k1={k1}&action=login", s.base)
    );
    (k1, callback)
}

async fn wallet_callback(s: &Server, callback: &str, sig: &str, key: &str) -> (u16, Value) {
    get(s, &format!("{callback}&sig={sig}&key={key}"), None).await
}

async fn login(s: &Server, secret: [u8; 32]) -> (String, String) {
    let (k1, callback) = issue(s).await;
    let (sig, key) = rust_sign(secret, &k1);
    let (status, body) = wallet_callback(s, &callback, &sig, &key).await;
    assert_eq!((status, &body), (200, &json!({"status": "OK"})));
    let (status, body) = get(s, &format!("/api/lnurl-auth?poll={k1}"), None).await;
    assert_eq!(status, 200, "{body}");
    (body["token"].as_str().unwrap().to_owned(), key)
}

async fn server(store: std::sync::Arc<l402_store::Store>, identity: IdentityConfig) -> Server {
    start_custom(store, None, move |b| b.identity(identity)).await
}

#[tokio::test]
async fn a_coincurve_signed_login_gets_one_session_bound_to_the_key() {
    let python = coincurve_python();
    for (store, _keep) in stores("lnurl_login").await {
        let s = server(store.clone(), IdentityConfig::default()).await;
        let (k1, callback) = issue(&s).await;
        // Before the wallet signs: not verified.
        let (status, body) = get(&s, &format!("/api/lnurl-auth?poll={k1}"), None).await;
        assert_eq!(
            (status, &body),
            (200, &json!({"verified": false, "token": null}))
        );
        let secret = "11".repeat(32);
        let (sig, key) = match &python {
            Some(py) => coincurve_sign(py, &secret, &k1),
            None => rust_sign([0x11; 32], &k1),
        };
        let (status, body) = wallet_callback(&s, &callback, &sig, &key).await;
        assert_eq!(
            (status, &body),
            (200, &json!({"status": "OK"})),
            "{}",
            store.backend()
        );
        let (status, body) = get(&s, &format!("/api/lnurl-auth?poll={k1}"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["verified"], true);
        assert_eq!(body["key"], key.as_str());
        let token = body["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("l402s_") && token.len() == 70, "{token}");
        // The token is given once.
        let (status, body) = get(&s, &format!("/api/lnurl-auth?poll={k1}"), None).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("unknown_k1")));

        // Not linked to a merchant yet: no merchant API.
        let (status, body) = get(&s, "/api/stats", Some(&token)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("key_not_linked"))
        );
        let (mid, _, _) = s.merchant("dashboard").await;
        let (status, body) = s
            .admin(
                reqwest::Method::POST,
                &format!("/api/admin/merchants/{mid}/linking-keys"),
                Some(json!({"key": key})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = s
            .admin(
                reqwest::Method::GET,
                &format!("/api/admin/merchants/{mid}/linking-keys"),
                None,
            )
            .await;
        assert_eq!((status, &body["keys"]), (200, &json!([key])));
        // The session acts for the merchant wherever an API key does.
        let (status, body) = get(&s, "/api/stats", Some(&token)).await;
        assert_eq!(
            (status, body["merchantId"].as_i64()),
            (200, Some(mid)),
            "{body}"
        );
        let (status, body) = get(&s, "/api/l402/stats", Some(&token)).await;
        assert_eq!(
            (status, body["merchantId"].as_i64()),
            (200, Some(mid)),
            "{body}"
        );
        // A token is not stored: nothing in the database equals it. (Its
        // last character changed: to `1` when it already was `0`, else the
        // "forged" token was the real one once in a while.)
        let other = if token[69..].starts_with('0') {
            '1'
        } else {
            '0'
        };
        let forged = format!("{}{other}", &token[..69]);
        let (status, body) = get(&s, "/api/stats", Some(&forged)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_session"))
        );

        // Revoked: refused from then on.
        let resp = s
            .http
            .delete(format!("{}/api/session", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let (status, body) = get(&s, "/api/stats", Some(&token)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_session"))
        );
    }
}

#[tokio::test]
async fn forged_replayed_expired_unknown_and_wrong_key_callbacks_are_refused() {
    let python = coincurve_python();
    for (store, _keep) in stores("lnurl_refused").await {
        let s = server(
            store.clone(),
            IdentityConfig::default().k1_ttl(Duration::from_millis(1500)),
        )
        .await;
        let refused = |body: &Value, code: &str| {
            assert_eq!(body["status"], "ERROR", "{body}");
            assert_eq!(body["code"], code, "{body}");
            assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
        };
        // Forged: a signature over another k1.
        let (k1, callback) = issue(&s).await;
        let other = "ab".repeat(32);
        let (sig, key) = match &python {
            Some(py) => coincurve_sign(py, &"22".repeat(32), &other),
            None => rust_sign([0x22; 32], &other),
        };
        let (status, body) = wallet_callback(&s, &callback, &sig, &key).await;
        assert_eq!(status, 400);
        refused(&body, "bad_signature");
        // Wrong key: a true signature of k1, presented with another key.
        let (sig, _) = rust_sign([0x22; 32], &k1);
        let (_, wrong_key) = rust_sign([0x33; 32], &k1);
        let (status, body) = wallet_callback(&s, &callback, &sig, &wrong_key).await;
        assert_eq!(status, 400);
        refused(&body, "bad_signature");
        // Malformed parameters: JSON errors with stable codes, never a panic.
        let cases: Vec<(String, &str)> = vec![
            ("k1=zz&sig=00&key=02".into(), "invalid_field"),
            ("sig=00&key=02".into(), "missing_field"),
            (format!("k1={k1}&sig=3006&key=02"), "invalid_field"),
            (format!("k1={k1}&key={wrong_key}"), "missing_field"),
            (
                format!("k1={k1}&k1={k1}&sig=00&key=00"),
                "duplicate_parameter",
            ),
        ];
        for (query, code) in cases {
            let (status, body) = get(&s, &format!("/api/lnurl-auth?{query}"), None).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert_eq!(body["code"], code, "{query}: {body}");
        }
        let (status, body) = get(&s, "/api/lnurl-auth?poll=xyz", None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_field"))
        );
        // The real signature still works once…
        let (sig, key) = rust_sign([0x22; 32], &k1);
        let (status, body) = wallet_callback(&s, &callback, &sig, &key).await;
        assert_eq!((status, &body), (200, &json!({"status": "OK"})));
        // …and a replay of it is refused, even by the same key.
        let (status, body) = wallet_callback(&s, &callback, &sig, &key).await;
        assert_eq!(status, 400);
        refused(&body, "used_k1");
        // A k1 this server never issued.
        let unknown = "cd".repeat(32);
        let (sig, key) = rust_sign([0x22; 32], &unknown);
        let cb = format!(
            "{}/api/lnurl-auth?tag=login&k1={unknown}&action=login",
            s.base
        );
        let (status, body) = wallet_callback(&s, &cb, &sig, &key).await;
        assert_eq!(status, 400);
        refused(&body, "unknown_k1");
        // Expired: signed after its time to live.
        let (k1, callback) = issue(&s).await;
        tokio::time::sleep(Duration::from_millis(1700)).await;
        let (sig, key) = rust_sign([0x22; 32], &k1);
        let (status, body) = wallet_callback(&s, &callback, &sig, &key).await;
        assert_eq!(status, 400, "{}", store.backend());
        refused(&body, "expired_k1");
        let (status, body) = get(&s, &format!("/api/lnurl-auth?poll={k1}"), None).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("unknown_k1")));
    }
}

#[tokio::test]
async fn pending_k1s_and_sessions_per_key_are_bounded_and_sessions_expire() {
    for (store, _keep) in stores("lnurl_bounds").await {
        let s = server(
            store.clone(),
            IdentityConfig::default()
                .max_pending(5)
                .k1_ttl(Duration::from_millis(1500))
                .max_sessions_per_key(2),
        )
        .await;
        for _ in 0..5 {
            issue(&s).await;
        }
        let (status, body) = get(&s, "/api/lnurl-auth", None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("too_many_pending"))
        );
        // Once they expire there is room again (expired ones are purged).
        tokio::time::sleep(Duration::from_millis(1700)).await;
        let (first, _) = login(&s, [0x44; 32]).await;
        let (second, _) = login(&s, [0x44; 32]).await;
        let (mid, _, _) = s.merchant("bounded").await;
        let (_, key) = rust_sign([0x44; 32], &"00".repeat(32));
        let (status, _) = s
            .admin(
                reqwest::Method::POST,
                &format!("/api/admin/merchants/{mid}/linking-keys"),
                Some(json!({"key": key})),
            )
            .await;
        assert_eq!(status, 201);
        assert_eq!(get(&s, "/api/stats", Some(&first)).await.0, 200);
        // A third session of the key replaces the oldest.
        let (third, _) = login(&s, [0x44; 32]).await;
        assert_eq!(get(&s, "/api/stats", Some(&first)).await.0, 401);
        assert_eq!(get(&s, "/api/stats", Some(&second)).await.0, 200);
        assert_eq!(get(&s, "/api/stats", Some(&third)).await.0, 200);
        // Another key's sessions are its own.
        let (other, _) = login(&s, [0x55; 32]).await;
        assert_eq!(
            get(&s, "/api/stats", Some(&other)).await.1["code"],
            "key_not_linked"
        );
        assert_eq!(get(&s, "/api/stats", Some(&second)).await.0, 200);
    }
    // Sessions expire.
    for (store, _keep) in stores("lnurl_expiry").await {
        let s = server(
            store,
            IdentityConfig::default().session_ttl(Duration::from_secs(1)),
        )
        .await;
        let (token, key) = login(&s, [0x66; 32]).await;
        let (mid, _, _) = s.merchant("short").await;
        s.admin(
            reqwest::Method::POST,
            &format!("/api/admin/merchants/{mid}/linking-keys"),
            Some(json!({"key": key})),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let (status, body) = get(&s, "/api/stats", Some(&token)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_session"))
        );
    }
}

#[tokio::test]
async fn concurrent_callbacks_for_one_k1_are_accepted_once() {
    for (store, _keep) in stores("lnurl_race").await {
        let s = server(store.clone(), IdentityConfig::default()).await;
        let (k1, callback) = issue(&s).await;
        // Twenty wallets (true signatures, different keys) race for one k1.
        let calls = (0..20u8).map(|i| {
            let (sig, key) = rust_sign([0x70 + i; 32], &k1);
            let url = format!("{callback}&sig={sig}&key={key}");
            let http = s.http.clone();
            async move {
                let resp = http.get(url).send().await.unwrap();
                (resp.status().as_u16(), key)
            }
        });
        let results = futures_join_all(calls).await;
        let winners: Vec<&String> = results
            .iter()
            .filter(|(status, _)| *status == 200)
            .map(|(_, key)| key)
            .collect();
        assert_eq!(winners.len(), 1, "{}: {results:?}", store.backend());
        let (status, body) = get(&s, &format!("/api/lnurl-auth?poll={k1}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["key"], winners[0].as_str());
    }
}

/// Runs the futures concurrently (spawned) and collects their outputs in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

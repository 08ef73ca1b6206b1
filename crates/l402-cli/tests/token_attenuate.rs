//! `l402 token attenuate` end to end: a token bought from the real `l402
//! serve`, narrowed by method, expiry and path, is accepted by the server
//! for what it still allows and refused beyond (decision 4: caveats only
//! narrow); the sub-token decodes and verifies with pymacaroons, a
//! third-party macaroon library (scripts/pymacaroons.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check_support;
mod get_support;

use std::process::Command;
use std::time::Duration;

use check_support::{run_json, serve_with};
use get_support::get_json;
use l402::{Identifier, Macaroon};
use serde_json::Value;

const SECRET: &str = "5e7f0d1c2b3a49586776a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

const CONFIG: &str = r#"
[[routes]]
path = "/api/other"
price_sats = 21
body = "the other resource"
"#;

/// The pymacaroons interpreter: `L402_PYMACAROONS_PYTHON`, else the cached
/// virtualenv `scripts/pymacaroons.sh` installs. `None` (test skipped) only
/// when it cannot be had and `L402_REQUIRE_PYMACAROONS` is not set.
fn pymacaroons() -> Option<String> {
    if let Ok(python) = std::env::var("L402_PYMACAROONS_PYTHON") {
        return Some(python);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pymacaroons.sh");
    let out = Command::new("bash").arg(script).arg("python").output();
    match out {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        other => {
            assert!(
                std::env::var_os("L402_REQUIRE_PYMACAROONS").is_none(),
                "L402_REQUIRE_PYMACAROONS is set but pymacaroons is not available: {other:?}"
            );
            eprintln!("SKIPPED: pymacaroons not available ({other:?})");
            None
        }
    }
}

/// Decodes `macaroon` with pymacaroons and verifies its signature with
/// `root_hex`, accepting every caveat (the server judged them).
fn pymacaroons_decode(python: &str, macaroon: &str, root_hex: &str) -> Value {
    let program = r#"
import json, sys
from pymacaroons import Macaroon, Verifier
m = Macaroon.deserialize(sys.argv[1])
def text(b):
    return b.decode() if isinstance(b, bytes) else b
v = Verifier()
v.satisfy_general(lambda caveat: True)
try:
    ok = v.verify(m, bytes.fromhex(sys.argv[2]))
except Exception:
    ok = False
print(json.dumps({
    "location": text(m.location),
    "identifier": m.identifier_bytes.hex(),
    "caveats": [text(c.caveat_id) for c in m.caveats],
    "verified": ok,
}))
"#;
    let out = Command::new(python)
        .args(["-c", program, macaroon, root_hex])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn status(url: &str, method: reqwest::Method, authorization: &str) -> u16 {
    reqwest::Client::new()
        .request(method, url)
        .header("authorization", authorization)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn attenuate(dir: &std::path::Path, demo: &str, flags: &[&str]) -> check_support::Attenuated {
    let mut args = vec!["token", "attenuate", demo];
    args.extend_from_slice(flags);
    let run = run_json(dir, &args, &[]).await;
    check_support::Attenuated::from(run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_tokens_work_for_what_they_allow_and_are_refused_beyond() {
    let python = pymacaroons();
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_with(dir.path(), CONFIG, &[("L402_SERVER_SECRET", SECRET)]).await;
    let demo = serve.demo_url();
    let other = format!("{}/api/other", serve.info["url"].as_str().unwrap());
    let funded = serve.buyer_balance_sats(dir.path()).await;
    assert_eq!(
        get_json(dir.path(), &[&demo], &[]).await.json["token"],
        "paid"
    );
    let parent = run_json(dir.path(), &["token", "export", &demo], &[]).await;
    let parent_auth = parent.json["authorization"].as_str().unwrap().to_owned();
    use reqwest::Method;

    // One method: GET works, HEAD (which the parent may use) is refused.
    let get_only = attenuate(dir.path(), &demo, &["--method", "GET"]).await;
    assert_eq!(get_only.added, ["method=GET"]);
    assert_eq!(
        status(&demo, Method::GET, &get_only.authorization).await,
        200
    );
    assert_eq!(status(&demo, Method::HEAD, &parent_auth).await, 200);
    assert_eq!(
        status(&demo, Method::HEAD, &get_only.authorization).await,
        402
    );

    // One path: works there, refused on another paid path of the server.
    let one_path = attenuate(dir.path(), &demo, &["--path", "/api/demo/joke"]).await;
    assert_eq!(
        status(&demo, Method::GET, &one_path.authorization).await,
        200
    );
    assert_eq!(
        status(&other, Method::GET, &one_path.authorization).await,
        402
    );
    // A path the token was not bought for is refused before printing.
    let nowhere = run_json(
        dir.path(),
        &["token", "attenuate", &demo, "--path", "/api/other"],
        &[],
    )
    .await;
    assert_eq!(nowhere.code, Some(1), "{}", nowhere.json);
    assert!(
        nowhere.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("good nowhere")
    );

    // A shorter life: works now, refused once it passed; the parent still works.
    let short = attenuate(dir.path(), &demo, &["--expires-in", "4s"]).await;
    assert_eq!(status(&demo, Method::GET, &short.authorization).await, 200);
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert_eq!(status(&demo, Method::GET, &short.authorization).await, 402);
    assert_eq!(status(&demo, Method::GET, &parent_auth).await, 200);

    // Nothing was paid after the first purchase.
    assert_eq!(serve.buyer_balance_sats(dir.path()).await, funded - 21);

    // pymacaroons decodes the sub-token: the parent's identifier and caveats
    // plus the new one, and its signature verifies under the token's root
    // key (and not under another).
    let Some(python) = python else { return };
    let sub: Macaroon = get_only.macaroon.parse().unwrap();
    let id = Identifier::from_bytes(sub.identifier()).unwrap();
    let keys = l402_server::keys::from_hex(SECRET).unwrap();
    let root = hex::encode(keys.root_key(&id.token_id).unwrap().as_bytes());
    let decoded = pymacaroons_decode(&python, &get_only.macaroon, &root);
    assert_eq!(decoded["location"], sub.location());
    assert_eq!(decoded["identifier"], hex::encode(sub.identifier()));
    let ours: Vec<String> = sub
        .caveats()
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert_eq!(decoded["caveats"], serde_json::json!(ours));
    assert_eq!(ours.last().unwrap(), "method=GET");
    assert!(ours.iter().any(|c| c == "resource=/api/demo/joke"));
    assert_eq!(decoded["verified"], true, "{decoded}");
    let wrong = hex::encode([0x42u8; 32]);
    assert_eq!(
        pymacaroons_decode(&python, &get_only.macaroon, &wrong)["verified"],
        false
    );
}

/// `l402 serve` binds every token to one resource, so there the parent is
/// refused on another path too. A seller selling a whole API as one
/// service (no resource caveat; the hand-made seller's `/anypath/`, which
/// verifies with the core's `Verifier`) shows the narrowing itself: the
/// parent works on both paths, the sub-token on its own only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_limited_sub_token_of_a_service_wide_token() {
    let dir = tempfile::tempdir().unwrap();
    let serve = get_support::Serve::start(dir.path()).await;
    let dev = format!("{}/dev", serve.info["url"].as_str().unwrap());
    let seller = check_support::bad::BadServer::start(&dev).await;
    let (a, b) = (seller.url("/anypath/a"), seller.url("/anypath/b"));
    assert_eq!(get_json(dir.path(), &[&a], &[]).await.json["token"], "paid");
    let parent = run_json(dir.path(), &["token", "export", &a], &[]).await;
    let parent_auth = parent.json["authorization"].as_str().unwrap().to_owned();
    use reqwest::Method;
    assert_eq!(status(&a, Method::GET, &parent_auth).await, 200);
    assert_eq!(status(&b, Method::GET, &parent_auth).await, 200);

    let sub = attenuate(dir.path(), &a, &["--path", "/anypath/a"]).await;
    assert_eq!(sub.added, ["resource=/anypath/a"]);
    assert_eq!(status(&a, Method::GET, &sub.authorization).await, 200);
    assert_eq!(status(&b, Method::GET, &sub.authorization).await, 402);
    // A prefix narrows too: with /anypath/b, a is refused and b served.
    let prefix = attenuate(dir.path(), &a, &["--path-prefix", "/anypath/b"]).await;
    assert_eq!(status(&a, Method::GET, &prefix.authorization).await, 402);
    assert_eq!(status(&b, Method::GET, &prefix.authorization).await, 200);
}

//! The MCP buyer tools added for issue 11, in process, over real HTTP on
//! loopback with the dev node's wallets: `pay_invoice` (once, across
//! restarts, across tools, within the policy), `discover_api` (bounded,
//! address rules, no redirects), `mint_scoped_token` (never widens), the
//! receipts resources (no preimage), the webhook confirmation channel and
//! the fiat caps (fail closed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use get_support::server::{Dev, Mode, TestServer};
use l402_client::{Client, SqliteStore};
use l402_lightning::{InvoiceRequest, Receiver};
use l402_mcp::{Buyer, Policy, Session};
use serde_json::{Value, json};

/// A policy file with `extra` merged in (loopback allowed, no cooldown).
fn policy(dir: &Path, extra: Value) -> (PathBuf, Policy) {
    let path = dir.join("policy.json");
    let mut base = json!({
        "limits": {"maxPerPaymentSats": 100, "maxPerSessionSats": 1000, "maxPerDaySats": 5000},
        "tiers": {"paySilentlyUpToSats": 50, "payAndLogUpToSats": 60, "confirmUpToSats": 100},
        "cooldownSeconds": 0,
        "allowMethods": ["GET", "HEAD"],
        "allowPrivateAddresses": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    std::fs::write(&path, base.to_string()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let policy = Policy::load_or_create(&path).unwrap();
    (path, policy)
}

async fn buyer_with(dev: &Dev, dir: &Path, store: SqliteStore, extra: Value) -> Buyer {
    let client = Client::builder()
        .wallet(Arc::new(dev.buyer.clone()))
        .auto_pay(false)
        .sqlite(store)
        .build()
        .unwrap();
    let (path, policy) = policy(dir, extra);
    Buyer::new(client, None, Session::new(policy), path)
}

async fn buyer(dev: &Dev, dir: &Path) -> Buyer {
    let store = SqliteStore::in_memory().await.unwrap();
    buyer_with(dev, dir, store, json!({})).await
}

async fn bill(dev: &Dev, sats: u64) -> String {
    dev.seller
        .create_invoice(&InvoiceRequest::sats(sats).memo("a bill"))
        .await
        .unwrap()
        .bolt11
}

/// Serves `router` on loopback; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn pay_invoice_pays_once_across_restarts_and_tools() {
    let dev = Dev::new(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("client.db");
    let invoice = bill(&dev, 30).await;
    let first = buyer_with(
        &dev,
        dir.path(),
        SqliteStore::open(&db).await.unwrap(),
        json!({}),
    )
    .await;
    let paid = first.pay_invoice(&invoice, None, None).await;
    assert_eq!(paid["success"], true, "{paid}");
    assert_eq!(paid["invoice"]["paid"], true);
    assert_eq!(paid["amountSats"], 30);
    let again = first.pay_invoice(&invoice, None, None).await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["preimage"], paid["preimage"]);
    assert_eq!(first.session().status().spent_sats, 30);
    drop(first);
    // Restarted on the same store: still never twice.
    let second = buyer_with(
        &dev,
        dir.path(),
        SqliteStore::open(&db).await.unwrap(),
        json!({}),
    )
    .await;
    let after = second.pay_invoice(&invoice, None, None).await;
    assert_eq!(after["duplicate"], true, "{after}");
    assert_eq!(second.session().status().spent_sats, 0);
    assert_eq!(dev.spent_sats(1_000).await, 30);

    // A challenge's invoice paid through pay_l402_challenge is a duplicate
    // for pay_invoice.
    let server = TestServer::start(Arc::new(dev.seller.clone()), Mode::Normal, 12).await;
    let answer = reqwest::get(server.url("/paid/x")).await.unwrap();
    let header = answer.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let field = |name: &str| {
        let start = header.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        header[start..].split('"').next().unwrap().to_owned()
    };
    let (macaroon, invoice) = (field("macaroon"), field("invoice"));
    let challenge = second.pay_challenge(&invoice, &macaroon, None, None).await;
    assert_eq!(challenge["success"], true, "{challenge}");
    let dup = second.pay_invoice(&invoice, None, None).await;
    assert_eq!(dup["duplicate"], true, "{dup}");
    assert_eq!(dev.spent_sats(1_000).await, 42);
}

#[tokio::test]
async fn pay_invoice_refusals_pay_nothing() {
    let dev = Dev::new(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let buyer = buyer(&dev, dir.path()).await;
    let over = buyer.pay_invoice(&bill(&dev, 150).await, None, None).await;
    assert_eq!(over["denialReason"], "over_payment_limit", "{over}");
    let capped = buyer
        .pay_invoice(&bill(&dev, 20).await, Some(10), None)
        .await;
    assert_eq!(capped["denialReason"], "over_payment_limit", "{capped}");
    let garbage = buyer.pay_invoice("lnbcrt1garbage", None, None).await;
    assert_eq!(garbage["denialReason"], "invalid_invoice", "{garbage}");
    // The confirm tier without a code (stderr channel): refused.
    let confirm = buyer.pay_invoice(&bill(&dev, 80).await, None, None).await;
    assert_eq!(confirm["requiresConfirmation"], true, "{confirm}");
    assert_eq!(dev.spent_sats(1_000).await, 0);
    assert_eq!(buyer.session().status().spent_sats, 0);
}

#[tokio::test]
async fn webhook_codes_confirm_a_payment() {
    let dev = Dev::new(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let kept = got.clone();
    let hook = serve(Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let sig = headers["l402-signature"].to_str().unwrap().to_owned();
                kept.lock().unwrap().push((sig, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    ))
    .await;
    let store = SqliteStore::in_memory().await.unwrap();
    let buyer = buyer_with(
        &dev,
        dir.path(),
        store,
        json!({"confirmation": {"channel": "webhook", "webhookUrl": format!("{hook}/hook"),
               "webhookSecret": "whsec_0123456789abcdef", "ttlSeconds": 60}}),
    )
    .await;
    // The secret is never shown.
    assert!(!buyer.budget_status().to_string().contains("whsec_"));
    let invoice = bill(&dev, 80).await;
    let asked = buyer.pay_invoice(&invoice, None, None).await;
    assert_eq!(asked["confirmationChannel"], "webhook", "{asked}");
    let (sig, body) = got.lock().unwrap()[0].clone();
    assert!(sig.starts_with("t=") && sig.contains(",v1="), "{sig}");
    let event: Value = serde_json::from_str(&body).unwrap();
    let code = event["code"].as_str().unwrap().to_owned();
    assert!(!asked.to_string().contains(&code));
    let paid = buyer.pay_invoice(&invoice, None, Some(&code)).await;
    assert_eq!(paid["success"], true, "{paid}");
    assert_eq!(dev.spent_sats(1_000).await, 80);
}

#[tokio::test]
async fn fiat_caps_refuse_and_fail_closed() {
    let dev = Dev::new(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    // $100,000 per BTC: 10 sats = 1 cent.
    let fiat = json!({"fiat": {"currency": "usd", "maxPerPaymentMinor": 3, "maxPerDayMinor": 5,
                               "btcPriceMinor": 10_000_000}});
    let store = SqliteStore::in_memory().await.unwrap();
    let buyer = buyer_with(&dev, dir.path(), store, fiat).await;
    let over = buyer.pay_invoice(&bill(&dev, 40).await, None, None).await;
    assert_eq!(over["denialReason"], "over_fiat_payment_limit", "{over}");
    let ok = buyer.pay_invoice(&bill(&dev, 30).await, None, None).await;
    assert_eq!(ok["success"], true, "{ok}");
    // 30 + 30 sats = 6 cents: over the day's 5.
    let day = buyer.pay_invoice(&bill(&dev, 30).await, None, None).await;
    assert_eq!(day["denialReason"], "over_fiat_day_limit", "{day}");

    // No price (an unreachable price URL): nothing is paid.
    let dir = tempfile::tempdir().unwrap();
    let fiat = json!({"fiat": {"currency": "usd", "maxPerPaymentMinor": 1000,
                               "priceUrl": "http://127.0.0.1:9/price", "pricePointer": "/usd"}});
    let store = SqliteStore::in_memory().await.unwrap();
    let closed = buyer_with(&dev, dir.path(), store, fiat).await;
    let refused = closed.pay_invoice(&bill(&dev, 5).await, None, None).await;
    assert_eq!(refused["denialReason"], "no_price", "{refused}");
    assert_eq!(dev.spent_sats(1_000).await, 30);
}

#[tokio::test]
async fn discover_reads_manifests_and_directories_within_bounds() {
    let dev = Dev::new(0).await;
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(l402_mcp::discover::MAX_DOCUMENT_BYTES + 1);
    let base = serve(
        Router::new()
            .route(
                "/.well-known/l402.json",
                get(|| async {
                    axum::Json(json!({"protocol": "l402", "version": "1.0", "provider": "shop",
                        "demo_endpoint": "/api/demo", "price_sats": 21, "docs": "/docs"}))
                }),
            )
            .route(
                "/api/apis.json",
                get(|| async {
                    axum::Json(json!({"version": "1", "count": 2, "apis": [
                        {"url": "https://a.example/x", "name": "a", "price_sats": 5, "category": "ai"},
                        {"url": "https://b.example/y", "name": "b", "price_sats": 5000, "category": "data"}]}))
                }),
            )
            .route("/big.json", get(move || async move { big }))
            .route(
                "/moved.json",
                get(|| async { axum::response::Redirect::temporary("/.well-known/l402.json") }),
            ),
    )
    .await;
    let buyer = buyer(&dev, dir.path()).await;

    let manifest = buyer.discover(&base).await;
    assert_eq!(manifest["success"], true, "{manifest}");
    assert_eq!(manifest["source"], "manifest");
    assert_eq!(manifest["endpoints"][0]["url"], format!("{base}/api/demo"));
    assert_eq!(manifest["endpoints"][0]["priceSats"], 21);
    assert_eq!(manifest["endpoints"][0]["affordable"], true);

    let directory = buyer.discover(&format!("{base}/api/apis.json")).await;
    assert_eq!(directory["source"], "directory", "{directory}");
    assert_eq!(directory["total"], 2);
    assert_eq!(directory["results"][1]["affordable"], false);

    let big = buyer.discover(&format!("{base}/big.json")).await;
    assert_eq!(big["success"], false);
    assert!(
        big["error"].as_str().unwrap().contains("larger than"),
        "{big}"
    );
    let moved = buyer.discover(&format!("{base}/moved.json")).await;
    assert!(
        moved["error"].as_str().unwrap().contains("not followed"),
        "{moved}"
    );

    // Loopback refused unless the policy allows it.
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::in_memory().await.unwrap();
    let strict = buyer_with(
        &dev,
        dir.path(),
        store,
        json!({"allowPrivateAddresses": false}),
    )
    .await;
    let refused = strict.discover(&base).await;
    assert_eq!(refused["denialReason"], "address_refused", "{refused}");
    let by_name = base.replace("127.0.0.1", "localhost");
    assert_eq!(
        strict.discover(&by_name).await["denialReason"],
        "address_refused"
    );
}

#[tokio::test]
async fn scoped_tokens_narrow_and_never_widen() {
    let dev = Dev::new(1_000).await;
    let server = TestServer::start(Arc::new(dev.seller.clone()), Mode::Normal, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let buyer = buyer(&dev, dir.path()).await;
    let url = server.url("/paid/x");
    let bought = buyer
        .access(&url, None, &BTreeMap::new(), None, None, None)
        .await;
    assert_eq!(bought["paid_sats"], 10, "{bought}");

    let scoped = buyer
        .mint_scoped(
            &url,
            &l402_mcp::scoped::ScopeRequest {
                path: Some("/paid/x".into()),
                method: Some("GET".into()),
                expires_in_secs: Some(60),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(scoped["success"], true, "{scoped}");
    let header = scoped["usage"]["headerValue"].as_str().unwrap();
    let credential: l402::Credential = header.parse().unwrap();
    let verifier = &server.shared.verifier;
    let now = l402::time::unix_now();
    let ctx = |method: &'static str, at: u64| {
        l402::RequestContext::new(at)
            .resource("/paid/x")
            .method(method)
    };
    assert!(verifier.verify(&credential, &ctx("GET", now)).is_ok());
    assert!(verifier.verify(&credential, &ctx("POST", now)).is_err());
    assert!(
        verifier
            .verify(&credential, &ctx("GET", now + 120))
            .is_err()
    );
    // A path-only scoped token: the seller itself (which does not check
    // methods) accepts it for the path.
    let path_only = buyer
        .mint_scoped(
            &url,
            &l402_mcp::scoped::ScopeRequest {
                path: Some("/paid/x".into()),
                ..Default::default()
            },
        )
        .await;
    let ok = reqwest::Client::new()
        .get(&url)
        .header(
            "authorization",
            path_only["authorization"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{path_only}");
    // Its default expiry: an hour at most.
    let expires = path_only["expiresAt"].as_u64().unwrap();
    assert!(
        expires <= now + l402_mcp::scoped::DEFAULT_EXPIRES_IN_SECS,
        "{path_only}"
    );

    // Another path than the token's: it would widen, so it is refused.
    let wider = buyer
        .mint_scoped(
            &url,
            &l402_mcp::scoped::ScopeRequest {
                path: Some("/paid/other".into()),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(wider["errorCode"], "not_narrower", "{wider}");
    let unknown = buyer
        .mint_scoped("deadbeefdeadbeef", &Default::default())
        .await;
    assert_eq!(unknown["errorCode"], "no_token");
    assert_eq!(dev.spent_sats(1_000).await, 10);
}

#[tokio::test]
async fn receipts_list_and_one_never_a_preimage() {
    let dev = Dev::new(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let buyer = buyer(&dev, dir.path()).await;
    let a = buyer.pay_invoice(&bill(&dev, 7).await, None, None).await;
    let b = buyer.pay_invoice(&bill(&dev, 9).await, None, None).await;
    let text = |r: rmcp_result::ReadResourceResult| match &r.contents[0] {
        rmcp_result::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let list = text(buyer.read_receipts("l402://receipts").await.unwrap());
    for paid in [&a, &b] {
        assert!(
            list.contains(paid["paymentHash"].as_str().unwrap()),
            "{list}"
        );
        assert!(
            !list.contains(paid["preimage"].as_str().unwrap()),
            "no preimage"
        );
    }
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["count"], 2);
    assert_eq!(list["totalSatsInView"], 16);
    assert_eq!(list["receipts"][0]["paidFor"], "invoice");
    let hash = a["paymentHash"].as_str().unwrap();
    let one = text(
        buyer
            .read_receipts(&format!("l402://receipts/{hash}"))
            .await
            .unwrap(),
    );
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one["amountSats"], 7);
    assert!(!one.to_string().contains(a["preimage"].as_str().unwrap()));
    let missing = format!("l402://receipts/{}", "00".repeat(32));
    assert!(buyer.read_receipts(&missing).await.is_err());
    assert!(buyer.read_receipts("l402://receipts/nothex").await.is_err());
}

#[tokio::test]
async fn a_resolver_that_only_answers_public_addresses() {
    // The check and the connection use the same answer: a client with
    // PublicOnly cannot be sent to loopback by name.
    let base = serve(Router::new().route("/", get(|| async { "hi" }))).await;
    let http = reqwest::Client::builder()
        .dns_resolver(l402_mcp::guard::public_only())
        .build()
        .unwrap();
    let by_name = base.replace("127.0.0.1", "localhost");
    assert!(http.get(&by_name).send().await.is_err());
    // A checked target pinned to its address connects there.
    let target = l402_mcp::guard::check(&base, true).await.unwrap();
    let pinned = target.pin(reqwest::Client::builder()).build().unwrap();
    assert_eq!(
        pinned
            .get(&base)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hi"
    );
}

mod rmcp_result {
    pub use l402_mcp::rmcp::model::{ReadResourceResult, ResourceContents};
}

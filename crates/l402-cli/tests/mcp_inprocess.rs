//! The MCP buyer tools in process, against l402-client's hand-made seller
//! (real HTTP on loopback, the dev node's wallets): a seller that refuses
//! the paid credential gets "already paid, do not pay again" with the
//! token, and the money moved once; the same challenge handed over twice
//! is paid once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use get_support::server::{Dev, Mode, TestServer};
use l402_client::{Client, SqliteStore};
use l402_mcp::{Buyer, Policy, Session};

async fn buyer(dev: &Dev, dir: &std::path::Path) -> Buyer {
    let client = Client::builder()
        .wallet(Arc::new(dev.buyer.clone()))
        .auto_pay(false)
        .sqlite(SqliteStore::in_memory().await.unwrap())
        .build()
        .unwrap();
    let path = dir.join("policy.json");
    let mut policy = Policy::load_or_create(&path).unwrap();
    policy.allow_private_addresses = true;
    policy.cooldown_seconds = 0;
    Buyer::new(client, None, Session::new(policy), path)
}

#[tokio::test]
async fn paid_but_refused_says_already_paid_and_pays_once() {
    let dev = Dev::new(1_000).await;
    let server = TestServer::start(Arc::new(dev.seller.clone()), Mode::Always401, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let buyer = buyer(&dev, dir.path()).await;
    let out = buyer
        .access(
            &server.url("/paid/x"),
            None,
            &BTreeMap::new(),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(out["success"], false, "{out}");
    assert_eq!(out["alreadyPaid"], true, "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("do NOT pay again"),
        "{out}"
    );
    let token = out["payment"]["l402Token"].as_str().unwrap();
    assert!(token.starts_with("L402 ") && token.contains(':'), "{out}");
    assert_eq!(dev.spent_sats(1_000).await, 10);
    assert_eq!(buyer.session().status().spent_sats, 10);
}

#[tokio::test]
async fn a_challenge_handed_over_twice_is_paid_once() {
    let dev = Dev::new(1_000).await;
    let server = TestServer::start(Arc::new(dev.seller.clone()), Mode::Normal, 12).await;
    let dir = tempfile::tempdir().unwrap();
    let buyer = buyer(&dev, dir.path()).await;
    // The challenge, as another agent would hand it over.
    let answer = reqwest::get(server.url("/paid/x")).await.unwrap();
    assert_eq!(answer.status(), 402);
    let header = answer.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let field = |name: &str| {
        let start = header.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        header[start..].split('"').next().unwrap().to_owned()
    };
    let (macaroon, invoice) = (field("macaroon"), field("invoice"));
    let first = buyer.pay_challenge(&invoice, &macaroon, None, None).await;
    assert_eq!(first["success"], true, "{first}");
    assert_eq!(first["alreadyPaid"], false, "{first}");
    let again = buyer.pay_challenge(&invoice, &macaroon, None, None).await;
    assert_eq!(again["success"], true, "{again}");
    assert_eq!(again["alreadyPaid"], true, "{again}");
    assert_eq!(again["preimage"], first["preimage"]);
    assert_eq!(dev.spent_sats(1_000).await, 12);
    // The header works at the seller.
    let ok = reqwest::Client::new()
        .get(server.url("/paid/x"))
        .header(
            "authorization",
            first["usage"]["headerValue"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

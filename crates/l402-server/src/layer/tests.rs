//! One test per decision of the layer, calling the service directly with
//! `oneshot` (no server). Tokens are minted with the layer's keyring for a
//! known preimage, as if paid.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use l402::{Caveat, Credential, Keyring, Macaroon, Minter, Preimage};
use l402_lightning::Receiver;
use l402_lightning::dev::DevNode;
use tower::{ServiceExt, service_fn};

use super::{L402Layer, L402LayerBuilder, PriceError, Quote};
use crate::Paid;
use crate::token_cache::{SHARDS, TokenCache};

const KEYS: [u8; 32] = [7; 32];

async fn receiver() -> (DevNode, Arc<dyn Receiver>) {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let wallet: Arc<dyn Receiver> = Arc::new(node.wallet("merchant").await.unwrap());
    (node, wallet)
}

async fn builder() -> (DevNode, L402LayerBuilder) {
    let (node, receiver) = receiver().await;
    (node, L402Layer::builder(receiver, Keyring::new(1, KEYS)))
}

/// The inner service: 200 with the paid resource, or "free".
async fn handler(request: Request<Empty<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = match request.extensions().get::<Paid>() {
        Some(paid) => format!("paid {} for {}", paid.amount_sats, paid.resource),
        None => "free".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

fn token(resource: &str, price: u64, extra: &[Caveat]) -> (Macaroon, Preimage) {
    let preimage = Preimage::from([9; 32]);
    let mut caveats = vec![
        Caveat::resource(resource),
        Caveat::amount_sats(price),
        Caveat::valid_until(l402::time::unix_now() + 3600),
    ];
    caveats.extend_from_slice(extra);
    let macaroon = Minter::new(Keyring::new(1, KEYS))
        .mint(preimage.payment_hash(), &caveats)
        .unwrap();
    (macaroon, preimage)
}

fn credential(resource: &str, price: u64) -> String {
    let (macaroon, preimage) = token(resource, price, &[]);
    Credential::new(macaroon, preimage).to_string()
}

async fn call<P: super::Pricing>(
    layer: &L402Layer<P>,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, http::HeaderMap, String) {
    let service = tower::Layer::layer(layer, service_fn(handler));
    let mut request = Request::get(path);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = service
        .oneshot(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn code(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    value["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_free_price_forwards_without_a_paid_value() {
    let (_node, b) = builder().await;
    let (status, _, body) = call(&b.price_sats(0).build(), "/a", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "free"));
}

#[tokio::test]
async fn no_credential_or_another_scheme_gets_a_challenge() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).build();
    for auth in [None, Some("Bearer abc"), Some("Basic dXNlcjpwYXNz")] {
        let (status, headers, body) = call(&layer, "/a", auth).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{auth:?}");
        assert!(headers.contains_key("www-authenticate"));
        assert_eq!(code(&body), "payment_required");
    }
}

#[tokio::test]
async fn a_paid_credential_reaches_the_service_with_the_paid_value() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).build();
    let (status, _, body) = call(&layer, "/a", Some(&credential("/a", 5))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "paid 5 for /a"));
}

#[tokio::test]
async fn a_malformed_credential_gets_401_without_a_challenge() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).build();
    let (status, headers, body) = call(&layer, "/a", Some("LSAT not-a-macaroon:00")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(code(&body), "malformed_credential");
}

#[tokio::test]
async fn forged_and_unpaid_credentials_get_401_with_their_code() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).build();
    let (macaroon, _) = token("/a", 5, &[]);
    let unpaid = Credential::new(macaroon, Preimage::from([1; 32])).to_string();
    let (status, headers, body) = call(&layer, "/a", Some(&unpaid)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(code(&body), "wrong_preimage");

    let preimage = Preimage::from([9; 32]);
    let forged = Minter::new(Keyring::new(1, [8; 32]))
        .mint(preimage.payment_hash(), &[Caveat::resource("/a")])
        .unwrap();
    let forged = Credential::new(forged, preimage).to_string();
    let (status, _, body) = call(&layer, "/a", Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "forged_token");
}

#[tokio::test]
async fn a_genuine_token_for_another_resource_gets_a_fresh_challenge() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).build();
    let auth = credential("/b", 5);
    // Cached on /b first, then refused on /a from the cache.
    assert_eq!(call(&layer, "/b", Some(&auth)).await.0, StatusCode::OK);
    // The spelling is remembered now, and still checked on every request.
    assert!(
        layer
            .core
            .tokens
            .key_for_spelling(auth.as_bytes())
            .is_some()
    );
    let (status, headers, _) = call(&layer, "/a", Some(&auth)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(call(&layer, "/b", Some(&auth)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_rejection_hook_decides_when_it_answers() {
    let (_node, b) = builder().await;
    let layer = b
        .price_sats(5)
        .on_rejection(|r| {
            let mut response = Response::new(Bytes::from(r.code()));
            *response.status_mut() = StatusCode::FORBIDDEN;
            Some(response)
        })
        .build();
    let (macaroon, _) = token("/a", 5, &[]);
    let unpaid = Credential::new(macaroon, Preimage::from([1; 32])).to_string();
    let (status, _, body) = call(&layer, "/a", Some(&unpaid)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "wrong_preimage")
    );
}

#[tokio::test]
async fn an_oversized_authorization_gets_431() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).max_authorization_bytes(100).build();
    let (status, _, body) = call(&layer, "/a", Some(&"L402 ".repeat(30))).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(code(&body), "header_too_large");
}

#[tokio::test]
async fn a_failing_price_gets_503_without_the_cause() {
    let (_node, b) = builder().await;
    let layer = b
        .pricing(|_: &http::request::Parts| async {
            Err::<u64, _>(PriceError::new("feed at http://10.0.0.1/secret is down"))
        })
        .retry_after_secs(9)
        .build();
    let (status, headers, body) = call(&layer, "/a", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "9");
    assert_eq!(code(&body), "price_unavailable");
    assert!(!body.contains("10.0.0.1"), "{body}");
}

#[tokio::test]
async fn a_quote_binds_the_token_to_its_resource_and_price() {
    let (_node, b) = builder().await;
    let layer = b
        .pricing(|parts: &http::request::Parts| {
            let big = parts.uri.query() == Some("big");
            async move { Ok::<_, PriceError>(Quote::sats(if big { 9 } else { 3 }).resource("img")) }
        })
        .build();
    let (status, _, body) = call(&layer, "/x?big", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["l402"]["resource"], "img");
    assert_eq!(body["l402"]["amount_sats"], 9);
    let (status, _, body) = call(&layer, "/y", Some(&credential("img", 3))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "paid 3 for img"));
    let (status, _, _) = call(&layer, "/y?big", Some(&credential("img", 3))).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn a_backend_that_cannot_mint_gets_503_with_no_backend_detail() {
    let down: Arc<dyn Receiver> = Arc::new(
        l402_lightning::lnbits::LnbitsClient::builder("http://127.0.0.1:9")
            .invoice_key("x")
            .timeout(std::time::Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let layer = L402Layer::builder(down, Keyring::new(1, KEYS))
        .price_sats(5)
        .build();
    let (status, headers, body) = call(&layer, "/a", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(code(&body), "invoice_unavailable");
    assert!(!body.contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn the_service_gives_access_to_the_inner_one() {
    let (_node, b) = builder().await;
    let mut service = tower::Layer::layer(&b.build(), 7u8);
    assert_eq!(*service.get_ref(), 7);
    *service.get_mut() = 8;
    assert_eq!(service.into_inner(), 8);
}

/// The spellings of one credential that parse to the same token.
fn spellings(macaroon: &Macaroon, preimage: &Preimage) -> Vec<String> {
    let text = Credential::new(macaroon.clone(), preimage.clone()).to_string();
    let (head, hex) = text.rsplit_once(':').unwrap();
    let mac = head.strip_prefix("L402 ").unwrap();
    let url = mac.replace('+', "-").replace('/', "_");
    let mut out = Vec::new();
    for scheme in ["L402", "LSAT", "l402", "lsat"] {
        for m in [
            mac,
            mac.trim_end_matches('='),
            &url,
            url.trim_end_matches('='),
        ] {
            for (before, after) in [("", ""), ("  ", " "), ("\t", "  ")] {
                out.push(format!("{scheme} {before}{m}{after}:{after}{hex}"));
                out.push(format!(
                    "{scheme} {before}{m}{after}:{}",
                    hex.to_uppercase()
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_spelling_of_one_token_is_one_cache_entry() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).build();
    let (macaroon, preimage) = token("/a", 5, &[]);
    let all = spellings(&macaroon, &preimage);
    assert!(all.len() >= 90);
    for auth in &all {
        assert_eq!(
            call(&layer, "/a", Some(auth)).await.0,
            StatusCode::OK,
            "{auth}"
        );
    }
    assert_eq!(layer.core.tokens.len(), 1);
}

#[tokio::test]
async fn narrowed_copies_of_one_token_stay_within_the_byte_bound() {
    let (_node, b) = builder().await;
    let (macaroon, preimage) = token("/a", 5, &[]);
    let cost = TokenCache::entry_cost(&crate::token_cache::Token {
        payment_hash: preimage.payment_hash(),
        token_id: l402::TokenId([0; 32]),
        caveats: vec![
            Caveat::resource("/a"),
            Caveat::amount_sats(5),
            Caveat::valid_until(4_000_000_000),
            Caveat::valid_until(4_000_000_000),
        ]
        .into(),
        valid_until: None,
        recheck_at: None,
    });
    let budget = cost * 8 * SHARDS;
    let layer = b.price_sats(5).token_cache_bytes(budget).build();
    // Each added caveat makes another signature: another entry.
    let until = l402::time::unix_now() + 3000;
    for i in 0..(40 * SHARDS as u64) {
        let mut narrowed = macaroon.clone();
        narrowed
            .add_first_party_caveat(format!("valid_until={}", until - i))
            .unwrap();
        let auth = Credential::new(narrowed, preimage.clone()).to_string();
        assert_eq!(call(&layer, "/a", Some(&auth)).await.0, StatusCode::OK);
        assert!(layer.core.tokens.bytes() <= budget);
    }
    assert!(
        layer.core.tokens.len() >= 4 * SHARDS,
        "{}",
        layer.core.tokens.len()
    );
    assert!(
        layer.core.tokens.len() <= 8 * SHARDS,
        "{}",
        layer.core.tokens.len()
    );
    // After all that eviction the original still verifies.
    let auth = Credential::new(macaroon, preimage).to_string();
    assert_eq!(call(&layer, "/a", Some(&auth)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_gets_a_challenge_and_leaves_the_cache() {
    let (_node, b) = builder().await;
    let layer = b.price_sats(5).build();
    let preimage = Preimage::from([9; 32]);
    let now = l402::time::unix_now();
    let macaroon = Minter::new(Keyring::new(1, KEYS))
        .mint(
            preimage.payment_hash(),
            &[Caveat::resource("/a"), Caveat::valid_until(now + 1)],
        )
        .unwrap();
    let auth = Credential::new(macaroon, preimage).to_string();
    assert_eq!(call(&layer, "/a", Some(&auth)).await.0, StatusCode::OK);
    assert_eq!(layer.core.tokens.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        call(&layer, "/a", Some(&auth)).await.0,
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(layer.core.tokens.len(), 0);
}

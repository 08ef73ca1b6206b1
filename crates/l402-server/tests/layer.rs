//! The L402 layer over real HTTP, with the embedded dev node minting and
//! paying real regtest invoices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderName, StatusCode};
use l402::{Challenges, Credential, Identifier, Invoice, Keyring, Macaroon, Preimage};
use l402_lightning::dev::{DevNode, DevWallet};
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{PayRequest, Receiver, Wallet};
use l402_server::{L402Layer, Paid};
use serde_json::{Value, json};

struct Harness {
    base: String,
    http: reqwest::Client,
    buyer: DevWallet,
    _node: DevNode,
}

async fn paid_json(paid: Paid) -> axum::Json<Value> {
    axum::Json(json!({
        "resource": paid.resource,
        "amount_sats": paid.amount_sats,
        "payment_hash": paid.payment_hash.to_string(),
        "token_id": paid.token_id.to_string(),
        "valid_until": paid.valid_until,
    }))
}

async fn start() -> Harness {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant: Arc<dyn Receiver> = Arc::new(node.wallet("merchant").await.unwrap());
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(1_000_000).await.unwrap();
    let keys = Keyring::new(1, [7; 32]);
    let layer = |price: u64| L402Layer::builder(merchant.clone(), keys.clone()).price_sats(price);

    // A receiver that cannot mint: LNbits at a closed port.
    let down: Arc<dyn Receiver> = Arc::new(
        LnbitsClient::builder("http://127.0.0.1:9")
            .invoice_key("x")
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    );

    let app = Router::new()
        .route("/paid", get(paid_json).layer(layer(21).build()))
        .route("/other", get(paid_json).layer(layer(21).build()))
        .route(
            "/shared-cheap",
            get(paid_json).layer(layer(21).resource("shared").build()),
        )
        .route(
            "/shared-dear",
            get(paid_json).layer(layer(100).resource("shared").build()),
        )
        .route(
            "/short",
            get(paid_json).layer(layer(5).token_lifetime(Duration::from_secs(1)).build()),
        )
        .route(
            "/idempotent",
            get(paid_json).layer(
                layer(3)
                    .idempotency_header(HeaderName::from_static("x-idempotency-key"))
                    .build(),
            ),
        )
        .route(
            "/hooked",
            get(paid_json).layer(
                layer(8)
                    .on_rejection(|r| {
                        let mut resp =
                            http::Response::new(Bytes::from(format!("custom:{}", r.code())));
                        *resp.status_mut() = StatusCode::FORBIDDEN;
                        Some(resp)
                    })
                    .build(),
            ),
        )
        .route(
            "/weather-up",
            get(paid_json).layer(layer(13).resource("weather").build()),
        )
        .route(
            "/weather-down",
            get(paid_json).layer(
                L402Layer::builder(down, keys.clone())
                    .price_sats(13)
                    .resource("weather")
                    .retry_after_secs(7)
                    .build(),
            ),
        )
        .route(
            "/dynamic",
            get(paid_json).layer(
                layer(1)
                    .pricing(|parts: &http::request::Parts| {
                        let n: u64 = parts
                            .uri
                            .query()
                            .and_then(|q| q.strip_prefix("n="))
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1);
                        async move { Ok::<_, l402_server::PriceError>(n * 2) }
                    })
                    .build(),
            ),
        )
        .route("/free", get(|| async { "free" }))
        .route("/unwrapped-paid", get(paid_json));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        buyer,
        _node: node,
    }
}

impl Harness {
    async fn get(&self, path: &str, authorization: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        req.send().await.unwrap()
    }

    /// GET, expect a 402, check it completely, pay it; return the credential.
    async fn buy(&self, path: &str) -> Credential {
        let resp = self.get(path, None).await;
        assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED, "{path}");
        let challenge = challenge_of(resp).await;
        let macaroon: Macaroon = challenge.macaroon.parse().unwrap();
        let id = Identifier::from_bytes(macaroon.identifier()).unwrap();
        let invoice: Invoice = challenge.invoice.parse().unwrap();
        assert_eq!(invoice.payment_hash(), id.payment_hash);
        let payment = self
            .buyer
            .pay(&PayRequest::new(challenge.invoice.clone()))
            .await
            .unwrap();
        assert!(payment.preimage.matches(&id.payment_hash));
        Credential::new(macaroon, payment.preimage)
    }
}

async fn challenge_of(resp: reqwest::Response) -> l402::Challenge {
    let values: Vec<String> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    Challenges::parse(values.iter().map(String::as_str))
        .l402()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn pay_then_access_with_the_paid_value_in_the_handler() {
    let h = start().await;
    let resp = h.get("/paid", None).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    let headers = resp.headers().clone();
    let www: Vec<_> = headers.get_all("www-authenticate").iter().collect();
    assert_eq!(www.len(), 1);
    let www = www[0].to_str().unwrap();
    assert!(www.starts_with("L402 macaroon=\""), "{www}");
    assert!(www.contains("\", invoice=\"lnbcrt"), "{www}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "Payment Required");
    let l402 = &body["l402"];
    assert_eq!(l402["amount_sats"], 21);
    assert_eq!(l402["resource"], "/paid");
    let challenge = Challenges::parse([www]).l402().unwrap().clone();
    assert_eq!(l402["macaroon"], challenge.macaroon.as_str());
    assert_eq!(l402["invoice"], challenge.invoice.as_str());
    let invoice: Invoice = challenge.invoice.parse().unwrap();
    assert_eq!(l402["payment_hash"], invoice.payment_hash().to_string());
    assert_eq!(invoice.amount_msat(), Some(21_000));
    assert!(l402["expires_at"].as_str().unwrap().ends_with('Z'));

    let credential = h.buy("/paid").await;
    let resp = h.get("/paid", Some(&credential.to_string())).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let paid: Value = resp.json().await.unwrap();
    assert_eq!(paid["resource"], "/paid");
    assert_eq!(paid["amount_sats"], 21);
    let id = Identifier::from_bytes(credential.macaroon().identifier()).unwrap();
    assert_eq!(paid["payment_hash"], id.payment_hash.to_string());
    assert_eq!(paid["token_id"], id.token_id.to_string());
    assert!(paid["valid_until"].as_u64().unwrap() > l402_server::unix_now());

    // The token stays good until it expires.
    let again = h.get("/paid", Some(&credential.to_string())).await;
    assert_eq!(again.status(), StatusCode::OK);
    // LSAT scheme, lower case, URL-safe unpadded macaroon: the same credential.
    let variant = credential
        .to_string()
        .replacen("L402", "lsat", 1)
        .replace('+', "-")
        .replace('/', "_")
        .replace('=', "");
    assert_eq!(
        h.get("/paid", Some(&variant)).await.status(),
        StatusCode::OK
    );
    // Free routes stay free.
    assert_eq!(h.get("/free", None).await.text().await.unwrap(), "free");
}

#[tokio::test]
async fn forged_and_unpaid_credentials_get_401_without_a_challenge() {
    let h = start().await;
    let credential = h.buy("/paid").await;

    // Wrong preimage.
    let wrong = Credential::new(credential.macaroon().clone(), Preimage::from([1; 32]));
    let resp = h.get("/paid", Some(&wrong.to_string())).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "wrong_preimage");

    // Tampered: the amount caveat rewritten, signature kept.
    let mac = credential.macaroon();
    let caveats = mac
        .caveats()
        .map(|c| {
            if c.starts_with(b"amount_sats=") {
                b"amount_sats=1".to_vec()
            } else {
                c.to_vec()
            }
        })
        .collect();
    let tampered =
        Macaroon::from_raw_parts("lsat", mac.identifier().to_vec(), caveats, *mac.signature());
    let forged = Credential::new(tampered, credential.preimage().clone());
    let resp = h.get("/paid", Some(&forged.to_string())).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_none());
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "forged_token");

    // A token minted with another server's secret (l402-kit's self-minted hole).
    let other = l402::Minter::new(Keyring::new(1, [8; 32]))
        .mint(
            credential.preimage().payment_hash(),
            &[l402::Caveat::resource("/paid")],
        )
        .unwrap();
    let resp = h
        .get(
            "/paid",
            Some(&Credential::new(other, credential.preimage().clone()).to_string()),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The rejection hook decides when set.
    let hooked = h.buy("/hooked").await;
    let bad = Credential::new(hooked.macaroon().clone(), Preimage::from([2; 32]));
    let resp = h.get("/hooked", Some(&bad.to_string())).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.text().await.unwrap(), "custom:wrong_preimage");
}

#[tokio::test]
async fn genuine_tokens_for_another_resource_price_or_time_get_a_fresh_402() {
    let h = start().await;
    let credential = h.buy("/paid").await;
    let old_hash = Identifier::from_bytes(credential.macaroon().identifier())
        .unwrap()
        .payment_hash;

    // Replayed on another resource at the same price.
    let resp = h.get("/other", Some(&credential.to_string())).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    let fresh = challenge_of(resp).await;
    let fresh_invoice: Invoice = fresh.invoice.parse().unwrap();
    assert_ne!(
        fresh_invoice.payment_hash(),
        old_hash,
        "a new invoice, not the old one"
    );

    // Same resource name, another price.
    let cheap = h.buy("/shared-cheap").await;
    assert_eq!(
        h.get("/shared-cheap", Some(&cheap.to_string()))
            .await
            .status(),
        StatusCode::OK
    );
    let resp = h.get("/shared-dear", Some(&cheap.to_string())).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["l402"]["amount_sats"],
        100
    );

    // Expired.
    let short = h.buy("/short").await;
    assert_eq!(
        h.get("/short", Some(&short.to_string())).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = h.get("/short", Some(&short.to_string())).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(resp.headers().get("www-authenticate").is_some());
}

#[tokio::test]
async fn a_hundred_simultaneous_first_requests_each_get_their_own_valid_challenge() {
    let h = Arc::new(start().await);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let resp = h.get("/paid", None).await;
            assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
            let challenge = challenge_of(resp).await;
            let macaroon: Macaroon = challenge.macaroon.parse().unwrap();
            let id = Identifier::from_bytes(macaroon.identifier()).unwrap();
            let invoice: Invoice = challenge.invoice.parse().unwrap();
            assert_eq!(invoice.payment_hash(), id.payment_hash);
            assert_eq!(invoice.amount_msat(), Some(21_000));
            id.payment_hash
        }));
    }
    let mut hashes = HashSet::new();
    for t in tasks {
        hashes.insert(t.await.unwrap());
    }
    assert_eq!(hashes.len(), 100, "every request got its own invoice");
}

#[tokio::test]
async fn a_backend_that_cannot_mint_gets_503_while_paid_tokens_keep_working() {
    let h = start().await;
    let resp = h.get("/weather-down", None).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert!(resp.headers().get("www-authenticate").is_none());
    assert_eq!(
        resp.json::<Value>().await.unwrap()["code"],
        "invoice_unavailable"
    );
    // A token bought where minting works verifies where it does not.
    let credential = h.buy("/weather-up").await;
    let resp = h.get("/weather-down", Some(&credential.to_string())).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// The dev node's wallet, counting the invoices it is asked to create.
struct CountingReceiver {
    inner: DevWallet,
    created: std::sync::atomic::AtomicUsize,
}

impl CountingReceiver {
    fn created(&self) -> usize {
        self.created.load(std::sync::atomic::Ordering::SeqCst)
    }
}

type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

// `Receiver` is an `async_trait`; these are its methods written out.
impl Receiver for CountingReceiver {
    fn backend(&self) -> l402_lightning::Backend {
        Receiver::backend(&self.inner)
    }

    fn create_invoice<'a, 'b, 'c>(
        &'a self,
        request: &'b l402_lightning::InvoiceRequest,
    ) -> Boxed<'c, Result<l402_lightning::Invoice, l402_lightning::ReceiveError>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.created
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.create_invoice(request)
    }

    fn lookup_invoice<'a, 'b, 'c>(
        &'a self,
        payment_hash: &'b l402::PaymentHash,
    ) -> Boxed<'c, Result<l402_lightning::InvoiceStatus, l402_lightning::ReceiveError>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.lookup_invoice(payment_hash)
    }
}

/// A server with one paid route (idempotent on `x-idempotency-key`) whose
/// receiver counts invoices, and one nested under `/api`.
async fn counting() -> (Harness, Arc<CountingReceiver>) {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let receiver = Arc::new(CountingReceiver {
        inner: node.wallet("merchant").await.unwrap(),
        created: 0.into(),
    });
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(1_000).await.unwrap();
    let keys = Keyring::new(1, [7; 32]);
    let layer = || {
        L402Layer::builder(receiver.clone(), keys.clone())
            .price_sats(4)
            .idempotency_header(HeaderName::from_static("x-idempotency-key"))
            .build()
    };
    let api = Router::new()
        .route("/weather", get(paid_json))
        .route_layer(layer());
    let app = Router::new()
        .route("/paid", get(paid_json))
        .route_layer(layer())
        .nest("/api", api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let h = Harness {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        buyer,
        _node: node,
    };
    (h, receiver)
}

#[tokio::test]
async fn malformed_l402_credentials_get_401_and_mint_no_invoice() {
    let (h, receiver) = counting().await;
    for bad in [
        "L402 garbage",
        "L402 AgEE:nothex",
        "L402",
        "lsat",
        "LSAT :::::",
        "L402 :0000",
        &format!("L402 {}:{}", "A".repeat(4000), "0".repeat(64)),
    ] {
        let resp = h.get("/paid", Some(bad)).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert!(resp.headers().get("www-authenticate").is_none(), "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "malformed_credential", "{bad}");
        assert_eq!(body["error"], "Unauthorized");
    }
    // Non-UTF-8 bytes after the scheme.
    let resp = h
        .http
        .get(format!("{}/paid", h.base))
        .header(
            "authorization",
            http::HeaderValue::from_bytes(b"L402 \xff\xfe:00").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Garbage in Aperture's gRPC metadata form.
    let resp = h
        .http
        .get(format!("{}/paid", h.base))
        .header("grpc-metadata-macaroon", "zz-not-hex")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(receiver.created(), 0, "garbage minted no invoice");

    // Another scheme is no credential at all: a challenge.
    let resp = h.get("/paid", Some("Bearer abc")).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(receiver.created(), 1);
}

#[tokio::test]
async fn oversized_headers_get_431_or_another_4xx() {
    let h = start().await;
    // Over the layer's limit: 431 with a JSON code.
    let big = format!("L402 {}:{}", "A".repeat(20_000), "0".repeat(64));
    let resp = h.get("/paid", Some(&big)).await;
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["code"],
        "header_too_large"
    );
    // A 1 MB header: still a 4xx answer, not a reset or a 5xx.
    let huge = format!("L402 {}:{}", "A".repeat(1 << 20), "0".repeat(64));
    let resp = h.get("/paid", Some(&huge)).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_get_one_invoice() {
    let (h, receiver) = counting().await;
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let resp = h
                .http
                .get(format!("{}/paid", h.base))
                .header("x-idempotency-key", "order-1")
                .send()
                .await
                .unwrap();
            challenge_of(resp).await
        }));
    }
    let mut challenges = HashSet::new();
    for t in tasks {
        challenges.insert(t.await.unwrap().invoice);
    }
    assert_eq!(challenges.len(), 1, "one challenge for one key");
    assert_eq!(receiver.created(), 1, "one invoice for one key");

    // A key over the limit is refused, not silently ignored.
    let resp = h
        .http
        .get(format!("{}/paid", h.base))
        .header("x-idempotency-key", "k".repeat(257))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "invalid_idempotency_key");
    assert_eq!(body["field"], "x-idempotency-key");
    assert_eq!(receiver.created(), 1);
}

#[tokio::test]
async fn the_default_resource_is_the_full_path_under_a_nested_router() {
    let (h, _receiver) = counting().await;
    let resp = h.get("/api/weather", None).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["l402"]["resource"],
        "/api/weather"
    );
    let credential = h.buy("/api/weather").await;
    let resp = h.get("/api/weather", Some(&credential.to_string())).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["resource"],
        "/api/weather"
    );
    // Not good for another route of the same price.
    let resp = h.get("/paid", Some(&credential.to_string())).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn one_token_in_many_spellings_is_accepted_in_each() {
    let h = start().await;
    let credential = h.buy("/paid").await;
    let text = credential.to_string();
    let (scheme_and_mac, preimage) = text.rsplit_once(':').unwrap();
    let mac = scheme_and_mac.strip_prefix("L402 ").unwrap();
    let url_safe = mac.replace('+', "-").replace('/', "_");
    let mut narrowed = credential.macaroon().clone();
    narrowed
        .add_first_party_caveat(format!("valid_until={}", l402_server::unix_now() + 600))
        .unwrap();
    for spelling in [
        format!("L402 {mac}:{preimage}"),
        format!("LSAT {mac}:{preimage}"),
        format!("l402   {mac} : {preimage} "),
        format!("L402 {}:{preimage}", mac.trim_end_matches('=')),
        format!("L402 {url_safe}:{preimage}"),
        format!("L402 {mac}:{}", preimage.to_uppercase()),
        Credential::new(narrowed, credential.preimage().clone()).to_string(),
    ] {
        let resp = h.get("/paid", Some(&spelling)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{spelling}");
    }
}

#[tokio::test]
async fn idempotency_key_returns_the_same_challenge_within_the_window() {
    let h = start().await;
    let get = |key: &'static str| {
        h.http
            .get(format!("{}/idempotent", h.base))
            .header("x-idempotency-key", key)
            .send()
    };
    let a = challenge_of(get("k1").await.unwrap()).await;
    let b = challenge_of(get("k1").await.unwrap()).await;
    let c = challenge_of(get("k2").await.unwrap()).await;
    assert_eq!(a, b);
    assert_ne!(a.invoice, c.invoice);
    // Without a key, every request mints.
    let d = challenge_of(h.get("/idempotent", None).await).await;
    let e = challenge_of(h.get("/idempotent", None).await).await;
    assert_ne!(d.invoice, e.invoice);
}

#[tokio::test]
async fn async_prices_bind_the_token_to_the_computed_price() {
    let h = start().await;
    let resp = h.get("/dynamic?n=5", None).await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["l402"]["amount_sats"],
        10
    );
    let credential = h.buy("/dynamic?n=5").await;
    assert_eq!(
        h.get("/dynamic?n=5", Some(&credential.to_string()))
            .await
            .status(),
        StatusCode::OK
    );
    // Same path, a request that costs more: not covered by the token.
    let resp = h.get("/dynamic?n=6", Some(&credential.to_string())).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn grpc_requests_get_apertures_status_13() {
    let h = start().await;
    let resp = h
        .http
        .get(format!("{}/paid", h.base))
        .header("content-type", "application/grpc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["grpc-status"], "13");
    assert_eq!(resp.headers()["grpc-message"], "payment required");
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("L402 macaroon=")
    );
}

#[tokio::test]
async fn grpc_metadata_credentials_are_accepted() {
    let h = start().await;
    let credential = h.buy("/paid").await;
    let mut mac = credential.macaroon().clone();
    mac.add_first_party_caveat(format!("preimage={}", credential.preimage().to_hex()))
        .unwrap();
    let resp = h
        .http
        .get(format!("{}/paid", h.base))
        .header("grpc-metadata-macaroon", hex::encode(mac.to_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_paid_extractor_outside_the_layer_is_a_500_with_a_code() {
    let h = start().await;
    let resp = h.get("/unwrapped-paid", None).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["code"],
        "l402_layer_missing"
    );
}

struct CountingRecorder {
    fail: bool,
    challenges: std::sync::atomic::AtomicUsize,
    paid: std::sync::atomic::AtomicUsize,
}

impl l402_server::SalesRecorder for CountingRecorder {
    fn challenge_issued(
        &self,
        _issued: &l402_server::IssuedChallenge,
    ) -> l402_server::BoxFuture<Result<(), l402_server::RecordError>> {
        self.challenges
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let fail = self.fail;
        Box::pin(async move {
            if fail {
                Err(l402_server::RecordError::new("store down"))
            } else {
                Ok(())
            }
        })
    }

    fn paid_request(&self, _paid: &Paid) -> Option<l402_server::BoxFuture<()>> {
        self.paid.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        None
    }
}

#[tokio::test]
async fn the_recorder_sees_each_sale_and_a_failed_record_is_not_sent() {
    use std::sync::atomic::Ordering::SeqCst;
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant: Arc<dyn Receiver> = Arc::new(node.wallet("merchant").await.unwrap());
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(100).await.unwrap();
    let ok = Arc::new(CountingRecorder {
        fail: false,
        challenges: 0.into(),
        paid: 0.into(),
    });
    let down = Arc::new(CountingRecorder {
        fail: true,
        challenges: 0.into(),
        paid: 0.into(),
    });
    let keys = Keyring::new(1, [7; 32]);
    let app = Router::new()
        .route(
            "/ok",
            get(paid_json).layer(
                L402Layer::builder(merchant.clone(), keys.clone())
                    .price_sats(2)
                    .recorder(ok.clone())
                    .build(),
            ),
        )
        .route(
            "/down",
            get(paid_json).layer(
                L402Layer::builder(merchant, keys)
                    .price_sats(2)
                    .recorder(down.clone())
                    .build(),
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let h = Harness {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        buyer,
        _node: node,
    };

    let credential = h.buy("/ok").await;
    assert_eq!(ok.challenges.load(SeqCst), 1);
    for _ in 0..3 {
        assert_eq!(
            h.get("/ok", Some(&credential.to_string())).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        ok.paid.load(SeqCst),
        3,
        "every paid request is shown to the recorder"
    );

    let resp = h.get("/down", None).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        resp.headers().get("www-authenticate").is_none(),
        "an unrecorded challenge is not sent"
    );
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "record_failed");
    assert_eq!(down.challenges.load(SeqCst), 1);
}

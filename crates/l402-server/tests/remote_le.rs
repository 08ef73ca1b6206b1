//! The remote layer (`L402Layer::remote`) over real HTTP in front of a
//! producer that answers in Lightning Enable's exact shapes, with real
//! regtest invoices from the embedded dev node, paid by its buyer wallet.
//!
//! The shapes were checked against the `lightning-enable-mcp` PyPI package
//! (2.1.1, `lightning_enable_mcp/lightning_enable_api.py`, the producer
//! client): it sends `X-Api-Key`, `Accept` and `Content-Type:
//! application/json`; `POST /api/l402/challenges` with `{"resource",
//! "priceSats"[, "description"]}` and reads `invoice`, `macaroon`,
//! `paymentHash`, `expiresAt`; `POST /api/l402/challenges/verify` with
//! `{"macaroon","preimage"}` and reads `valid` (default false) and
//! `resource`; any status >= 400 is an error whose text is `message`, else
//! `error`. The rest follows `reference/wire-format.md` §9 (the `l402-server`
//! npm package): exactly 200, `priceSats`, `resource`, `mppChallenge: null`,
//! verify's `merchantId` (a GUID string there), `amountSats`,
//! `paymentHash`, and a refused token as `200 {"valid":false,"error"}` with
//! no `code`. `expiresAt` is written as .NET writes a `DateTimeOffset` (seven
//! fraction digits and `+00:00`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderName, StatusCode};
use l402::mint::{Minter, Verifier};
use l402::{Caveat, Credential, Keyring, Macaroon, Preimage, RequestContext};
use l402_lightning::dev::{DevNode, DevWallet};
use l402_lightning::{InvoiceRequest, PayRequest, Receiver, Wallet};
use l402_server::{L402Layer, Paid, RemoteProducer};
use serde_json::{Value, json};

const KEY: &str = "le_test_merchant_key";
const MERCHANT: &str = "6f1c2a9e-3b7d-4c1e-9a2f-8d5e4b3a2c1d";

/// Normal, 500, slow (2 s), not JSON.
const NORMAL: u8 = 0;
const FAILING: u8 = 1;
const SLOW: u8 = 2;
const GARBAGE: u8 = 3;

struct Le {
    /// TCP connections the producer accepted.
    connections: Arc<AtomicUsize>,
    receiver: Arc<dyn Receiver>,
    minter: Minter,
    verifier: Verifier,
    mode: AtomicU8,
    challenges: AtomicUsize,
    verifies: AtomicUsize,
    keys_seen: Mutex<Vec<String>>,
    by_key: Mutex<HashMap<String, Value>>,
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "Unauthorized", "message": "Invalid API key"})),
    )
}

/// Lightning Enable's answers, after the mode's misbehaviour if any.
async fn misbehave(le: &Le) -> Option<(StatusCode, Json<Value>)> {
    match le.mode.load(Ordering::SeqCst) {
        FAILING => Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "Internal Server Error"})),
        )),
        SLOW => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            None
        }
        _ => None,
    }
}

fn key_ok(headers: &HeaderMap) -> bool {
    headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(KEY)
        && headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/json")
}

async fn create(
    State(le): State<Arc<Le>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if le.mode.load(Ordering::SeqCst) == GARBAGE {
        return (StatusCode::OK, "<html>maintenance</html>").into_response();
    }
    if let Some(answer) = misbehave(&le).await {
        return answer.into_response();
    }
    if !key_ok(&headers) {
        return unauthorized().into_response();
    }
    let key = headers
        .get("x-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(key) = &key {
        le.keys_seen.lock().unwrap().push(key.clone());
        if let Some(same) = le.by_key.lock().unwrap().get(key) {
            return (StatusCode::OK, Json(same.clone())).into_response();
        }
    }
    let resource = body["resource"].as_str().unwrap().to_owned();
    let price = body["priceSats"].as_u64().unwrap();
    let memo = body["description"].as_str().unwrap_or(&resource).to_owned();
    let invoice = le
        .receiver
        .create_invoice(&InvoiceRequest::sats(price).memo(memo))
        .await
        .unwrap();
    let valid_until = l402_server::unix_now() + 3600;
    let macaroon = le
        .minter
        .mint(
            invoice.payment_hash,
            &[
                Caveat::merchant(MERCHANT),
                Caveat::resource(&resource),
                Caveat::amount_sats(price),
                Caveat::valid_until(valid_until),
            ],
        )
        .unwrap();
    le.challenges.fetch_add(1, Ordering::SeqCst);
    let expires = l402_server::rfc3339(invoice.expires_at_unix());
    let answer = json!({
        "invoice": invoice.bolt11,
        "macaroon": macaroon.to_string(),
        "paymentHash": invoice.payment_hash.to_string(),
        "expiresAt": expires.replace('Z', ".0000000+00:00"),
        "resource": resource,
        "priceSats": price,
        "mppChallenge": null,
    });
    if let Some(key) = key {
        le.by_key.lock().unwrap().insert(key, answer.clone());
    }
    (StatusCode::OK, Json(answer)).into_response()
}

async fn verify(
    State(le): State<Arc<Le>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if let Some(answer) = misbehave(&le).await {
        return answer;
    }
    if !key_ok(&headers) {
        return unauthorized();
    }
    le.verifies.fetch_add(1, Ordering::SeqCst);
    let macaroon: Macaroon = body["macaroon"].as_str().unwrap().parse().unwrap();
    let preimage: Preimage = body["preimage"].as_str().unwrap().parse().unwrap();
    let resource = body["resource"].as_str().unwrap();
    let amount = body["amountSats"].as_u64().unwrap();
    let ctx = RequestContext::now()
        .merchant(MERCHANT)
        .resource(resource)
        .amount_sats(amount);
    let answer = match le
        .verifier
        .verify(&Credential::new(macaroon, preimage), &ctx)
    {
        Ok(v) => json!({
            "valid": true,
            "resource": v.caveat("resource"),
            "merchantId": MERCHANT,
            "amountSats": amount,
            "paymentHash": v.payment_hash().to_string(),
        }),
        // No code: Lightning Enable sends only the text.
        Err(_) => json!({"valid": false, "error": "Invalid L402 token"}),
    };
    (StatusCode::OK, Json(answer))
}

async fn paid_json(paid: Paid) -> Json<Value> {
    Json(json!({
        "resource": paid.resource,
        "amount_sats": paid.amount_sats,
        "payment_hash": paid.payment_hash.to_string(),
        "valid_until": paid.valid_until,
        "caveats": paid.caveats.len(),
    }))
}

/// A listener that counts the connections it accepts.
struct Counting {
    inner: tokio::net::TcpListener,
    accepted: Arc<AtomicUsize>,
}

impl axum::serve::Listener for Counting {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok(accepted) = self.inner.accept().await {
                self.accepted.fetch_add(1, Ordering::SeqCst);
                return accepted;
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

struct Harness {
    app: String,
    le: Arc<Le>,
    buyer: DevWallet,
    http: reqwest::Client,
    _node: DevNode,
}

async fn start() -> Harness {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(100_000).await.unwrap();
    let keys = Keyring::new(3, [9; 32]);
    let connections = Arc::new(AtomicUsize::new(0));
    let le = Arc::new(Le {
        connections: connections.clone(),
        receiver: Arc::new(node.wallet("merchant").await.unwrap()),
        minter: Minter::new(keys.clone()),
        verifier: Verifier::new(keys),
        mode: AtomicU8::new(NORMAL),
        challenges: AtomicUsize::new(0),
        verifies: AtomicUsize::new(0),
        keys_seen: Mutex::new(Vec::new()),
        by_key: Mutex::new(HashMap::new()),
    });
    let listener = Counting {
        inner: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        accepted: connections,
    };
    let producer_url = format!("http://{}", listener.inner.local_addr().unwrap());
    let producer = Router::new()
        .route("/api/l402/challenges", post(create))
        .route("/api/l402/challenges/verify", post(verify))
        .with_state(le.clone());
    tokio::spawn(async move { axum::serve(listener, producer).await.unwrap() });

    let shared = RemoteProducer::builder(KEY)
        .base_url(format!("{producer_url}/"))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // One slot, short timeouts: the bound on calls in flight is visible.
    let tight = RemoteProducer::builder(KEY)
        .base_url(&producer_url)
        .timeout(Duration::from_millis(1000))
        .queue_timeout(Duration::from_millis(200))
        .max_in_flight(1)
        .build()
        .unwrap();
    let wrong_key = RemoteProducer::builder("revoked_or_mistyped")
        .base_url(&producer_url)
        .build()
        .unwrap();
    let layer = |p: &RemoteProducer, price: u64| L402Layer::remote(p.clone()).price_sats(price);
    let app = Router::new()
        .route("/paid", get(paid_json).layer(layer(&shared, 21).build()))
        .route("/other", get(paid_json).layer(layer(&shared, 21).build()))
        .route(
            "/dear",
            get(paid_json).layer(layer(&shared, 50).resource("/paid").build()),
        )
        .route(
            "/idempotent",
            get(paid_json).layer(
                layer(&shared, 3)
                    .idempotency_header(HeaderName::from_static("x-idempotency-key"))
                    .description("three sats of weather")
                    .build(),
            ),
        )
        .route(
            "/hooked",
            get(paid_json).layer(
                layer(&shared, 21)
                    .resource("/paid")
                    .on_rejection(|r| {
                        let mut response =
                            http::Response::new(bytes::Bytes::from(format!("hook:{}", r.code())));
                        *response.status_mut() = StatusCode::FORBIDDEN;
                        Some(response)
                    })
                    .build(),
            ),
        )
        .route("/tight", get(paid_json).layer(layer(&tight, 5).build()))
        .route(
            "/wrong-key",
            get(paid_json).layer(layer(&wrong_key, 5).build()),
        );
    Harness {
        app: serve(app).await,
        le,
        buyer,
        http: reqwest::Client::new(),
        _node: node,
    }
}

impl Harness {
    async fn get(&self, path: &str, auth: Option<&str>) -> (StatusCode, HeaderMap, Value) {
        let mut request = self.http.get(format!("{}{path}", self.app));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Buys `path`: the 402, the payment, the `Authorization` value.
    async fn buy(&self, path: &str) -> String {
        let (status, headers, body) = self.get(path, None).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("L402 macaroon=\"")
        );
        let paid = self
            .buyer
            .pay(&PayRequest::new(body["l402"]["invoice"].as_str().unwrap()))
            .await
            .unwrap();
        format!(
            "L402 {}:{}",
            body["l402"]["macaroon"].as_str().unwrap(),
            paid.preimage.to_hex()
        )
    }
}

#[tokio::test]
async fn lightning_enable_shapes_pay_once_then_serve_from_the_cache() {
    let h = start().await;
    let (status, headers, body) = h.get("/paid", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(headers["cache-control"], "no-store");
    // l402-express's body, from Lightning Enable's answer.
    let l402 = &body["l402"];
    assert_eq!(
        (l402["amount_sats"].as_u64(), l402["resource"].as_str()),
        (Some(21), Some("/paid"))
    );
    assert!(
        l402["expires_at"].as_str().unwrap().ends_with('Z'),
        "{body}"
    );
    assert_eq!(l402["payment_hash"].as_str().unwrap().len(), 64);
    // Without a key of the client's, each request its own fresh key.
    let (_, _, again) = h.get("/paid", None).await;
    assert_ne!(again["l402"]["payment_hash"], l402["payment_hash"]);
    {
        let seen = h.le.keys_seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_ne!(seen[0], seen[1]);
    }

    let auth = h.buy("/paid").await;
    let (status, _, paid) = h.get("/paid", Some(&auth)).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["resource"], "/paid");
    assert_eq!(paid["amount_sats"], 21);
    assert_eq!(paid["caveats"], 4, "merchant, resource, amount, expiry");
    assert!(paid["valid_until"].as_u64().unwrap() > l402_server::unix_now());
    assert_eq!(h.le.verifies.load(Ordering::SeqCst), 1);
    for _ in 0..5 {
        let (status, _, _) = h.get("/paid", Some(&auth)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        h.le.verifies.load(Ordering::SeqCst),
        1,
        "repeats are served from the cache, no round trip"
    );

    // The same token for another resource or price: genuine but bought for
    // something else, checked here as locally: 402 and a fresh challenge.
    let before = h.le.challenges.load(Ordering::SeqCst);
    for path in ["/other", "/dear"] {
        let (status, headers, body) = h.get(path, Some(&auth)).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{path}: {body}");
        assert!(headers.contains_key("www-authenticate"));
    }
    assert_eq!(h.le.challenges.load(Ordering::SeqCst), before + 2);
    // (Each layer has its own cache: the producer was asked once per route.)
    assert_eq!(h.le.verifies.load(Ordering::SeqCst), 3);

    // A wrong preimage: refused here, as locally, without asking the
    // producer: 401 with no challenge.
    let (mac, _) = auth.trim_start_matches("L402 ").split_once(':').unwrap();
    let forged = format!("L402 {mac}:{}", "00".repeat(32));
    let (status, headers, body) = h.get("/paid", Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(body["code"], "wrong_preimage");
    assert_eq!(h.le.verifies.load(Ordering::SeqCst), 3);

    // A token with a genuine payment but a forged signature: the producer
    // says `valid:false` with no code; the layer answers 401 `forged_token`.
    let preimage = Preimage::random().unwrap();
    let forged = Minter::new(Keyring::new(3, [1; 32]))
        .mint(
            preimage.payment_hash(),
            &[Caveat::resource("/paid"), Caveat::amount_sats(21)],
        )
        .unwrap();
    let forged = format!("L402 {forged}:{}", preimage.to_hex());
    let (status, headers, body) = h.get("/paid", Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(body["code"], "forged_token");
    assert_eq!(h.le.verifies.load(Ordering::SeqCst), 4);

    // The rejection hook decides, as locally; a good token still passes.
    let resp = h
        .http
        .get(format!("{}/hooked", h.app))
        .header("authorization", &forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.text().await.unwrap(), "hook:forged_token");
    let (status, _, _) = h.get("/hooked", Some(&auth)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn idempotency_key_goes_to_the_producer_and_a_repeat_gets_the_same_invoice() {
    let h = start().await;
    let send = |key: &'static str| {
        h.http
            .get(format!("{}/idempotent", h.app))
            .header("x-idempotency-key", key)
            .send()
    };
    let a: Value = send("order-7").await.unwrap().json().await.unwrap();
    let b: Value = send("order-7").await.unwrap().json().await.unwrap();
    let c: Value = send("order-8").await.unwrap().json().await.unwrap();
    assert_eq!(a["l402"]["invoice"], b["l402"]["invoice"]);
    assert_ne!(a["l402"]["invoice"], c["l402"]["invoice"]);
    assert_eq!(h.le.challenges.load(Ordering::SeqCst), 2);
    assert_eq!(
        *h.le.keys_seen.lock().unwrap(),
        ["order-7", "order-7", "order-8"]
    );
    // One connection for all three calls: the client reuses it.
    assert_eq!(h.le.connections.load(Ordering::SeqCst), 1);
    // A key breaking the shared rule never reaches the producer.
    let resp = send("has space").await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(h.le.keys_seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn producer_failures_are_503_with_retry_after_and_cached_tokens_keep_working() {
    let h = start().await;
    let auth = h.buy("/paid").await;
    let (status, _, _) = h.get("/paid", Some(&auth)).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = h.buy("/other").await; // paid, never presented yet

    for (mode, code) in [
        (FAILING, "producer_error"),
        (SLOW, "producer_unavailable"),
        (GARBAGE, "producer_bad_answer"),
    ] {
        h.le.mode.store(mode, Ordering::SeqCst);
        let (status, headers, body) = h.get("/paid", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{code}: {body}");
        assert_eq!(body["code"], code);
        assert!(headers.contains_key("retry-after"));
        assert!(!headers.contains_key("www-authenticate"));
        assert!(
            !body.to_string().contains("127.0.0.1"),
            "no producer URL for the caller"
        );
        // A credential verified before: served from the cache.
        let (status, _, _) = h.get("/paid", Some(&auth)).await;
        assert_eq!(status, StatusCode::OK, "{code}");
        if mode != GARBAGE {
            // One never verified: the producer must answer, and cannot.
            let (status, _, body) = h.get("/other", Some(&fresh)).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        }
    }
    h.le.mode.store(NORMAL, Ordering::SeqCst);
    let (status, _, _) = h.get("/other", Some(&fresh)).await;
    assert_eq!(status, StatusCode::OK);

    // A key the producer refuses: 503, never a challenge or a 401.
    let (status, headers, body) = h.get("/wrong-key", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "producer_refused_key");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn calls_in_flight_are_bounded() {
    let h = start().await;
    h.le.mode.store(SLOW, Ordering::SeqCst);
    // One slot: the first call holds it until it times out (1 s), the
    // second waits 200 ms for it and is told the producer is busy.
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        (h.get("/tight", None).await, started.elapsed())
    };
    let (first, (second, waited)) = tokio::join!(h.get("/tight", None), second);
    assert_eq!(first.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first.2["code"], "producer_unavailable", "{}", first.2);
    assert_eq!(second.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.2["code"], "producer_busy", "{}", second.2);
    assert!(second.1.contains_key("retry-after"));
    assert!(waited < Duration::from_millis(900), "{waited:?}");
    // Free again: a call gets through (and the producer answers).
    h.le.mode.store(NORMAL, Ordering::SeqCst);
    let (status, _, body) = h.get("/tight", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
}

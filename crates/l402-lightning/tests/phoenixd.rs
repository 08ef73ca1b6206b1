//! The phoenixd client against an in-process phoenixd: a fake that speaks
//! phoenixd's HTTP API as `ACINQ/phoenixd:src/commonMain/kotlin/fr/acinq/phoenixd/Api.kt`
//! (routes, Basic auth, form bodies, plain-text errors) and
//! `json/JsonSerializers.kt` (answers) define it, driven by the dev node's
//! ledger (real signed invoices and preimages; faults from `DevFault`).
//!
//! No real phoenixd runs here (it ships only as GitHub release binaries).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

#[macro_use]
mod backend_suite;
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backend_suite::{FakeNode, invoice};
use base64::Engine as _;
use l402_lightning::dev::DevWallet;
use l402_lightning::phoenixd::{PhoenixdClient, PhoenixdConfigError};
use l402_lightning::{
    Backend, BackendError, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError, PayOutcome,
    PayRequest, PaymentHash, ReceiveError, Receiver, Wallet, decode_invoice,
};
use serde_json::{Value, json};
use support::wire::{Cutter, serve};

// --- The fake phoenixd ---------------------------------------------------

const PASSWORD: &str = "full-access-password";
const LIMITED: &str = "limited-access-password";

/// One phoenixd node: a dev-node wallet behind phoenixd's API.
#[derive(Clone)]
struct Fake {
    wallet: DevWallet,
    /// The next `/payinvoice` pays, then its connection is cut unanswered.
    cut_next_pay: Arc<AtomicBool>,
    cutter: Cutter,
}

/// `Api.kt`: `basic { validate { credentials.password == full or limited } }`;
/// the user name is ignored. Returns whether the full-access password was given.
fn auth(headers: &HeaderMap) -> Result<bool, Response> {
    // `StatusPages`: 401 answers this text.
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            "Invalid authentication (use basic auth with the http password set in phoenix.conf)",
        )
            .into_response()
    };
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(unauthorized)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| unauthorized())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unauthorized())?;
    let (_user, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
    match password {
        PASSWORD => Ok(true),
        LIMITED => Ok(false),
        _ => Err(unauthorized()),
    }
}

/// `StatusPages`: `NoContent` (a lookup that found nothing) becomes 404 "Not found".
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

fn bad_request(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, text.to_string()).into_response()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `get("getinfo")` → `ApiType.NodeInfo`.
async fn getinfo(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if let Err(r) = auth(&headers) {
        return r;
    }
    let info = fake.wallet.node_info().await.unwrap();
    Json(json!({
        "nodeId": info.pubkey,
        "channels": [],
        "chain": "regtest",
        "blockHeight": 100,
        "version": "0.6.2-fake",
    }))
    .into_response()
}

/// `get("getbalance")` → `ApiType.Balance`.
async fn getbalance(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if let Err(r) = auth(&headers) {
        return r;
    }
    let msat = fake.wallet.balance_msat().await.unwrap();
    Json(json!({ "balanceSat": msat / 1000, "feeCreditSat": 0 })).into_response()
}

/// `post("createinvoice")`: form `description` (≤ 128) or `descriptionHash`,
/// `amountSat?`, `expirySeconds?` → `ApiType.GeneratedInvoice`.
async fn createinvoice(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = auth(&headers) {
        return r;
    }
    let Some(description) = form.get("description") else {
        return bad_request("Must provide either a description or descriptionHash");
    };
    if description.chars().count() > 128 {
        return bad_request("Request parameter description is too long (max 128 characters)");
    }
    let Some(amount) = form.get("amountSat").and_then(|a| a.parse::<u64>().ok()) else {
        return bad_request("the fake needs amountSat");
    };
    let expiry = form
        .get("expirySeconds")
        .and_then(|e| e.parse().ok())
        .unwrap_or(3600);
    let invoice = fake
        .wallet
        .create_invoice(
            &InvoiceRequest::sats(amount)
                .memo(description.clone())
                .expiry(Duration::from_secs(expiry)),
        )
        .await
        .unwrap();
    Json(json!({
        "amountSat": amount,
        "paymentHash": invoice.payment_hash.to_string(),
        "serialized": invoice.bolt11,
    }))
    .into_response()
}

/// `ApiType.PaymentSent`.
fn payment_sent(hash: PaymentHash, amount_msat: u64, preimage: Option<String>) -> Response {
    let mut body = json!({
        "recipientAmountSat": amount_msat / 1000,
        "routingFeeSat": 0,
        "paymentId": "5d7a3f3e-6c0e-4b5e-9b0a-2f1d8c9e0a11",
        "paymentHash": hash.to_string(),
    });
    if let Some(preimage) = preimage {
        body["paymentPreimage"] = json!(preimage);
    }
    Json(body).into_response()
}

/// `post("payinvoice")` (full access only): answers once the payment has
/// ended, with `ApiType.PaymentSent` or `ApiType.PaymentFailed`
/// `{paymentHash, reason}`, both 200.
async fn payinvoice(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match auth(&headers) {
        Ok(true) => {}
        // `authenticate("full-access")`: the limited password gets 401.
        Ok(false) => {
            return (
                StatusCode::UNAUTHORIZED,
                "Invalid authentication (use basic auth with the http password set in phoenix.conf)",
            )
                .into_response();
        }
        Err(r) => return r,
    }
    let Some(bolt11) = form.get("invoice") else {
        return bad_request("missing invoice");
    };
    let Ok(decoded) = decode_invoice(bolt11) else {
        return bad_request("invalid invoice");
    };
    let hash = decoded.payment_hash;
    let result = fake.wallet.pay(&PayRequest::new(bolt11)).await;
    if fake.cut_next_pay.swap(false, Ordering::SeqCst) {
        // Paid (or not); the connection dies before the answer.
        fake.cutter.cut();
        std::future::pending::<()>().await;
    }
    match result {
        Ok(paid) => payment_sent(hash, paid.amount_msat, Some(paid.preimage.to_hex())),
        // phoenixd holds the request until the payment ends.
        Err(PayError::Pending { .. }) => loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if let Ok(OutgoingStatus::Succeeded(paid)) = fake.wallet.lookup_payment(&hash).await {
                return payment_sent(hash, paid.amount_msat, Some(paid.preimage.to_hex()));
            }
        },
        // Faults phoenixd itself would not produce, in its shape.
        Err(PayError::Backend(BackendError::BadResponse { .. })) => {
            payment_sent(hash, decoded.amount_msat.unwrap(), None)
        }
        Err(PayError::PreimageMismatch { .. }) => {
            payment_sent(hash, decoded.amount_msat.unwrap(), Some("00".repeat(32)))
        }
        Err(e) if e.outcome().no_money_moved() => {
            Json(json!({ "paymentHash": hash.to_string(), "reason": e.to_string() }))
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `get("payments/incoming/{paymentHash}")` → `ApiType.IncomingPayment`.
/// (phoenixd also includes the preimage of an unpaid invoice; the dev
/// node's public API does not give it, so the fake omits it until paid.)
async fn incoming(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Response {
    if let Err(r) = auth(&headers) {
        return r;
    }
    let Ok(hash) = hash.parse::<PaymentHash>() else {
        return bad_request("invalid paymentHash");
    };
    let status = match fake.wallet.lookup_invoice(&hash).await {
        Ok(status) => status,
        Err(ReceiveError::UnknownInvoice { .. }) => return not_found(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let mut body = json!({
        "subType": "lightning",
        "paymentHash": hash.to_string(),
        "isPaid": status.is_paid(),
        "isExpired": status == InvoiceStatus::Expired,
        "receivedSat": 0,
        "fees": 0,
        "createdAt": now_ms(),
    });
    if let InvoiceStatus::Paid { preimage } = status {
        body["preimage"] = json!(preimage.to_hex());
        body["completedAt"] = json!(now_ms());
    }
    Json(body).into_response()
}

/// `get("payments/outgoingbyhash/{paymentHash}")` → `ApiType.OutgoingPayment`
/// of the best attempt, or 404.
async fn outgoing_by_hash(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Response {
    if let Err(r) = auth(&headers) {
        return r;
    }
    let Ok(hash) = hash.parse::<PaymentHash>() else {
        return bad_request("invalid paymentHash");
    };
    let mut body = json!({
        "subType": "lightning",
        "paymentId": "5d7a3f3e-6c0e-4b5e-9b0a-2f1d8c9e0a11",
        "paymentHash": hash.to_string(),
        "isPaid": false,
        "sent": 0,
        "fees": 0,
        "createdAt": now_ms(),
    });
    match fake.wallet.lookup_payment(&hash).await {
        Ok(OutgoingStatus::Unknown) => return not_found(),
        Ok(OutgoingStatus::Pending) => {}
        Ok(OutgoingStatus::Failed { .. }) => body["completedAt"] = json!(now_ms()),
        Ok(OutgoingStatus::Succeeded(paid)) => {
            body["isPaid"] = json!(true);
            body["preimage"] = json!(paid.preimage.to_hex());
            body["sent"] = json!(paid.amount_msat / 1000);
            body["completedAt"] = json!(now_ms());
        }
        Err(PayError::PreimageMismatch { .. }) => {
            body["isPaid"] = json!(true);
            body["preimage"] = json!("00".repeat(32));
            body["completedAt"] = json!(now_ms());
        }
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
    Json(body).into_response()
}

/// A running fake phoenixd for `wallet`.
struct Phoenixd {
    addr: SocketAddr,
    cut_next_pay: Arc<AtomicBool>,
}

impl Phoenixd {
    async fn start(wallet: DevWallet) -> Phoenixd {
        let cutter = Cutter::default();
        let fake = Fake {
            wallet,
            cut_next_pay: Arc::new(AtomicBool::new(false)),
            cutter: cutter.clone(),
        };
        let cut_next_pay = fake.cut_next_pay.clone();
        let app = Router::new()
            .route("/getinfo", get(getinfo))
            .route("/getbalance", get(getbalance))
            .route("/createinvoice", post(createinvoice))
            .route("/payinvoice", post(payinvoice))
            .route("/payments/incoming/{hash}", get(incoming))
            .route("/payments/outgoingbyhash/{hash}", get(outgoing_by_hash))
            .with_state(fake);
        let addr = serve(app, None, cutter).await;
        Phoenixd { addr, cut_next_pay }
    }

    fn client(&self, password: &str) -> PhoenixdClient {
        PhoenixdClient::builder(format!("http://{}", self.addr), password)
            .timeout(Duration::from_secs(5))
            .pay_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }
}

impl FakeNode for Phoenixd {
    type Client = PhoenixdClient;
    const BACKEND: Backend = Backend::Phoenixd;
    const ENFORCES_MAX_FEE: bool = false;
    async fn start(wallet: DevWallet) -> Self {
        Phoenixd::start(wallet).await
    }
    fn authorized(&self) -> PhoenixdClient {
        self.client(PASSWORD)
    }
    fn with_pay_timeout(&self, timeout: Duration) -> PhoenixdClient {
        PhoenixdClient::builder(format!("http://{}", self.addr), PASSWORD)
            .pay_timeout(timeout)
            .build()
            .unwrap()
    }
    fn with_wrong_credentials(&self) -> PhoenixdClient {
        self.client("not-the-password")
    }
    fn cut_next_pay(&self) {
        self.cut_next_pay.store(true, Ordering::SeqCst);
    }
}

async fn pair() -> backend_suite::Pair<Phoenixd> {
    backend_suite::pair().await
}

// --- Tests ---------------------------------------------------------------

conformance!(pair =>
    a_failed_payment_is_failed_and_looked_up_as_failed,
    a_pending_payment_is_awaited_until_it_succeeds,
    pending_past_the_pay_timeout_is_unknown_then_resolved_by_lookup,
    no_preimage_and_wrong_preimage_are_unknown_never_success,
);

#[tokio::test]
async fn create_pay_and_look_up() {
    let p = pair().await;
    backend_suite::create_pay_and_look_up(&p, None).await;
    // A description phoenixd would refuse is refused before sending.
    let err = p
        .merchant
        .create_invoice(&InvoiceRequest::sats(1).memo("x".repeat(129)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::InvalidRequest { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_cut_after_the_pay_request_is_unknown_then_resolved_without_paying_twice() {
    // Paying again moves nothing: the node refuses an invoice already paid.
    backend_suite::connection_cut_after_the_pay_request(&pair().await, |again, _| {
        let again = again.unwrap_err();
        assert_eq!(again.outcome(), PayOutcome::Failed, "{again:?}");
    })
    .await;
}

#[tokio::test]
async fn wrong_password_and_limited_password() {
    let p = pair().await;
    let invoice = backend_suite::wrong_credentials_are_unauthorized_and_pay_nothing(&p).await;
    // The limited-access password reads but cannot pay.
    let limited = p.payer_fake.client(LIMITED);
    assert_eq!(limited.balance_msat().await.unwrap(), 1_000_000);
    let err = limited
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unauthorized { .. })),
        "{err:?}"
    );
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 1_000_000);
}

#[tokio::test]
async fn unreachable_is_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "down".into()).await;
    let client = PhoenixdClient::builder(format!("http://{addr}"), PASSWORD)
        .build()
        .unwrap();
    backend_suite::not_sent(&client, &invoice).await;
}

#[test]
fn configuration_and_debug_never_show_the_password() {
    let client = PhoenixdClient::builder("http://127.0.0.1:9740", "hunter2-secret")
        .build()
        .unwrap();
    let builder = PhoenixdClient::builder("http://127.0.0.1:9740", "hunter2-secret");
    backend_suite::debug_never_shows("hunter2", &[&client, &builder]);
    assert!(matches!(
        PhoenixdClient::builder("nope", "x").build(),
        Err(PhoenixdConfigError::InvalidUrl(_))
    ));
    assert!(matches!(
        PhoenixdClient::builder("http://127.0.0.1:1", "").build(),
        Err(PhoenixdConfigError::NoPassword)
    ));
    let _: Value = json!(null);
}

#[tokio::test]
async fn an_oversized_answer_is_refused_unread_and_unknown() {
    // 5 MiB of JSON string: more than the 4 MiB any answer may take.
    let huge = format!("{{\"reason\":\"{}\"}}", "x".repeat(5 << 20));
    let app = Router::new().route(
        "/payinvoice",
        post(move || {
            let huge = huge.clone();
            async move { ([("content-type", "application/json")], huge) }
        }),
    );
    let addr = serve(app, None, Cutter::default()).await;
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "huge".into()).await;
    let client = PhoenixdClient::builder(format!("http://{addr}"), PASSWORD)
        .build()
        .unwrap();
    let err = client
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PayError::Backend(BackendError::BadResponse { reason, .. }) if reason.contains("4 MiB")),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
}

//! A fake phoenixd: its HTTP API as
//! `ACINQ/phoenixd:src/commonMain/kotlin/fr/acinq/phoenixd/Api.kt` (routes,
//! Basic auth, form bodies, plain-text errors) and `json/JsonSerializers.kt`
//! (answers) define it, and its `/websocket` of `payment_received` events
//! with the `/payments/incoming` listing a resume reads, driven by the dev node's ledger
//! (real signed invoices and preimages; faults from `DevFault`).
//!
//! No real phoenixd runs here (it ships only as GitHub release binaries).
//!
//! ```
//! use l402_lightning::dev::DevNode;
//! use l402_lightning::{InvoiceRequest, Receiver};
//! use l402_testkit::phoenixd::FakePhoenixd;
//! # #[tokio::main]
//! # async fn main() {
//! let node = DevNode::builder().in_memory().open().await.unwrap();
//! let phoenixd = FakePhoenixd::start(node.wallet("merchant").await.unwrap()).await;
//! let invoice = phoenixd.authorized().create_invoice(&InvoiceRequest::sats(5)).await.unwrap();
//! assert!(invoice.bolt11.starts_with("lnbcrt"));
//! # }
//! ```

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
use base64::Engine as _;
use l402_lightning::dev::DevWallet;
use l402_lightning::phoenixd::PhoenixdClient;
use l402_lightning::{
    BackendError, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError, PayRequest, PaymentHash,
    ReceiveError, Receiver, Wallet, decode_invoice,
};
use serde_json::json;

use crate::phoenixd_events::{Events, incoming_list, websocket};
use crate::wire::{Cutter, serve};

/// The full-access `http-password` the fake accepts.
pub const PASSWORD: &str = "full-access-password";
/// The `http-password-limited-access` the fake accepts (receives, cannot pay).
pub const LIMITED_PASSWORD: &str = "limited-access-password";

/// One phoenixd node: a dev-node wallet behind phoenixd's API.
#[derive(Clone)]
pub(crate) struct Fake {
    pub(crate) wallet: DevWallet,
    /// The next `/payinvoice` pays, then its connection is cut unanswered.
    cut_next_pay: Arc<AtomicBool>,
    cutter: Cutter,
    /// What the fake's events are made of.
    pub(crate) events: Events,
}

/// `Api.kt`: `basic { validate { credentials.password == full or limited } }`;
/// the user name is ignored. Returns whether the full-access password was given.
pub(crate) fn auth(headers: &HeaderMap) -> Result<bool, Response> {
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
        LIMITED_PASSWORD => Ok(false),
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
    // Exactly one of `description` (≤ 128) and `descriptionHash` (32 bytes
    // of hex, `getOptionalByteVector32`).
    let description = form.get("description");
    let hash = match form.get("descriptionHash") {
        None => None,
        Some(text) => match hex::decode(text)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            Some(hash) => Some(hash),
            None => return bad_request("Invalid value for descriptionHash"),
        },
    };
    if description.is_some() == hash.is_some() {
        return bad_request("Must provide either a description or descriptionHash");
    }
    if description.is_some_and(|d| d.chars().count() > 128) {
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
            &match hash {
                Some(hash) => InvoiceRequest::sats(amount).description_hash(hash),
                None => InvoiceRequest::sats(amount).memo(description.cloned().unwrap_or_default()),
            }
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

/// A running fake phoenixd serving one dev-node wallet; it runs until the
/// test's runtime ends.
#[derive(Debug)]
pub struct FakePhoenixd {
    /// Its address (plain HTTP, as phoenixd serves).
    pub addr: SocketAddr,
    /// Set: the next `/payinvoice` pays, then its connection is cut
    /// unanswered.
    pub cut_next_pay: Arc<AtomicBool>,
    events: Events,
}

impl FakePhoenixd {
    /// Starts a fake phoenixd for `wallet` on a loopback port.
    pub async fn start(wallet: DevWallet) -> FakePhoenixd {
        let cutter = Cutter::default();
        let events = Events::start(&wallet).await;
        let fake = Fake {
            wallet,
            cut_next_pay: Arc::new(AtomicBool::new(false)),
            cutter: cutter.clone(),
            events: events.clone(),
        };
        let cut_next_pay = fake.cut_next_pay.clone();
        let app = Router::new()
            .route("/getinfo", get(getinfo))
            .route("/getbalance", get(getbalance))
            .route("/createinvoice", post(createinvoice))
            .route("/payinvoice", post(payinvoice))
            .route("/payments/incoming", get(incoming_list))
            .route("/payments/incoming/{hash}", get(incoming))
            .route("/payments/outgoingbyhash/{hash}", get(outgoing_by_hash))
            .route("/websocket", get(websocket))
            .with_state(fake);
        let addr = serve(app, None, cutter).await;
        FakePhoenixd {
            addr,
            cut_next_pay,
            events,
        }
    }

    /// Its base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client of this node with `password`.
    pub fn client(&self, password: &str) -> PhoenixdClient {
        PhoenixdClient::builder(self.url(), password)
            .timeout(Duration::from_secs(5))
            .pay_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    /// A client with the full-access [`PASSWORD`].
    pub fn authorized(&self) -> PhoenixdClient {
        self.client(PASSWORD)
    }

    /// Makes the next payment pay, then cut its connection unanswered.
    pub fn cut_next_pay(&self) {
        self.cut_next_pay.store(true, Ordering::SeqCst);
    }

    /// Sends `event` (any JSON) to every websocket client, as phoenixd
    /// would push it: for tests of events the ledger does not make.
    pub fn push_event(&self, event: serde_json::Value) {
        self.events.push(event);
    }

    /// Sends every later event to `url` too, signed with `secret` as
    /// phoenixd's `webhook` and `webhook-secret` settings do.
    pub fn webhook(&self, url: impl Into<String>, secret: impl Into<Vec<u8>>) {
        self.events.add_webhook(url.into(), secret.into());
    }

    /// Drops every websocket connection now, without a closing handshake
    /// (as a restarting node or a broken network would).
    pub fn drop_websockets(&self) {
        self.events.drop_websockets();
    }

    /// How many websocket clients are connected now.
    pub fn websocket_clients(&self) -> usize {
        self.events.clients()
    }
}

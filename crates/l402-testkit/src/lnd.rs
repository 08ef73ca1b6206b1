//! A fake LND: its REST API over TLS with a self-signed `CA:TRUE`
//! certificate like LND's own ([`TLS_CERT`]), as
//! `lightningnetwork/lnd` defines it: routes from `lnrpc/lightning.yaml`
//! and `lnrpc/routerrpc/router.yaml`, messages from `lightning.proto` and
//! `router.proto` marshalled as LND's REST proxy does (proto field names,
//! int64 as strings, bytes as standard base64, enums by name, errors as
//! `{"code","message","details"}` and, for streams failing before their
//! first message, `{"error": {...}}`), macaroon errors as
//! `macaroons/service.go` words them. Driven by the dev node's ledger (real
//! signed invoices and preimages; faults from `DevFault`).
//!
//! No real LND runs here (no Debian, PyPI or npm package ships it); LNbits'
//! `LndRestWallet` agrees with this fake (l402-lightning's `tests/lnd/`).
//!
//! ```
//! use l402_lightning::dev::DevNode;
//! use l402_lightning::{InvoiceRequest, Receiver};
//! use l402_testkit::lnd::FakeLnd;
//! # #[tokio::main]
//! # async fn main() {
//! let node = DevNode::builder().in_memory().open().await.unwrap();
//! let lnd = FakeLnd::start(node.wallet("merchant").await.unwrap()).await;
//! let invoice = lnd.authorized().create_invoice(&InvoiceRequest::sats(5)).await.unwrap();
//! assert!(invoice.bolt11.starts_with("lnbcrt"));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use l402_lightning::dev::DevWallet;
use l402_lightning::lnd::LndClient;
use l402_lightning::{
    BackendError, Cursor, Invoice, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError,
    PayRequest, PaymentHash, Preimage, ReceiveError, Receiver, Settlements, Wallet, decode_invoice,
};
use serde_json::{Value, json};

use crate::wire::{Cutter, TLS_CERT, acceptor, serve};

/// The admin macaroon (hex) the fake accepts; any other is refused as LND
/// refuses a wrong one.
pub const MACAROON: &str = "0201036c6e6402f801030a10b0dd7c6f1e2a3b4c5d6e7f8091a2b3c4";

#[derive(Clone)]
struct Fake {
    wallet: DevWallet,
    cut_next_pay: Arc<AtomicBool>,
    cutter: Cutter,
    /// The `fee_limit_msat` of each `SendPaymentV2`.
    fee_limits: Arc<Mutex<Vec<String>>>,
    /// The invoices this node created, for `SubscribeInvoices`.
    created: Arc<Mutex<Vec<PaymentHash>>>,
    /// This node's settlements in order (`settle_index` = position + 1).
    settles: Settles,
}

/// A node's settlements: hash, preimage, amount paid (msat).
type Settles = Arc<Mutex<Vec<(PaymentHash, Preimage, u64)>>>;

/// A gRPC status as LND's REST proxy answers it.
fn status(http: StatusCode, code: i64, message: &str) -> Response {
    (
        http,
        Json(json!({ "code": code, "message": message, "details": [] })),
    )
        .into_response()
}

/// `macaroons/service.go`: no macaroon "expected 1 macaroon, got 0", a wrong
/// one "verification failed: signature mismatch after caveat verification",
/// both gRPC `Unknown`, which the proxy answers 500.
fn check_macaroon(headers: &HeaderMap) -> Result<(), Response> {
    match headers
        .get("grpc-metadata-macaroon")
        .and_then(|v| v.to_str().ok())
    {
        None => Err(status(
            StatusCode::INTERNAL_SERVER_ERROR,
            2,
            "expected 1 macaroon, got 0",
        )),
        Some(m) if m == MACAROON => Ok(()),
        Some(_) => Err(status(
            StatusCode::INTERNAL_SERVER_ERROR,
            2,
            "verification failed: signature mismatch after caveat verification",
        )),
    }
}

fn int(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// `POST /v1/invoices` (`AddInvoice`): `lnrpc.Invoice` in, `lnrpc.AddInvoiceResponse` out.
async fn add_invoice(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = check_macaroon(&headers) {
        return r;
    }
    let msat = int(body.get("value_msat"))
        .or_else(|| int(body.get("value")).map(|sat| sat * 1000))
        .unwrap_or(0);
    let expiry = int(body.get("expiry")).unwrap_or(86_400);
    let memo = body.get("memo").and_then(Value::as_str).unwrap_or("");
    let mut request = InvoiceRequest::msat(msat)
        .memo(memo)
        .expiry(Duration::from_secs(expiry));
    // `description_hash` (bytes, base64): `invoicesrpc.AddInvoice` refuses
    // any length but 32 ("description hash is %v bytes, must be 32") and,
    // given one, puts it in the invoice instead of the memo (the memo stays
    // in LND's database only).
    if let Some(text) = body.get("description_hash").and_then(Value::as_str) {
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE.decode(text))
            .unwrap_or_default();
        if !bytes.is_empty() {
            let Ok(hash) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                let message = format!("description hash is {} bytes, must be 32", bytes.len());
                return status(StatusCode::INTERNAL_SERVER_ERROR, 2, &message);
            };
            request = request.description_hash(hash);
        }
    }
    let invoice = fake.wallet.create_invoice(&request).await.unwrap();
    fake.created.lock().unwrap().push(invoice.payment_hash);
    Json(json!({
        "r_hash": STANDARD.encode(invoice.payment_hash.as_bytes()),
        "payment_request": invoice.bolt11,
        "add_index": "1",
        "payment_addr": STANDARD.encode([0u8; 32]),
    }))
    .into_response()
}

/// `GET /v1/invoice/{r_hash_str}` (`LookupInvoice`): `lnrpc.Invoice`.
async fn lookup_invoice(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Response {
    if let Err(r) = check_macaroon(&headers) {
        return r;
    }
    let Ok(hash) = hash.parse::<PaymentHash>() else {
        return status(StatusCode::BAD_REQUEST, 3, "unable to decode payment hash");
    };
    let invoice_status = match fake.wallet.lookup_invoice(&hash).await {
        Ok(s) => s,
        Err(ReceiveError::UnknownInvoice { .. }) => {
            return status(StatusCode::NOT_FOUND, 5, "unable to locate invoice");
        }
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, 2, &e.to_string()),
    };
    let (state, preimage) = match &invoice_status {
        InvoiceStatus::Paid { preimage } => ("SETTLED", STANDARD.encode(preimage.as_bytes())),
        InvoiceStatus::Pending => ("OPEN", String::new()),
        InvoiceStatus::Expired => ("CANCELED", String::new()),
    };
    // EmitUnpopulated: every field is present, zero values included.
    Json(json!({
        "memo": "",
        "r_preimage": preimage,
        "r_hash": STANDARD.encode(hash.as_bytes()),
        "value": "0",
        "value_msat": "0",
        "settled": state == "SETTLED",
        "creation_date": "0",
        "settle_date": "0",
        "payment_request": "",
        "expiry": "3600",
        "add_index": "1",
        "settle_index": "0",
        "amt_paid_msat": "0",
        "state": state,
        "htlcs": [],
        "is_keysend": false,
    }))
    .into_response()
}

/// An `lnrpc.Payment`.
fn payment(hash: &PaymentHash, status: &str, preimage: &str, msat: u64, reason: &str) -> Value {
    json!({
        "payment_hash": hash.to_string(),
        "value": (msat / 1000).to_string(),
        "creation_date": "0",
        "fee": "0",
        "payment_preimage": preimage,
        "value_sat": (msat / 1000).to_string(),
        "value_msat": msat.to_string(),
        "payment_request": "",
        "status": status,
        "fee_sat": "0",
        "fee_msat": "0",
        "creation_time_ns": "0",
        "htlcs": [],
        "payment_index": "1",
        "failure_reason": reason,
    })
}

/// A streamed answer: `{"result": …}` lines.
fn stream(lines: Vec<Value>, hold_open: bool) -> Response {
    let chunks = lines
        .into_iter()
        .map(|v| Ok::<_, std::io::Error>(format!("{}\n", json!({ "result": v }))));
    let body = futures_util::stream::iter(chunks);
    let body = if hold_open {
        Body::from_stream(futures_util::StreamExt::chain(
            body,
            futures_util::stream::pending(),
        ))
    } else {
        Body::from_stream(body)
    };
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

const NO_PREIMAGE: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `POST /v2/router/send` (`SendPaymentV2`): with `no_inflight_updates`,
/// only the final `Payment` is streamed (`routerrpc/router_server.go`), so
/// the answer's head comes with it. `ErrAlreadyPaid` is `AlreadyExists`
/// (409) before the stream starts.
async fn send_payment(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = check_macaroon(&headers) {
        return r;
    }
    if int(body.get("timeout_seconds")).unwrap_or(0) == 0 {
        return status(
            StatusCode::BAD_REQUEST,
            3,
            "timeout_seconds must be specified",
        );
    }
    assert_eq!(body["no_inflight_updates"], json!(true));
    fake.fee_limits.lock().unwrap().push(
        body.get("fee_limit_msat")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    );
    let bolt11 = body["payment_request"].as_str().unwrap_or("").to_string();
    let Ok(decoded) = decode_invoice(&bolt11) else {
        return status(StatusCode::BAD_REQUEST, 3, "invalid payment request");
    };
    let hash = decoded.payment_hash;
    let msat = decoded.amount_msat.unwrap_or(0);
    let result = fake.wallet.pay(&PayRequest::new(&bolt11)).await;
    if fake.cut_next_pay.swap(false, Ordering::SeqCst) {
        fake.cutter.cut();
        std::future::pending::<()>().await;
    }
    let line = match result {
        Ok(paid) => payment(
            &hash,
            "SUCCEEDED",
            &paid.preimage.to_hex(),
            msat,
            "FAILURE_REASON_NONE",
        ),
        Err(PayError::AlreadyPaid { .. }) => {
            return (
                StatusCode::CONFLICT,
                Json(json!({"error": {"code": 6, "message": "invoice is already paid", "details": []}})),
            )
                .into_response();
        }
        Err(PayError::Pending { .. }) => loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if let Ok(OutgoingStatus::Succeeded(paid)) = fake.wallet.lookup_payment(&hash).await {
                break payment(
                    &hash,
                    "SUCCEEDED",
                    &paid.preimage.to_hex(),
                    msat,
                    "FAILURE_REASON_NONE",
                );
            }
        },
        Err(PayError::InsufficientBalance { .. }) => payment(
            &hash,
            "FAILED",
            NO_PREIMAGE,
            msat,
            "FAILURE_REASON_INSUFFICIENT_BALANCE",
        ),
        Err(PayError::Backend(BackendError::BadResponse { .. })) => {
            payment(&hash, "SUCCEEDED", "", msat, "FAILURE_REASON_NONE")
        }
        Err(PayError::PreimageMismatch { .. }) => payment(
            &hash,
            "SUCCEEDED",
            &"11".repeat(32),
            msat,
            "FAILURE_REASON_NONE",
        ),
        Err(e) if e.outcome().no_money_moved() => payment(
            &hash,
            "FAILED",
            NO_PREIMAGE,
            msat,
            "FAILURE_REASON_NO_ROUTE",
        ),
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, 2, &e.to_string()),
    };
    stream(vec![line], false)
}

/// `GET /v2/router/track/{payment_hash}` (`TrackPaymentV2`): the current
/// state first; the stream stays open while the payment is in flight.
async fn track_payment(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Response {
    if let Err(r) = check_macaroon(&headers) {
        return r;
    }
    // grpc-gateway decodes `bytes` path parameters as base64 (URL-safe here).
    let Ok(bytes) = URL_SAFE.decode(&hash) else {
        return status(StatusCode::BAD_REQUEST, 3, "bad payment_hash");
    };
    let hash = PaymentHash(bytes.try_into().unwrap());
    match fake.wallet.lookup_payment(&hash).await {
        Ok(OutgoingStatus::Unknown) => (
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": {"code": 5, "message": "payment isn't initiated", "details": []}}),
            ),
        )
            .into_response(),
        Ok(OutgoingStatus::Pending) => stream(
            vec![payment(
                &hash,
                "IN_FLIGHT",
                NO_PREIMAGE,
                0,
                "FAILURE_REASON_NONE",
            )],
            true,
        ),
        Ok(OutgoingStatus::Succeeded(paid)) => stream(
            vec![payment(
                &hash,
                "SUCCEEDED",
                &paid.preimage.to_hex(),
                paid.amount_msat,
                "FAILURE_REASON_NONE",
            )],
            false,
        ),
        Ok(OutgoingStatus::Failed { .. }) => stream(
            vec![payment(
                &hash,
                "FAILED",
                NO_PREIMAGE,
                0,
                "FAILURE_REASON_NO_ROUTE",
            )],
            false,
        ),
        Err(PayError::PreimageMismatch { .. }) => stream(
            vec![payment(
                &hash,
                "SUCCEEDED",
                &"11".repeat(32),
                0,
                "FAILURE_REASON_NONE",
            )],
            false,
        ),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => status(StatusCode::INTERNAL_SERVER_ERROR, 2, &e.to_string()),
    }
}

/// `GET /v1/invoices/subscribe?settle_index=` (`SubscribeInvoices`): first
/// every invoice settled after `settle_index` (when it is not 0), then an
/// update per invoice added (`OPEN`) and settled (`SETTLED`, with
/// `r_preimage`, `amt_paid_msat`, `settle_index`), as long as the client
/// listens (`invoicesrpc`/`lnrpc.InvoiceSubscription`: `add_index`,
/// `settle_index`). `settle_index` counts this node's settlements from 1,
/// in the order the dev ledger reports them.
async fn subscribe_invoices(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_macaroon(&headers) {
        return r;
    }
    let after: usize = query
        .get("settle_index")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
    tokio::spawn(async move {
        let mut opened = fake.created.lock().unwrap().len();
        // settle_index 0: no replay, only settlements from now on.
        let mut sent = if after == 0 {
            fake.settles.lock().unwrap().len()
        } else {
            after
        };
        loop {
            let created = fake.created.lock().unwrap().clone();
            for hash in created.iter().skip(opened) {
                let open = json!({"result": {"r_hash": STANDARD.encode(hash.as_bytes()),
                    "r_preimage": "", "state": "OPEN", "settle_index": "0", "amt_paid_msat": "0"}});
                if tx.send(format!("{open}\n")).await.is_err() {
                    return;
                }
            }
            opened = opened.max(created.len());
            let settles = fake.settles.lock().unwrap().clone();
            for (i, (hash, preimage, msat)) in settles.iter().enumerate().skip(sent) {
                let line = json!({"result": {
                    "r_hash": STANDARD.encode(hash.as_bytes()),
                    "r_preimage": STANDARD.encode(preimage.as_bytes()),
                    "state": "SETTLED",
                    "settled": true,
                    "settle_index": (i + 1).to_string(),
                    "amt_paid_msat": msat.to_string(),
                }});
                if tx.send(format!("{line}\n")).await.is_err() {
                    return;
                }
            }
            sent = sent.max(settles.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, std::io::Error>(line), rx))
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        Body::from_stream(lines),
    )
        .into_response()
}

/// Follows `wallet`'s settlements in the dev ledger into `settles`, this
/// node's settle order.
async fn follow_settlements(wallet: DevWallet, settles: Settles) {
    let mut feed = wallet.subscribe(Cursor::NOW).await.unwrap();
    tokio::spawn(async move {
        while let Ok(Some(settled)) = feed.next().await {
            let preimage = match wallet.lookup_invoice(&settled.payment_hash).await {
                Ok(InvoiceStatus::Paid { preimage }) => preimage,
                // A pending payment is announced once it settles.
                _ => continue,
            };
            settles
                .lock()
                .unwrap()
                .push((settled.payment_hash, preimage, settled.amount_msat));
        }
    });
}

/// `GET /v1/balance/channels` (`ChannelBalance`).
async fn channel_balance(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if let Err(r) = check_macaroon(&headers) {
        return r;
    }
    let msat = fake.wallet.balance_msat().await.unwrap();
    let amount = |m: u64| json!({ "sat": (m / 1000).to_string(), "msat": m.to_string() });
    Json(json!({
        "balance": (msat / 1000).to_string(),
        "pending_open_balance": "0",
        "local_balance": amount(msat),
        "remote_balance": amount(0),
        "unsettled_local_balance": amount(0),
        "unsettled_remote_balance": amount(0),
        "pending_open_local_balance": amount(0),
        "pending_open_remote_balance": amount(0),
    }))
    .into_response()
}

/// `GET /v1/getinfo` (`GetInfo`).
async fn getinfo(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if let Err(r) = check_macaroon(&headers) {
        return r;
    }
    let info = fake.wallet.node_info().await.unwrap();
    Json(json!({
        "version": "0.19.3-beta fake",
        "identity_pubkey": info.pubkey,
        "alias": "fake-lnd",
        "num_active_channels": 1,
        "block_height": 100,
        "synced_to_chain": true,
        "chains": [{ "chain": "bitcoin", "network": "regtest" }],
    }))
    .into_response()
}

/// A running fake LND serving one dev-node wallet; it runs until the
/// test's runtime ends.
#[derive(Debug)]
pub struct FakeLnd {
    /// Its base URL (`https://127.0.0.1:<port>`; pin [`TLS_CERT`]).
    pub url: String,
    /// Set: the next `SendPaymentV2` pays, then its connection is cut
    /// unanswered.
    pub cut_next_pay: Arc<AtomicBool>,
    /// The `fee_limit_msat` of each `SendPaymentV2`, in order.
    pub fee_limits: Arc<Mutex<Vec<String>>>,
}

impl FakeLnd {
    /// Starts a fake LND for `wallet` on a loopback port.
    pub async fn start(wallet: DevWallet) -> FakeLnd {
        let cutter = Cutter::default();
        let fake = Fake {
            wallet,
            cut_next_pay: Arc::new(AtomicBool::new(false)),
            cutter: cutter.clone(),
            fee_limits: Arc::default(),
            created: Arc::default(),
            settles: Arc::default(),
        };
        follow_settlements(fake.wallet.clone(), fake.settles.clone()).await;
        let (cut_next_pay, fee_limits) = (fake.cut_next_pay.clone(), fake.fee_limits.clone());
        let app = Router::new()
            .route("/v1/invoices", post(add_invoice))
            .route("/v1/invoice/{hash}", get(lookup_invoice))
            .route("/v2/router/send", post(send_payment))
            .route("/v2/router/track/{hash}", get(track_payment))
            .route("/v1/balance/channels", get(channel_balance))
            .route("/v1/getinfo", get(getinfo))
            .route("/v1/invoices/subscribe", get(subscribe_invoices))
            .with_state(fake);
        let addr = serve(app, Some(acceptor()), cutter).await;
        FakeLnd {
            url: format!("https://{addr}"),
            cut_next_pay,
            fee_limits,
        }
    }

    /// A client of this node with `macaroon` (hex), pinning `cert`.
    pub fn client(&self, macaroon: &str, cert: &[u8]) -> LndClient {
        LndClient::builder(&self.url, macaroon)
            .tls_cert_pem(cert)
            .timeout(Duration::from_secs(5))
            .pay_timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// A client with [`MACAROON`], pinning [`TLS_CERT`].
    pub fn authorized(&self) -> LndClient {
        self.client(MACAROON, TLS_CERT)
    }

    /// Makes the next payment pay, then cut its connection unanswered.
    pub fn cut_next_pay(&self) {
        self.cut_next_pay.store(true, Ordering::SeqCst);
    }
}

/// A `sats` invoice with `memo` from `merchant`.
pub async fn invoice(merchant: &LndClient, sats: u64, memo: String) -> Invoice {
    merchant
        .create_invoice(&InvoiceRequest::sats(sats).memo(memo))
        .await
        .unwrap()
}

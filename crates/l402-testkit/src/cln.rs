//! A fake Core Lightning: clnrest over TLS, answering `POST /v1/<method>`
//! as `ElementsProject/lightning:plugins/rest-plugin/src/{handlers,shared}.rs`
//! do (201 with the result; RPC errors as 500 `{"code","message"}`; a
//! missing rune 403 code 1501, an invalid one 401 code 1502; an unknown
//! method 404 code -32601), with results shaped as the methods' schemas in
//! `doc/schemas/lightning-{invoice,listinvoices,pay,listpays,listfunds,getinfo}.json`
//! and pay errors from `common/jsonrpc_errors.h`; and the same node's
//! JSON-RPC socket (`lightning-rpc`). Driven by the dev node's ledger (real
//! signed invoices and preimages; faults from `DevFault`).
//!
//! No real Core Lightning runs here (no package ships `lightningd`);
//! Blockstream's `pyln-client` agrees with the socket fake (l402-lightning's
//! `tests/cln.rs`).
//!
//! ```
//! use l402_lightning::dev::DevNode;
//! use l402_lightning::{InvoiceRequest, Receiver};
//! use l402_testkit::cln::FakeCln;
//! # #[tokio::main]
//! # async fn main() {
//! let node = DevNode::builder().in_memory().open().await.unwrap();
//! let cln = FakeCln::start(node.wallet("merchant").await.unwrap()).await;
//! let invoice = cln.authorized().create_invoice(&InvoiceRequest::sats(5)).await.unwrap();
//! assert!(invoice.bolt11.starts_with("lnbcrt"));
//! assert!(cln.socket.exists());
//! # }
//! ```

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use l402_lightning::cln::ClnRestClient;
use l402_lightning::dev::DevWallet;
use l402_lightning::{
    BackendError, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError, PayRequest, PaymentHash,
    ReceiveError, Receiver, Wallet, decode_invoice,
};
use serde_json::{Value, json};

use crate::wire::{Cutter, TLS_CERT, acceptor, serve};

/// The rune the fake accepts.
pub const RUNE: &str = "tU-RLjMiDpY2U0o3W1oFowar36RFGpWloPbW9-RuZdo9MyZpZD0wMjRiOWExZmE4";

#[derive(Clone)]
struct Fake {
    wallet: DevWallet,
    labels: Arc<Mutex<HashSet<String>>>,
    maxfees: Arc<Mutex<Vec<Option<u64>>>>,
    cut_next_pay: Arc<AtomicBool>,
    cutter: Cutter,
}

/// A JSON-RPC error as clnrest relays it (`AppError`).
fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn created(result: Value) -> Response {
    (StatusCode::CREATED, Json(result)).into_response()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `pay`'s result (`lightning-pay.json`).
fn pay_result(hash: &PaymentHash, preimage: Option<String>, msat: u64) -> Value {
    let mut result = json!({
        "payment_hash": hash.to_string(),
        "created_at": now() as f64,
        "parts": 1,
        "amount_msat": msat,
        "amount_sent_msat": msat,
        "status": "complete",
        "destination": "02".to_string() + &"11".repeat(32),
    });
    if let Some(preimage) = preimage {
        result["payment_preimage"] = json!(preimage);
    }
    result
}

/// One entry of `listpays` (`lightning-listpays.json`).
fn listed_pay(hash: &PaymentHash, status: &str, preimage: Option<String>, msat: u64) -> Value {
    let mut pay = json!({
        "payment_hash": hash.to_string(),
        "status": status,
        "created_at": now(),
        "amount_sent_msat": msat,
    });
    if status == "complete" {
        pay["amount_msat"] = json!(msat);
        pay["preimage"] = json!(preimage);
        pay["completed_at"] = json!(now());
    }
    pay
}

async fn rpc(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(method): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    // `verify_rune`: missing 403 (1501), not valid 401 (1502).
    match headers.get("rune").and_then(|v| v.to_str().ok()) {
        None => return rpc_error(StatusCode::FORBIDDEN, 1501, "Not authorized: Missing rune"),
        Some(r) if r != RUNE => {
            return rpc_error(StatusCode::UNAUTHORIZED, 1502, "Rune is not valid");
        }
        Some(_) => {}
    }
    let params: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let hash_param = || {
        params["payment_hash"]
            .as_str()
            .and_then(|h| h.parse::<PaymentHash>().ok())
    };
    match method.as_str() {
        "invoice" => {
            let label = params["label"].as_str().unwrap_or("").to_string();
            if !fake.labels.lock().unwrap().insert(label) {
                return rpc_error(StatusCode::INTERNAL_SERVER_ERROR, 900, "Duplicate label");
            }
            let description = params["description"].as_str().unwrap_or("");
            let mut request = InvoiceRequest::msat(params["amount_msat"].as_u64().unwrap_or(0))
                .memo(description)
                .expiry(Duration::from_secs(
                    params["expiry"].as_u64().unwrap_or(604_800),
                ));
            // `deschashonly`: the invoice carries sha256(description), not
            // the description (lightning-invoice(7)).
            if params["deschashonly"].as_bool() == Some(true) {
                request = request.hashed_description(description);
            }
            let invoice = fake.wallet.create_invoice(&request).await.unwrap();
            created(json!({
                "payment_hash": invoice.payment_hash.to_string(),
                "expires_at": invoice.expires_at_unix(),
                "bolt11": invoice.bolt11,
                "payment_secret": "00".repeat(32),
                "created_index": 1,
            }))
        }
        "listinvoices" => {
            let hash = hash_param().unwrap();
            let invoices = match fake.wallet.lookup_invoice(&hash).await {
                Err(ReceiveError::UnknownInvoice { .. }) => json!([]),
                Ok(status) => {
                    let mut invoice = json!({
                        "label": "l402",
                        "payment_hash": hash.to_string(),
                        "status": match status {
                            InvoiceStatus::Paid { .. } => "paid",
                            InvoiceStatus::Pending => "unpaid",
                            InvoiceStatus::Expired => "expired",
                        },
                        "expires_at": now() + 3600,
                    });
                    if let InvoiceStatus::Paid { preimage } = status {
                        invoice["payment_preimage"] = json!(preimage.to_hex());
                        invoice["paid_at"] = json!(now());
                    }
                    json!([invoice])
                }
                Err(e) => panic!("{e}"),
            };
            created(json!({ "invoices": invoices }))
        }
        "pay" => {
            fake.maxfees.lock().unwrap().push(params["maxfee"].as_u64());
            let bolt11 = params["bolt11"].as_str().unwrap_or("").to_string();
            let Ok(decoded) = decode_invoice(&bolt11) else {
                return rpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    -32602,
                    "Invalid bolt11: Bad bech32 string",
                );
            };
            let (hash, msat) = (decoded.payment_hash, decoded.amount_msat.unwrap());
            let result = fake.wallet.pay(&PayRequest::new(&bolt11)).await;
            if fake.cut_next_pay.swap(false, Ordering::SeqCst) {
                fake.cutter.cut();
                std::future::pending::<()>().await;
            }
            match result {
                Ok(paid) => created(pay_result(&hash, Some(paid.preimage.to_hex()), msat)),
                // `pay` waits until the payment ends.
                Err(PayError::Pending { .. }) => loop {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    if let Ok(OutgoingStatus::Succeeded(p)) =
                        fake.wallet.lookup_payment(&hash).await
                    {
                        return created(pay_result(&hash, Some(p.preimage.to_hex()), msat));
                    }
                },
                // lightningd/pay.c: a payment already complete for the same
                // hash, amount and destination answers its earlier success.
                Err(PayError::AlreadyPaid { .. }) => {
                    match fake.wallet.lookup_payment(&hash).await {
                        Ok(OutgoingStatus::Succeeded(p)) => {
                            created(pay_result(&hash, Some(p.preimage.to_hex()), msat))
                        }
                        _ => rpc_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            201,
                            "Already paid with this hash using different amount or destination",
                        ),
                    }
                }
                Err(PayError::Backend(BackendError::BadResponse { .. })) => {
                    created(pay_result(&hash, None, msat))
                }
                Err(PayError::PreimageMismatch { .. }) => {
                    created(pay_result(&hash, Some("22".repeat(32)), msat))
                }
                Err(e) if e.outcome().no_money_moved() => rpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    210,
                    "Ran out of routes to try after 1 attempt: see `paystatus`",
                ),
                Err(e) => rpc_error(StatusCode::INTERNAL_SERVER_ERROR, -1, &e.to_string()),
            }
        }
        "listpays" => {
            let hash = hash_param().unwrap();
            let pays = match fake.wallet.lookup_payment(&hash).await {
                Ok(OutgoingStatus::Unknown) => json!([]),
                Ok(OutgoingStatus::Pending) => json!([listed_pay(&hash, "pending", None, 0)]),
                Ok(OutgoingStatus::Failed { .. }) => json!([listed_pay(&hash, "failed", None, 0)]),
                Ok(OutgoingStatus::Succeeded(p)) => json!([listed_pay(
                    &hash,
                    "complete",
                    Some(p.preimage.to_hex()),
                    p.amount_msat
                )]),
                Err(PayError::PreimageMismatch { .. }) => {
                    json!([listed_pay(&hash, "complete", Some("22".repeat(32)), 1)])
                }
                other => panic!("unexpected {other:?}"),
            };
            created(json!({ "pays": pays }))
        }
        "listfunds" => {
            let balance = fake.wallet.balance_msat().await.unwrap();
            created(json!({
                "outputs": [],
                "channels": [{
                    "peer_id": "02".to_string() + &"11".repeat(32),
                    "connected": true,
                    "state": "CHANNELD_NORMAL",
                    "our_amount_msat": balance,
                    "amount_msat": balance + 5_000_000,
                    "funding_txid": "00".repeat(32),
                    "funding_output": 0,
                }],
            }))
        }
        "getinfo" => {
            let info = fake.wallet.node_info().await.unwrap();
            created(json!({
                "id": info.pubkey,
                "alias": "fake-cln",
                "color": "02bf81",
                "num_peers": 1,
                "version": "v25.09-fake",
                "blockheight": 100,
                "network": "regtest",
            }))
        }
        other => rpc_error(
            StatusCode::NOT_FOUND,
            -32601,
            &format!("Unknown command '{other}'"),
        ),
    }
}

/// A running fake Core Lightning serving one dev-node wallet, over clnrest
/// and its socket; it runs until the test's runtime ends.
#[derive(Debug)]
pub struct FakeCln {
    /// clnrest's base URL (`https://127.0.0.1:<port>`; pin [`TLS_CERT`]).
    pub url: String,
    /// The same node's `lightning-rpc` socket.
    pub socket: std::path::PathBuf,
    _dir: Arc<tempfile::TempDir>,
    /// Set: the next `pay` pays, then its connection is cut unanswered.
    pub cut_next_pay: Arc<AtomicBool>,
    /// The `maxfee` of each `pay`, in order.
    pub maxfees: Arc<Mutex<Vec<Option<u64>>>>,
}

/// The node's JSON-RPC socket, as lightningd speaks it
/// (`lightningd/jsonrpc.c`): JSON-RPC 2.0 objects in, each answer one object
/// followed by `"\n\n"`, the request's `id` echoed (pyln-client sends
/// strings). The fake relays each request to its clnrest routes with the
/// right rune, so both faces share one node.
async fn serve_socket(app: Router, path: &std::path::Path, cutter: Cutter) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (app, cutter) = (app.clone(), cutter.clone());
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let request = loop {
                        let mut objects =
                            serde_json::Deserializer::from_slice(&buffer).into_iter::<Value>();
                        if let Some(Ok(value)) = objects.next() {
                            let used = objects.byte_offset();
                            buffer.drain(..used);
                            break value;
                        }
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                    };
                    let method = request["method"].as_str().unwrap_or("").to_string();
                    let params = match &request["params"] {
                        Value::Null => json!({}),
                        other => other.clone(),
                    };
                    let http = axum::http::Request::post(format!("/v1/{method}"))
                        .header("rune", RUNE)
                        .body(axum::body::Body::from(params.to_string()))
                        .unwrap();
                    let signal = cutter.armed();
                    let response = tokio::select! {
                        r = app.clone().oneshot(http) => r.unwrap(),
                        _ = signal => return,
                    };
                    let ok = response.status().is_success();
                    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                        .await
                        .unwrap();
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    let answer = if ok {
                        json!({"jsonrpc": "2.0", "id": request["id"], "result": body})
                    } else {
                        json!({"jsonrpc": "2.0", "id": request["id"], "error": body})
                    };
                    if stream
                        .write_all(format!("{answer}\n\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}

impl FakeCln {
    /// Starts a fake Core Lightning for `wallet`: clnrest on a loopback
    /// port and the socket in a temporary directory.
    pub async fn start(wallet: DevWallet) -> FakeCln {
        let cutter = Cutter::default();
        let fake = Fake {
            wallet,
            labels: Arc::default(),
            maxfees: Arc::default(),
            cut_next_pay: Arc::new(AtomicBool::new(false)),
            cutter: cutter.clone(),
        };
        let (cut_next_pay, maxfees) = (fake.cut_next_pay.clone(), fake.maxfees.clone());
        let app = Router::new()
            .route("/v1/{method}", post(rpc))
            .with_state(fake);
        let addr = serve(app.clone(), Some(acceptor()), cutter.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("lightning-rpc");
        serve_socket(app, &socket, cutter).await;
        FakeCln {
            url: format!("https://{addr}"),
            socket,
            _dir: Arc::new(dir),
            cut_next_pay,
            maxfees,
        }
    }

    /// A clnrest client of this node with `rune`, pinning [`TLS_CERT`].
    pub fn client(&self, rune: &str) -> ClnRestClient {
        ClnRestClient::builder(&self.url, rune)
            .tls_cert_pem(TLS_CERT)
            .timeout(Duration::from_secs(5))
            .pay_timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// A clnrest client with [`RUNE`].
    pub fn authorized(&self) -> ClnRestClient {
        self.client(RUNE)
    }

    /// Makes the next payment pay, then cut its connection unanswered.
    pub fn cut_next_pay(&self) {
        self.cut_next_pay.store(true, Ordering::SeqCst);
    }
}

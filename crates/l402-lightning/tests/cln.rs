//! The Core Lightning client (clnrest) against an in-process clnrest: a fake
//! that answers `POST /v1/<method>` over TLS as
//! `ElementsProject/lightning:plugins/rest-plugin/src/{handlers,shared}.rs`
//! do (201 with the result; RPC errors as 500 `{"code","message"}`; a
//! missing rune 403 code 1501, an invalid one 401 code 1502; an unknown
//! method 404 code -32601), with results shaped as the methods' schemas in
//! `doc/schemas/lightning-{invoice,listinvoices,pay,listpays,listfunds,getinfo}.json`
//! and pay errors from `common/jsonrpc_errors.h`. Driven by the dev node's
//! ledger (real signed invoices and preimages; faults from `DevFault`).
//!
//! No real Core Lightning runs here (no package ships `lightningd`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

#[macro_use]
mod backend_suite;
mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use backend_suite::{FakeNode, invoice};
use l402_lightning::cln::{ClnClient, ClnConfigError, ClnRestClient};
use l402_lightning::dev::{DevFault, DevWallet};
use l402_lightning::{
    Backend, BackendError, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError, PayOutcome,
    PayRequest, PaymentHash, ReceiveError, Receiver, Wallet, decode_invoice,
};
use serde_json::{Value, json};
use support::wire::{Cutter, acceptor, serve};

const CERT: &[u8] = include_bytes!("fixtures/lnd-tls.cert");
const RUNE: &str = "tU-RLjMiDpY2U0o3W1oFowar36RFGpWloPbW9-RuZdo9MyZpZD0wMjRiOWExZmE4";

// --- The fake clnrest ----------------------------------------------------

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
            let request = InvoiceRequest::msat(params["amount_msat"].as_u64().unwrap_or(0))
                .memo(params["description"].as_str().unwrap_or(""))
                .expiry(Duration::from_secs(
                    params["expiry"].as_u64().unwrap_or(604_800),
                ));
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

struct Cln {
    url: String,
    /// The same node's `lightning-rpc` socket.
    socket: std::path::PathBuf,
    _dir: Arc<tempfile::TempDir>,
    cut_next_pay: Arc<AtomicBool>,
    maxfees: Arc<Mutex<Vec<Option<u64>>>>,
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

impl Cln {
    async fn start(wallet: DevWallet) -> Cln {
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
        Cln {
            url: format!("https://{addr}"),
            socket,
            _dir: Arc::new(dir),
            cut_next_pay,
            maxfees,
        }
    }

    fn client(&self, rune: &str) -> ClnRestClient {
        ClnRestClient::builder(&self.url, rune)
            .tls_cert_pem(CERT)
            .timeout(Duration::from_secs(5))
            .pay_timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }
}

impl FakeNode for Cln {
    type Client = ClnRestClient;
    const BACKEND: Backend = Backend::Cln;
    const ENFORCES_MAX_FEE: bool = true;
    async fn start(wallet: DevWallet) -> Self {
        Cln::start(wallet).await
    }
    fn authorized(&self) -> ClnRestClient {
        self.client(RUNE)
    }
    fn with_pay_timeout(&self, timeout: Duration) -> ClnRestClient {
        ClnRestClient::builder(&self.url, RUNE)
            .tls_cert_pem(CERT)
            .pay_timeout(timeout)
            .build()
            .unwrap()
    }
    fn with_wrong_credentials(&self) -> ClnRestClient {
        self.client("not-the-rune")
    }
    fn cut_next_pay(&self) {
        self.cut_next_pay.store(true, Ordering::SeqCst);
    }
}

async fn pair() -> backend_suite::Pair<Cln> {
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
async fn create_pay_and_look_up_over_pinned_tls() {
    let p = pair().await;
    backend_suite::create_pay_and_look_up(&p, Some(2_000)).await;
    // Each invoice gets its own label.
    let second = invoice(&p.merchant, 1, "second".into()).await;
    p.payer.pay(&PayRequest::new(&second.bolt11)).await.unwrap();
    assert_eq!(
        *p.payer_fake.maxfees.lock().unwrap(),
        vec![Some(2_000), None]
    );
}

#[tokio::test]
async fn connection_cut_after_the_pay_request_is_unknown_then_resolved_without_paying_twice() {
    // CLN answers a second `pay` of a completed payment with its earlier
    // result: the same preimage, and no money moves again.
    backend_suite::connection_cut_after_the_pay_request(&pair().await, |again, found| {
        assert_eq!(again.unwrap().preimage, found.preimage);
    })
    .await;
}

#[tokio::test]
async fn wrong_rune_is_unauthorized_and_pays_nothing() {
    backend_suite::wrong_credentials_are_unauthorized_and_pay_nothing(&pair().await).await;
}

#[tokio::test]
async fn unpinned_certificate_is_refused_before_anything_is_sent() {
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "pin".into()).await;
    let other = include_bytes!("fixtures/other-tls.cert");
    let impostor_pin = ClnRestClient::builder(&p.payer_fake.url, RUNE)
        .tls_cert_pem(other)
        .build()
        .unwrap();
    backend_suite::not_sent(&impostor_pin, &invoice).await;
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 1_000_000);
}

#[test]
fn configuration_and_debug_never_show_the_rune() {
    let client = ClnRestClient::builder("https://127.0.0.1:3010", RUNE)
        .tls_cert_pem(CERT)
        .build()
        .unwrap();
    backend_suite::debug_never_shows(RUNE, &[&client, &ClnRestClient::builder("https://x", RUNE)]);
    assert!(matches!(
        ClnRestClient::builder("https://127.0.0.1:3010", " ").build(),
        Err(ClnConfigError::BadRune)
    ));
    assert!(matches!(
        ClnRestClient::builder("nope", RUNE).build(),
        Err(ClnConfigError::InvalidUrl(_))
    ));
}

// --- The local JSON-RPC socket -------------------------------------------

fn over_socket(cln: &Cln) -> ClnClient {
    ClnClient::socket(&cln.socket)
        .pay_timeout(Duration::from_secs(10))
        .build()
}

#[tokio::test]
async fn over_the_socket_create_pay_fail_and_look_up() {
    let p = pair().await;
    let merchant = p.merchant.clone();
    let payer = over_socket(&p.payer_fake);
    let first = invoice(&merchant, 21, "socket".into()).await;
    assert_eq!(
        payer.lookup_payment(&first.payment_hash).await.unwrap(),
        OutgoingStatus::Unknown
    );
    let paid = payer.pay(&PayRequest::new(&first.bolt11)).await.unwrap();
    assert!(paid.preimage.matches(&first.payment_hash));
    assert!(
        payer
            .lookup_payment(&first.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
    assert_eq!(payer.balance_msat().await.unwrap(), 979_000);
    assert_eq!(payer.node_info().await.unwrap().backend, Backend::Cln);
    let failing = invoice(&merchant, 5, DevFault::Failed.memo()).await;
    let err = payer
        .pay(&PayRequest::new(&failing.bolt11))
        .await
        .unwrap_err();
    assert_eq!(err.outcome(), PayOutcome::Failed, "{err:?}");
    assert!(matches!(
        payer.lookup_payment(&failing.payment_hash).await.unwrap(),
        OutgoingStatus::Failed { .. }
    ));
    // Receiving over the socket too.
    let own = over_socket(&p.payer_fake)
        .create_invoice(&InvoiceRequest::sats(3))
        .await
        .unwrap();
    assert_eq!(
        over_socket(&p.payer_fake)
            .lookup_invoice(&own.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Pending
    );
}

#[tokio::test]
async fn over_the_socket_a_cut_after_the_request_is_unknown_and_resolved() {
    let p = pair().await;
    let payer = over_socket(&p.payer_fake);
    let invoice = invoice(&p.merchant, 7, "socket cut".into()).await;
    p.payer_fake.cut_next_pay.store(true, Ordering::SeqCst);
    let err = payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Interrupted { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert!(
        payer
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
    payer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 993_000);
}

#[tokio::test]
async fn over_the_socket_a_missing_socket_is_not_sent() {
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "no socket".into()).await;
    let dir = tempfile::tempdir().unwrap();
    let client = ClnClient::socket(dir.path().join("lightning-rpc")).build();
    backend_suite::not_sent(&client, &invoice).await;
}

// --- pyln-client (Blockstream's Python client) against the socket fake ---

/// A python with `pyln-client` (`L402_PYLN_PYTHON`, or the virtualenv
/// `python3 -m venv ~/.cache/l402/pyln-venv && ~/.cache/l402/pyln-venv/bin/pip install pyln-client`).
fn pyln_python() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("L402_PYLN_PYTHON") {
        return Some(p.into());
    }
    let home = std::env::var_os("HOME")?;
    let python = std::path::Path::new(&home).join(".cache/l402/pyln-venv/bin/python");
    python.exists().then_some(python)
}

#[tokio::test]
async fn pyln_client_agrees_with_the_socket_fake() {
    let Some(python) = pyln_python() else {
        let how = "needs pyln-client: python3 -m venv ~/.cache/l402/pyln-venv && \
                   ~/.cache/l402/pyln-venv/bin/pip install pyln-client";
        if std::env::var("L402_REQUIRE_PYLN").as_deref() == Ok("1") {
            panic!("L402_REQUIRE_PYLN=1 but this test {how}");
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED pyln_client_agrees_with_the_socket_fake: {how}"
        );
        return;
    };
    let p = pair().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pyln_client.py");
    let failing = invoice(&p.merchant, 5, DevFault::Failed.memo()).await;
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(&p.payer_fake.socket)
        .arg(&failing.bolt11)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let expect = json!({
        "network": "regtest",
        "invoice_status_before": "unpaid",
        "pay_status": "complete",
        "pay_preimage_ok": true,
        "invoice_status_after": "paid",
        "listpays_status": "complete",
        "listpays_preimage_ok": true,
        "failed_code": 210,
        "unknown_pays": 0,
        "unknown_method_code": -32601,
    });
    for (key, want) in expect.as_object().unwrap() {
        assert_eq!(&seen[key], want, "{key}: pyln-client saw {seen}");
    }
}

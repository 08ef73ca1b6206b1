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

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use l402_lightning::cln::{ClnConfigError, ClnRestClient};
use l402_lightning::dev::{DevFault, DevNode, DevWallet};
use l402_lightning::{
    Backend, BackendError, Invoice, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError,
    PayOutcome, PayRequest, PaymentHash, ReceiveError, Receiver, Wallet, decode_invoice,
};
use serde_json::{Value, json};
use support::wire::{Cutter, serve};

const CERT: &[u8] = include_bytes!("fixtures/lnd-tls.cert");
const KEY: &[u8] = include_bytes!("fixtures/lnd-tls.key");
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

fn pem_body(pem: &[u8], label: &str) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let start = text.find(&format!("-----BEGIN {label}-----")).unwrap() + label.len() + 16;
    let end = text.find(&format!("-----END {label}-----")).unwrap();
    STANDARD
        .decode(text[start..end].split_whitespace().collect::<String>())
        .unwrap()
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    let cert = rustls::pki_types::CertificateDer::from(pem_body(CERT, "CERTIFICATE"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pem_body(KEY, "PRIVATE KEY").into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

struct Cln {
    url: String,
    cut_next_pay: Arc<AtomicBool>,
    maxfees: Arc<Mutex<Vec<Option<u64>>>>,
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
        let addr = serve(app, Some(acceptor()), cutter).await;
        Cln {
            url: format!("https://{addr}"),
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

struct Pair {
    merchant: ClnRestClient,
    payer: ClnRestClient,
    payer_cln: Cln,
    payer_wallet: DevWallet,
}

async fn pair() -> Pair {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant_wallet = node.wallet("merchant").await.unwrap();
    let payer_wallet = node.wallet("payer").await.unwrap();
    payer_wallet.credit_sats(1_000).await.unwrap();
    let merchant_cln = Cln::start(merchant_wallet).await;
    let payer_cln = Cln::start(payer_wallet.clone()).await;
    Pair {
        merchant: merchant_cln.client(RUNE),
        payer: payer_cln.client(RUNE),
        payer_cln,
        payer_wallet,
    }
}

async fn invoice(merchant: &ClnRestClient, sats: u64, memo: String) -> Invoice {
    merchant
        .create_invoice(&InvoiceRequest::sats(sats).memo(memo))
        .await
        .unwrap()
}

// --- Tests ---------------------------------------------------------------

#[tokio::test]
async fn create_pay_and_look_up_over_pinned_tls() {
    let p = pair().await;
    let first = invoice(&p.merchant, 21, "cln test".into()).await;
    assert_eq!(
        p.merchant
            .lookup_invoice(&first.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Pending
    );
    assert_eq!(
        p.payer.lookup_payment(&first.payment_hash).await.unwrap(),
        OutgoingStatus::Unknown
    );
    let paid = p
        .payer
        .pay(&PayRequest::new(&first.bolt11).max_fee_msat(2_000))
        .await
        .unwrap();
    assert!(paid.preimage.matches(&first.payment_hash));
    assert_eq!((paid.amount_msat, paid.fee_msat), (21_000, 0));
    match p.payer.lookup_payment(&first.payment_hash).await.unwrap() {
        OutgoingStatus::Succeeded(found) => assert_eq!(found.preimage, paid.preimage),
        other => panic!("expected Succeeded, got {other:?}"),
    }
    assert_eq!(
        p.merchant
            .lookup_invoice(&first.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Paid {
            preimage: paid.preimage.clone()
        }
    );
    assert_eq!(p.payer.balance_msat().await.unwrap(), 979_000);
    let info = p.payer.node_info().await.unwrap();
    assert_eq!(info.backend, Backend::Cln);
    assert_eq!(info.network.as_deref(), Some("regtest"));
    assert!(p.payer.enforces_max_fee());
    // Each invoice gets its own label.
    let second = invoice(&p.merchant, 1, "second".into()).await;
    p.payer.pay(&PayRequest::new(&second.bolt11)).await.unwrap();
    assert_eq!(
        *p.payer_cln.maxfees.lock().unwrap(),
        vec![Some(2_000), None]
    );
    let err = p
        .merchant
        .lookup_invoice(&PaymentHash([9; 32]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::UnknownInvoice { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_failed_payment_is_failed_and_looked_up_as_failed() {
    let p = pair().await;
    let invoice = invoice(&p.merchant, 5, DevFault::Failed.memo()).await;
    let err = p
        .payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Failed { .. }), "{err:?}");
    assert_eq!(err.outcome(), PayOutcome::Failed);
    assert!(matches!(
        p.payer.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Failed { .. }
    ));
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 1_000_000);
}

#[tokio::test]
async fn a_pending_payment_is_awaited_until_it_succeeds() {
    let p = pair().await;
    let fault = DevFault::Pending {
        for_: Duration::from_millis(400),
    };
    let invoice = invoice(&p.merchant, 5, fault.memo()).await;
    let started = Instant::now();
    let paid = p
        .payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert!(paid.preimage.matches(&invoice.payment_hash));
}

#[tokio::test]
async fn pending_past_the_pay_timeout_is_unknown_then_resolved_by_lookup() {
    let p = pair().await;
    let fault = DevFault::Pending {
        for_: Duration::from_millis(1_200),
    };
    let invoice = invoice(&p.merchant, 5, fault.memo()).await;
    let payer = ClnRestClient::builder(&p.payer_cln.url, RUNE)
        .tls_cert_pem(CERT)
        .pay_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Timeout { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert_eq!(
        payer.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Pending
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        payer
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
}

#[tokio::test]
async fn connection_cut_after_the_pay_request_is_unknown_then_resolved_without_paying_twice() {
    let p = pair().await;
    let invoice = invoice(&p.merchant, 7, "cut".into()).await;
    p.payer_cln.cut_next_pay.store(true, Ordering::SeqCst);
    let err = p
        .payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Interrupted { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    let found = match p.payer.lookup_payment(&invoice.payment_hash).await.unwrap() {
        OutgoingStatus::Succeeded(found) => found,
        other => panic!("expected Succeeded, got {other:?}"),
    };
    // CLN answers a second `pay` of a completed payment with its earlier
    // result: the same preimage, and no money moves again.
    let again = p
        .payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap();
    assert_eq!(again.preimage, found.preimage);
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 993_000);
}

#[tokio::test]
async fn no_preimage_and_wrong_preimage_are_unknown_never_success() {
    let p = pair().await;
    let a = invoice(&p.merchant, 3, DevFault::NoPreimage.memo()).await;
    let err = p.payer.pay(&PayRequest::new(&a.bolt11)).await.unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::BadResponse { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert!(
        p.payer
            .lookup_payment(&a.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
    let b = invoice(&p.merchant, 3, DevFault::WrongPreimage.memo()).await;
    let err = p.payer.pay(&PayRequest::new(&b.bolt11)).await.unwrap_err();
    assert!(matches!(err, PayError::PreimageMismatch { .. }), "{err:?}");
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    let err = p.payer.lookup_payment(&b.payment_hash).await.unwrap_err();
    assert!(matches!(err, PayError::PreimageMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn wrong_rune_is_unauthorized_and_pays_nothing() {
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "auth".into()).await;
    let wrong = p.payer_cln.client("not-the-rune");
    let err = wrong
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unauthorized { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Failed);
    assert!(matches!(
        wrong.balance_msat().await,
        Err(BackendError::Unauthorized { .. })
    ));
    assert!(matches!(
        wrong.create_invoice(&InvoiceRequest::sats(1)).await,
        Err(ReceiveError::Backend(BackendError::Unauthorized { .. }))
    ));
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 1_000_000);
}

#[tokio::test]
async fn unpinned_certificate_is_refused_before_anything_is_sent() {
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "pin".into()).await;
    let other = include_bytes!("fixtures/other-tls.cert");
    let impostor_pin = ClnRestClient::builder(&p.payer_cln.url, RUNE)
        .tls_cert_pem(other)
        .build()
        .unwrap();
    let err = impostor_pin
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert_eq!(err.outcome(), PayOutcome::NotSent, "{err:?}");
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 1_000_000);
}

#[test]
fn configuration_and_debug_never_show_the_rune() {
    let client = ClnRestClient::builder("https://127.0.0.1:3010", RUNE)
        .tls_cert_pem(CERT)
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains(RUNE));
    assert!(!format!("{:?}", ClnRestClient::builder("https://x", RUNE)).contains(RUNE));
    assert!(matches!(
        ClnRestClient::builder("https://127.0.0.1:3010", " ").build(),
        Err(ClnConfigError::BadRune)
    ));
    assert!(matches!(
        ClnRestClient::builder("nope", RUNE).build(),
        Err(ClnConfigError::InvalidUrl(_))
    ));
}

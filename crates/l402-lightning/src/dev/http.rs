//! The dev node's LNbits-compatible HTTP API (see the module docs of [`super`]).
// Handlers return early with an axum `Response` as the error: idiomatic here.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::fault::{DevFault, wrong_preimage};
use super::{DevNode, DevNodeError, DevWallet, InvoiceRecord, KeyKind, NOT_A_REAL_NODE};
use crate::{
    BackendError, InvoiceRequest, InvoiceStatus, PayError, PayRequest, PaymentHash, ReceiveError,
    unix_now,
};

/// A running dev node HTTP server. Dropping it stops the server too.
#[derive(Debug)]
pub struct DevServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl DevServer {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the base URL for an LNbits client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits
    /// for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub(super) async fn serve(node: DevNode, addr: SocketAddr) -> Result<DevServer, DevNodeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DevNodeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| DevNodeError::Bind { addr, source })?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = router(node);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(DevServer {
        addr: local,
        shutdown: Some(tx),
        task: Some(task),
    })
}

impl DevNode {
    /// The dev node's LNbits-compatible wallet API as an axum [`Router`], to
    /// mount inside another server (`l402 serve` nests it under `/dev`).
    /// [`DevNode::serve`] runs the same router on its own listener.
    pub fn router(&self) -> Router {
        router(self.clone())
    }
}

fn router(node: DevNode) -> Router {
    Router::new()
        .route("/api/v1/payments", post(create_or_pay))
        .route("/api/v1/payments/{hash}", get(lookup))
        .route("/api/v1/wallet", get(wallet_info))
        .route("/api/v1/account", post(create_account))
        .route("/api/v1/health", get(health))
        .route("/dev/v1/faucet", post(faucet))
        .route("/dev/v1/info", get(info))
        .fallback(not_found)
        .layer(axum::middleware::map_response(mark_not_real))
        .with_state(node)
}

async fn mark_not_real(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("x-l402-dev-node", HeaderValue::from_static(NOT_A_REAL_NODE));
    response
}

/// A JSON error in LNbits' shape.
fn detail(status: StatusCode, detail: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "detail": detail.into(), "dev_node": NOT_A_REAL_NODE })),
    )
        .into_response()
}

/// A payment failure: LNbits answers 520 with `status: "failed"`.
fn failed(message: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(520).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(
            json!({ "detail": message.into(), "status": "failed", "dev_node": NOT_A_REAL_NODE }),
        ),
    )
        .into_response()
}

fn internal(e: BackendError) -> Response {
    detail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn api_key<'a>(headers: &'a HeaderMap, query: &'a HashMap<String, String>) -> Option<&'a str> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query.get("api-key").map(String::as_str))
        .filter(|k| !k.is_empty())
}

/// LNbits' key check: no key 401, unknown key 404.
async fn authenticate(
    node: &DevNode,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(DevWallet, KeyKind), Response> {
    let Some(key) = api_key(headers, query) else {
        return Err(detail(
            StatusCode::UNAUTHORIZED,
            "Invoice (or Admin) key required.",
        ));
    };
    match node.wallet_by_key(key).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(detail(StatusCode::NOT_FOUND, "Wallet not found.")),
        Err(e) => Err(internal(e)),
    }
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| detail(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
struct CreateOrPay {
    #[serde(default = "default_true")]
    out: bool,
    amount: Option<f64>,
    unit: Option<String>,
    memo: Option<String>,
    expiry: Option<i64>,
    bolt11: Option<String>,
    /// LNbits' `description_hash`: 64 hex digits the invoice commits to.
    description_hash: Option<String>,
}

fn default_true() -> bool {
    true
}

/// LNbits writes UTC timestamps with an explicit `+00:00` offset.
fn iso8601(unix: u64) -> String {
    let z = l402::time::rfc3339(unix);
    format!("{}+00:00", z.trim_end_matches('Z'))
}

/// LNbits' `Payment` model for an incoming invoice.
fn incoming_json(record: &InvoiceRecord, now: u64) -> Value {
    let status = match record.status(now) {
        InvoiceStatus::Paid { .. } => "success",
        InvoiceStatus::Pending => "pending",
        InvoiceStatus::Expired => "failed",
    };
    json!({
        "checking_id": record.payment_hash.to_string(),
        "payment_hash": record.payment_hash.to_string(),
        "wallet_id": record.wallet_id,
        "amount": record.amount_msat,
        "fee": 0,
        "bolt11": record.bolt11,
        "payment_request": record.bolt11,
        "status": status,
        "memo": record.memo,
        "expiry": iso8601(record.expires_at),
        "preimage": record.preimage.to_hex(),
        "time": iso8601(record.created_at),
        "created_at": iso8601(record.created_at),
        "updated_at": iso8601(record.paid_at.unwrap_or(record.created_at)),
        "labels": [],
        "extra": {},
        "dev_node": NOT_A_REAL_NODE,
    })
}

/// LNbits' `Payment` model for an outgoing payment: `"success"` with the
/// preimage once settled, `"pending"` without it while an injected
/// [`DevFault::Pending`] holds it. A [`DevFault::WrongPreimage`] invoice
/// shows the payer a wrong preimage.
fn outgoing_json(payer: &str, record: &InvoiceRecord) -> Value {
    let paid = record.paid_at.unwrap_or(record.created_at);
    let settled = record.is_settled();
    let preimage = match record.fault() {
        _ if !settled => None,
        Some(DevFault::WrongPreimage) => Some(wrong_preimage(&record.preimage).to_hex()),
        _ => Some(record.preimage.to_hex()),
    };
    json!({
        "checking_id": format!("internal_{}", record.payment_hash),
        "payment_hash": record.payment_hash.to_string(),
        "wallet_id": payer,
        "amount": -(record.amount_msat as i128),
        "fee": 0,
        "bolt11": record.bolt11,
        "payment_request": record.bolt11,
        "status": if settled { "success" } else { "pending" },
        "memo": record.memo,
        "expiry": iso8601(record.expires_at),
        "preimage": preimage,
        "time": iso8601(paid),
        "created_at": iso8601(paid),
        "updated_at": iso8601(paid),
        "labels": [],
        "extra": {},
        "dev_node": NOT_A_REAL_NODE,
    })
}

async fn create_or_pay(
    State(node): State<DevNode>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (wallet, kind) = match authenticate(&node, &headers, &query).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let request: CreateOrPay = match parse_body(&body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    if request.out {
        if kind != KeyKind::Admin {
            return detail(StatusCode::FORBIDDEN, "Invoice (or Admin) key required.");
        }
        let Some(bolt11) = request.bolt11 else {
            return detail(StatusCode::BAD_REQUEST, "Missing BOLT11 invoice");
        };
        pay(&node, &wallet, &bolt11).await
    } else {
        create(&node, &wallet, request).await
    }
}

async fn create(node: &DevNode, wallet: &DevWallet, request: CreateOrPay) -> Response {
    if let Some(unit) = &request.unit
        && unit != "sat"
    {
        return detail(
            StatusCode::BAD_REQUEST,
            format!("the dev node only supports unit \"sat\", not {unit:?}"),
        );
    }
    let amount = request.amount.unwrap_or(0.0);
    if !amount.is_finite() || amount < 0.0 || amount.fract() != 0.0 || amount > 2.1e15 {
        return detail(
            StatusCode::BAD_REQUEST,
            "amount must be a whole number of sats",
        );
    }
    if amount == 0.0 {
        return failed("Amountless invoices not supported.");
    }
    let expiry = match request.expiry {
        None => crate::DEFAULT_INVOICE_EXPIRY,
        Some(secs) if secs > 0 => Duration::from_secs(secs as u64),
        Some(_) => return detail(StatusCode::BAD_REQUEST, "expiry must be positive"),
    };
    let mut invoice_request = InvoiceRequest::sats(amount as u64)
        .memo(request.memo.unwrap_or_default())
        .expiry(expiry);
    if let Some(text) = &request.description_hash {
        let mut hash = [0u8; 32];
        if hex::decode_to_slice(text, &mut hash).is_err() {
            return detail(
                StatusCode::BAD_REQUEST,
                "description_hash must be 64 hex digits",
            );
        }
        invoice_request = invoice_request.description_hash(hash);
    }
    match node.create_invoice_for(&wallet.id, &invoice_request).await {
        Ok(record) => (
            StatusCode::CREATED,
            axum::Json(incoming_json(&record, unix_now())),
        )
            .into_response(),
        Err(ReceiveError::Backend(e)) => internal(e),
        Err(e) => failed(e.to_string()),
    }
}

async fn pay(node: &DevNode, wallet: &DevWallet, bolt11: &str) -> Response {
    match node.pay_from(&wallet.id, &PayRequest::new(bolt11)).await {
        Ok((_, record)) => {
            let mut body = outgoing_json(&wallet.id, &record);
            if record.fault() == Some(DevFault::NoPreimage) {
                body["preimage"] = Value::Null;
            }
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        // LNbits' messages, so clients that match on them keep working.
        Err(PayError::AlreadyPaid { .. }) => failed("Internal invoice already paid."),
        Err(PayError::InsufficientBalance { .. }) => failed("Insufficient balance."),
        Err(PayError::InvalidInvoice { reason, .. }) if reason.contains("amountless") => {
            failed("Amountless invoices not supported.")
        }
        Err(PayError::InvalidInvoice { reason, .. }) => {
            failed(format!("Bolt11 decoding failed. ({reason})"))
        }
        Err(PayError::UnknownInvoice { reason, .. }) => failed(format!(
            "Payment failed: Only internal invoices can be used! ({reason})"
        )),
        Err(PayError::Expired { .. }) => failed("Invoice expired."),
        Err(PayError::Backend(e)) => internal(e),
        // "failed" only when nothing was paid; otherwise a 500 that says
        // nothing about the payment, so clients look it up.
        Err(e) if e.outcome().no_money_moved() => failed(e.to_string()),
        Err(e) => detail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn lookup(
    State(node): State<DevNode>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Response {
    // LNbits: the key is optional here; an unknown key counts as none.
    let wallet = match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(key) => match node.wallet_by_key(key).await {
            Ok(found) => found.map(|(w, _)| w),
            Err(e) => return internal(e),
        },
        None => None,
    };
    let Ok(hash) = PaymentHash::from_str(&hash) else {
        return detail(StatusCode::NOT_FOUND, "Payment does not exist.");
    };
    let wallet_id = wallet.as_ref().map(|w| w.id.as_str());
    let now = unix_now();
    // The wallet's own invoice first, then its outgoing payment.
    let (details, record) = match node.invoice_record(&hash, wallet_id).await {
        Ok(Some(record)) => (incoming_json(&record, now), record),
        Ok(None) => match node.payment_record(&hash, wallet_id).await {
            Ok(Some((payer, record))) => (outgoing_json(&payer, &record), record),
            Ok(None) => return failed_or_missing(&node, &hash, wallet_id).await,
            Err(e) => return internal(e),
        },
        Err(e) => return internal(e),
    };
    let status = record.status(now);
    let paid = status.is_paid();
    let status_text = match status {
        InvoiceStatus::Paid { .. } => "success",
        InvoiceStatus::Pending => "pending",
        InvoiceStatus::Expired => "failed",
    };
    // Only expose the preimage once paid, as LNbits does (and the one the
    // payer is shown, which an injected fault may falsify).
    let preimage = if paid {
        details.get("preimage").cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let body = if wallet.is_some() {
        json!({
            "paid": paid,
            "status": status_text,
            "preimage": preimage,
            "details": details,
            "dev_node": NOT_A_REAL_NODE,
        })
    } else {
        json!({ "paid": paid, "preimage": preimage, "dev_node": NOT_A_REAL_NODE })
    };
    axum::Json(body).into_response()
}

/// No payment of this wallet with that hash: LNbits' record of a failed
/// one (an injected [`DevFault::Failed`]), or 404.
async fn failed_or_missing(
    node: &DevNode,
    hash: &PaymentHash,
    wallet_id: Option<&str>,
) -> Response {
    let Some(wallet_id) = wallet_id else {
        return detail(StatusCode::NOT_FOUND, "Payment does not exist.");
    };
    match node.failed_payment(hash, wallet_id).await {
        Ok(Some(reason)) => axum::Json(json!({
            "paid": false,
            "status": "failed",
            "preimage": null,
            "details": { "payment_hash": hash.to_string(), "status": "failed", "memo": reason },
            "dev_node": NOT_A_REAL_NODE,
        }))
        .into_response(),
        Ok(None) => detail(StatusCode::NOT_FOUND, "Payment does not exist."),
        Err(e) => internal(e),
    }
}

async fn wallet_info(
    State(node): State<DevNode>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (wallet, kind) = match authenticate(&node, &headers, &query).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let balance = match node.balance_of(&wallet.id).await {
        Ok(b) => b,
        Err(e) => return internal(e),
    };
    let mut body = json!({ "name": wallet.name, "balance": balance, "dev_node": NOT_A_REAL_NODE });
    if kind == KeyKind::Admin {
        body["id"] = json!(wallet.id);
    }
    axum::Json(body).into_response()
}

#[derive(Deserialize)]
struct NewAccount {
    name: Option<String>,
}

async fn create_account(State(node): State<DevNode>, body: Bytes) -> Response {
    let request: NewAccount = match parse_body(&body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let name = request.name.unwrap_or_else(|| "dev wallet".to_string());
    match node.create_wallet(&name).await {
        Ok(wallet) => axum::Json(json!({
            "id": wallet.id,
            "user": wallet.id,
            "name": wallet.name,
            "adminkey": wallet.admin_key,
            "inkey": wallet.invoice_key,
            "balance_msat": 0,
            "dev_node": NOT_A_REAL_NODE,
        }))
        .into_response(),
        Err(e) => detail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct Faucet {
    amount: u64,
}

async fn faucet(
    State(node): State<DevNode>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (wallet, _) = match authenticate(&node, &headers, &query).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let request: Faucet = match parse_body(&body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    match wallet.credit_sats(request.amount).await {
        Ok(balance) => axum::Json(json!({
            "balance": balance,
            "credited_sats": request.amount,
            "dev_node": NOT_A_REAL_NODE,
            "note": "fake money from the dev node faucet",
        }))
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn info(State(node): State<DevNode>) -> Response {
    let info = node.node_info();
    axum::Json(json!({
        "alias": info.alias,
        "pubkey": info.pubkey,
        "network": info.network,
        "real_lightning": false,
        "dev_node": NOT_A_REAL_NODE,
    }))
    .into_response()
}

async fn health() -> Response {
    axum::Json(json!({ "status": "ok", "dev_node": NOT_A_REAL_NODE })).into_response()
}

async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not Found")
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20+00:00");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00+00:00");
    }
}

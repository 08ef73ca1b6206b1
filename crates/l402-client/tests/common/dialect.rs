//! A hand-made server for each L402 dialect deployed sellers speak, and each
//! way one can go wrong: real BOLT11 invoices from any `Receiver` (the dev
//! node or LNbits), real macaroons where the dialect has them, opaque tokens
//! where it does not (l402kit's base64 JSON, Alby's `base64url(JSON).hmac`),
//! single-use tokens, and "not yet" answers with `Retry-After`.
//!
//! A credential is accepted when its token is one this server issued and
//! `sha256(preimage)` is that token's payment hash (what l402kit checks).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use l402::{Caveat, Keyring, Minter, PaymentHash, Preimage};
use l402_lightning::{InvoiceRequest, Receiver};
use serde_json::json;

/// How the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// l402kit's decorator: the header and `{"error","price_sats","invoice",
    /// "macaroon"}`, the "macaroon" being `base64(JSON{hash, exp})`.
    L402kit,
    /// l402kit's body only (no `WWW-Authenticate`), `paymentRequest`.
    L402kitBodyOnly,
    /// l402-express's body only: `{"error","l402":{macaroon, invoice,
    /// amount_sats, payment_hash, expires_at, resource}}`, a V2 macaroon.
    ExpressBodyOnly,
    /// Lightning Enable's challenge shape as a 402 body only:
    /// `{invoice, macaroon, paymentHash, expiresAt, resource, priceSats}`.
    LightningEnableBodyOnly,
    /// Alby's server utilities: `L402 version="0" token="…", invoice="…"`,
    /// the token `base64url(JSON).hmacHex`.
    Alby,
    /// Header and body carry different invoices.
    DisagreeInvoice,
    /// Header and body carry different macaroons.
    DisagreeMacaroon,
    /// The body's `price_sats` is not the invoice's amount.
    BodyWrongPrice,
    /// l402kit's hosted demo: the token's JSON `hash` is a server-generated
    /// preimage's, not the invoice's.
    L402kitForeignHash,
}

pub struct Shared {
    dialect: Dialect,
    price_sats: u64,
    receiver: Arc<dyn Receiver>,
    minter: Minter,
    /// Tokens issued -> their payment hash.
    tokens: Mutex<HashMap<String, PaymentHash>>,
    /// Preimages already accepted (single-use servers).
    used: Mutex<HashSet<String>>,
    single_use: bool,
    /// "Not yet" answers still to give to valid credentials, and their status.
    not_yet: AtomicUsize,
    not_yet_status: StatusCode,
    pub minted: Mutex<Vec<PaymentHash>>,
    pub challenges: AtomicUsize,
    pub authorized: AtomicUsize,
    pub served: AtomicUsize,
}

/// A running dialect server; stops when dropped.
pub struct DialectServer {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DialectServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Options of a dialect server.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub price_sats: u64,
    /// A token's second use is refused with 401 `{"error":"Token already used"}`.
    pub single_use: bool,
    /// The first `n` valid credentials get `not_yet_status` with `Retry-After: 1`.
    pub not_yet: usize,
    pub not_yet_status: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            price_sats: 10,
            single_use: false,
            not_yet: 0,
            not_yet_status: 425,
        }
    }
}

impl DialectServer {
    pub async fn start(receiver: Arc<dyn Receiver>, dialect: Dialect, opts: Options) -> Self {
        let shared = Arc::new(Shared {
            dialect,
            price_sats: opts.price_sats,
            receiver,
            minter: Minter::new(Keyring::new(1, *Preimage::random().unwrap().as_bytes())),
            tokens: Mutex::new(HashMap::new()),
            used: Mutex::new(HashSet::new()),
            single_use: opts.single_use,
            not_yet: AtomicUsize::new(opts.not_yet),
            not_yet_status: StatusCode::from_u16(opts.not_yet_status).unwrap(),
            minted: Mutex::new(Vec::new()),
            challenges: AtomicUsize::new(0),
            authorized: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/premium", get(premium))
            .route("/other", get(premium))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        DialectServer { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn challenges(&self) -> usize {
        self.shared.challenges.load(Ordering::SeqCst)
    }

    pub fn served(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// How many of the invoices this server minted were paid: the number of
    /// payments made to it.
    pub async fn payments(&self) -> usize {
        let minted = self.shared.minted.lock().unwrap().clone();
        let mut paid = 0;
        for hash in minted {
            if self
                .shared
                .receiver
                .lookup_invoice(&hash)
                .await
                .is_ok_and(|s| s.is_paid())
            {
                paid += 1;
            }
        }
        paid
    }
}

/// Standard base64 with padding (what Python's `base64.b64encode` gives).
pub fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if !url_safe {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

fn now_ms() -> u64 {
    l402::time::unix_millis()
}

async fn invoice(shared: &Shared) -> (String, PaymentHash) {
    let invoice = shared
        .receiver
        .create_invoice(&InvoiceRequest::sats(shared.price_sats).memo("dialect"))
        .await
        .unwrap();
    shared.minted.lock().unwrap().push(invoice.payment_hash);
    (invoice.bolt11, invoice.payment_hash)
}

fn l402kit_token(hash: &PaymentHash) -> String {
    // Python's json.dumps: `{"hash": "...", "exp": 123}`.
    let json = format!(r#"{{"hash": "{hash}", "exp": {}}}"#, now_ms() + 3_600_000);
    base64(json.as_bytes(), false)
}

fn alby_token(hash: &PaymentHash) -> String {
    let json = format!(
        r#"{{"paymentHash":"{hash}","exp":{}}}"#,
        now_ms() / 1000 + 3600
    );
    format!("{}.{}", base64(json.as_bytes(), true), "5a".repeat(32))
}

async fn challenge(shared: &Shared) -> Response {
    shared.challenges.fetch_add(1, Ordering::SeqCst);
    let (bolt11, hash) = invoice(shared).await;
    let macaroon = shared
        .minter
        .mint(hash, &[Caveat::resource("/premium")])
        .unwrap()
        .to_string();
    let price = shared.price_sats;
    let issue = |token: &str| {
        shared
            .tokens
            .lock()
            .unwrap()
            .insert(token.to_string(), hash);
    };
    let header =
        |token: &str, bolt11: &str| format!(r#"L402 macaroon="{token}", invoice="{bolt11}""#);
    let (header, body) = match shared.dialect {
        Dialect::L402kit => {
            let token = l402kit_token(&hash);
            issue(&token);
            (
                Some(header(&token, &bolt11)),
                json!({"error": "Payment Required", "price_sats": price, "invoice": bolt11, "macaroon": token}),
            )
        }
        Dialect::L402kitBodyOnly => {
            let token = l402kit_token(&hash);
            issue(&token);
            (
                None,
                json!({"error": "Payment Required", "priceSats": price, "paymentRequest": bolt11, "macaroon": token}),
            )
        }
        Dialect::ExpressBodyOnly => {
            issue(&macaroon);
            (
                None,
                json!({"error": "Payment Required", "l402": {
                    "macaroon": macaroon, "invoice": bolt11, "amount_sats": price,
                    "payment_hash": hash.to_string(), "expires_at": "2099-01-01T00:00:00Z",
                    "resource": "/premium"}}),
            )
        }
        Dialect::LightningEnableBodyOnly => {
            issue(&macaroon);
            (
                None,
                json!({"invoice": bolt11, "macaroon": macaroon, "paymentHash": hash.to_string(),
                       "expiresAt": "2099-01-01T00:00:00Z", "resource": "/premium",
                       "priceSats": price, "mppChallenge": null}),
            )
        }
        Dialect::Alby => {
            let token = alby_token(&hash);
            issue(&token);
            (
                Some(format!(
                    r#"L402 version="0" token="{token}", invoice="{bolt11}""#
                )),
                json!({"error": "Payment Required"}),
            )
        }
        Dialect::DisagreeInvoice => {
            issue(&macaroon);
            let (other, _) = invoice(shared).await;
            (
                Some(header(&macaroon, &bolt11)),
                json!({"l402": {"macaroon": macaroon, "invoice": other}}),
            )
        }
        Dialect::DisagreeMacaroon => {
            issue(&macaroon);
            let other = shared
                .minter
                .mint(hash, &[Caveat::resource("/elsewhere")])
                .unwrap()
                .to_string();
            (
                Some(header(&macaroon, &bolt11)),
                json!({"invoice": bolt11, "macaroon": other}),
            )
        }
        Dialect::L402kitForeignHash => {
            let token = l402kit_token(&Preimage::random().unwrap().payment_hash());
            issue(&token);
            (
                Some(header(&token, &bolt11)),
                json!({"error": "Payment Required", "priceSats": price, "invoice": bolt11, "macaroon": token}),
            )
        }
        Dialect::BodyWrongPrice => {
            let token = l402kit_token(&hash);
            issue(&token);
            (
                Some(header(&token, &bolt11)),
                json!({"error": "Payment Required", "price_sats": price / 2, "invoice": bolt11, "macaroon": token}),
            )
        }
    };
    let mut headers = HeaderMap::new();
    if let Some(h) = header {
        headers.insert("www-authenticate", HeaderValue::from_str(&h).unwrap());
    }
    (StatusCode::PAYMENT_REQUIRED, headers, axum::Json(body)).into_response()
}

async fn premium(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return challenge(&shared).await;
    };
    shared.authorized.fetch_add(1, Ordering::SeqCst);
    let Some((token, preimage)) = auth.strip_prefix("L402 ").and_then(|t| t.rsplit_once(':'))
    else {
        return challenge(&shared).await;
    };
    let issued = shared.tokens.lock().unwrap().get(token).copied();
    let genuine =
        issued.is_some_and(|hash| preimage.parse::<Preimage>().is_ok_and(|p| p.matches(&hash)));
    if !genuine {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "Invalid token"})),
        )
            .into_response();
    }
    if shared
        .not_yet
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            shared.not_yet_status,
            [("retry-after", "1")],
            axum::Json(json!({"error": "payment not yet confirmed"})),
        )
            .into_response();
    }
    if shared.single_use && !shared.used.lock().unwrap().insert(preimage.to_string()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "Token already used"})),
        )
            .into_response();
    }
    shared.served.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"data": "premium content"})).into_response()
}

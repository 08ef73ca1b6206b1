//! A hand-made seller for `l402 check`: `/<fault>/<rest>` gets the one item
//! `fault` names wrong and everything else right (Aperture's form with an
//! LSAT challenge first, `Cache-Control: no-store`, CORS, real macaroons
//! and verification). Invoices come from `l402 serve`'s dev node over its
//! LNbits-shaped API, so `l402 check --pay` with the same data directory
//! really pays them.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bitcoin::hashes::{Hash, sha256};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use l402::{
    Caveat, Challenge, ChallengeStyle, Credential, Identifier, Keyring, Macaroon, Minter,
    PaymentHash, Preimage, RequestContext, RootKey, Scheme, Verifier,
};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use serde_json::{Value, json};

/// The price of every path.
pub const PRICE_SATS: u64 = 7;

struct Shared {
    dev_url: String,
    invoice_key: String,
    keys: Keyring,
    http: reqwest::Client,
    /// Requests answered 2xx with a credential.
    served: AtomicUsize,
    /// Preimages already used (`/singleuse/`).
    used: std::sync::Mutex<Vec<String>>,
}

/// A running bad seller.
pub struct BadServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BadServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BadServer {
    /// Starts one, minting invoices on the dev node at `dev_url` (`l402
    /// serve`'s `<url>/dev`) in a wallet of its own.
    pub async fn start(dev_url: &str) -> BadServer {
        let http = reqwest::Client::new();
        let account: Value = http
            .post(format!("{dev_url}/api/v1/account"))
            .json(&json!({"name": "bad seller"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let shared = Arc::new(Shared {
            dev_url: dev_url.to_owned(),
            invoice_key: account["inkey"].as_str().unwrap().to_owned(),
            keys: Keyring::new(1, *Preimage::random().unwrap().as_bytes()),
            http,
            served: AtomicUsize::new(0),
            used: std::sync::Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/{fault}/{*rest}", any(handle))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        BadServer { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests served with a credential.
    pub fn served(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }
}

/// A regtest invoice signed here (amountless or already expired: the dev
/// node mints neither).
fn local_invoice(hash: PaymentHash, amount_msat: Option<u64>, expired: bool) -> String {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x22; 32]).unwrap();
    let now = l402::time::unix_now();
    let (at, expiry) = if expired { (now - 120, 60) } else { (now, 600) };
    let mut b = InvoiceBuilder::new(Currency::Regtest)
        .description("bad seller".into())
        .payment_hash(sha256::Hash::from_byte_array(hash.0))
        .payment_secret(PaymentSecret([3; 32]))
        .timestamp(UNIX_EPOCH + Duration::from_secs(at))
        .expiry_time(Duration::from_secs(expiry))
        .min_final_cltv_expiry_delta(18);
    if let Some(msat) = amount_msat {
        b = b.amount_milli_satoshis(msat);
    }
    b.build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        .unwrap()
        .to_string()
}

async fn dev_invoice(shared: &Shared, memo: &str) -> (String, PaymentHash) {
    let created: Value = shared
        .http
        .post(format!("{}/api/v1/payments", shared.dev_url))
        .header("X-Api-Key", &shared.invoice_key)
        .json(&json!({"out": false, "amount": PRICE_SATS, "memo": memo, "expiry": 600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        created["bolt11"].as_str().unwrap().to_owned(),
        PaymentHash::from_str(created["payment_hash"].as_str().unwrap()).unwrap(),
    )
}

async fn challenge(shared: &Shared, fault: &str, path: &str) -> Response {
    let (invoice, hash) = match fault {
        "amountless" => {
            let h = Preimage::random().unwrap().payment_hash();
            (local_invoice(h, None, false), h)
        }
        "expired" => {
            let h = Preimage::random().unwrap().payment_hash();
            (local_invoice(h, Some(PRICE_SATS * 1000), true), h)
        }
        _ => dev_invoice(shared, path).await,
    };
    let mac_hash = if fault == "hash" {
        Preimage::random().unwrap().payment_hash()
    } else {
        hash
    };
    let caveats = if fault == "anypath" {
        vec![]
    } else {
        vec![Caveat::resource(path)]
    };
    let macaroon = match fault {
        // l402kit's unsigned base64 JSON token.
        "opaque" => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .encode(format!(r#"{{"hash":"{hash}","exp":9999999999000}}"#))
        }
        // A macaroon without Aperture's identifier.
        "identifier" => Macaroon::new(&RootKey::from([5; 32]), b"not an L402 id".to_vec(), "lsat")
            .unwrap()
            .to_string(),
        _ => Minter::new(shared.keys.clone())
            .mint(mac_hash, &caveats)
            .unwrap()
            .to_string(),
    };
    let invoice = if fault == "badinvoice" {
        "lnbcrt70n1notaninvoice".to_owned()
    } else {
        invoice
    };
    let (m, i) = (&macaroon, &invoice);
    let values: Vec<String> = match fault {
        "order" => vec![format!(r#"L402 invoice="{i}", macaroon="{m}""#)],
        "quoting" => vec![format!(r#"L402 macaroon={m}, invoice={i}"#)],
        "spacing" => vec![format!(r#"L402 macaroon="{m}",invoice="{i}""#)],
        "lower" => vec![format!(r#"l402 macaroon="{m}", invoice="{i}""#)],
        "mppfirst" => vec![
            r#"Payment id="x", method="lightning", intent="charge", request="e30""#.to_owned(),
            Challenge::new(m.clone(), i.clone()).to_string(),
        ],
        "nolsat" => vec![Challenge::new(m.clone(), i.clone()).to_string()],
        "nochallenge" => vec![],
        _ => Challenge::new(m.clone(), i.clone())
            .header_values(&ChallengeStyle::default().with_lsat_header(true)),
    };
    let body_invoice = if fault == "body" {
        dev_invoice(shared, "another").await.0
    } else {
        invoice.clone()
    };
    let body = json!({
        "error": "Payment Required",
        "l402": {"macaroon": macaroon, "invoice": body_invoice, "amount_sats": PRICE_SATS},
    });
    let status = if fault == "status" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::PAYMENT_REQUIRED
    };
    let mut headers = HeaderMap::new();
    for v in values {
        headers.append("www-authenticate", HeaderValue::from_str(&v).unwrap());
    }
    if fault != "nocache" {
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    if fault != "nocors" {
        headers.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    (status, headers, axum::Json(body)).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "Unauthorized", "code": "invalid_credential"})),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((fault, rest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let path = format!("/{fault}/{rest}");
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return challenge(&shared, &fault, &path).await;
    };
    let credential = match Credential::from_str(auth) {
        Ok(c) => c,
        Err(_) if fault == "garbage402" => return challenge(&shared, &fault, &path).await,
        Err(_) if fault == "garbage200" => {
            shared.served.fetch_add(1, Ordering::SeqCst);
            return "free for all".into_response();
        }
        Err(_) => return unauthorized(),
    };
    if fault == "nolsatcred" && credential.scheme() == Scheme::Lsat {
        return unauthorized();
    }
    let accepted = if fault == "preimage" {
        // Checks the macaroon's signature, never the preimage (nor caveats).
        Identifier::from_bytes(credential.macaroon().identifier())
            .ok()
            .and_then(|id| shared.keys.root_key(&id.token_id))
            .is_some_and(|root| credential.macaroon().verify_signature(&root))
    } else {
        let ctx = RequestContext::now()
            .resource(path.as_str())
            .method(method.as_str());
        match Verifier::new(shared.keys.clone()).verify(&credential, &ctx) {
            Ok(_) => true,
            Err(e) if e.is_genuine() => return challenge(&shared, &fault, &path).await,
            Err(_) => false,
        }
    };
    if !accepted {
        return unauthorized();
    }
    if fault == "singleuse" {
        let preimage = credential.preimage().to_hex();
        let mut used = shared.used.lock().unwrap();
        if used.contains(&preimage) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "Token already used"})),
            )
                .into_response();
        }
        used.push(preimage);
    }
    if fault == "paid500" {
        return (StatusCode::INTERNAL_SERVER_ERROR, "broken").into_response();
    }
    shared.served.fetch_add(1, Ordering::SeqCst);
    format!("the content of {path}").into_response()
}

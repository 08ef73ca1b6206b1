//! A hand-made L402 server for the tests: real challenges (l402's `Minter`,
//! real BOLT11 invoices from a dev node or LNbits), real verification
//! (`Verifier`), and switchable misbehaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod dialect;
pub mod proxy;
pub mod seller;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bitcoin::hashes::{Hash, sha256};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use l402::{
    Caveat, Challenge, Credential, Keyring, Minter, PaymentHash, Preimage, RequestContext, Verifier,
};
use l402_lightning::dev::{DevNode, DevWallet};
use l402_lightning::{InvoiceRequest, Receiver};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};

/// How the server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Aperture's challenge; verifies credentials.
    Normal,
    /// The macaroon commits to another payment hash than the invoice's.
    SwappedHash,
    /// The invoice has no amount.
    Amountless,
    /// Answers 402 with a fresh challenge even to a valid credential.
    Always402,
    /// Answers 402 to the first `n` valid credentials, then 200.
    NotYet(usize),
    /// An MPP `Payment` challenge in a header before the L402 one.
    PaymentFirst,
    /// `Payment` and `L402` challenges comma-joined in one header.
    PaymentFirstJoined,
    /// `l402 version="0", token="…", invoice="…"`.
    LowerToken,
    /// The invoice expires after one second.
    ShortExpiry,
    /// A 402 with no challenge at all.
    NoChallenge,
    /// Answers 401 (no challenge) to every credential.
    Always401,
    /// Sends the same invoice and macaroon in every challenge (idempotent
    /// challenge issue, as Lightning Enable does per client IP).
    SameInvoice,
}

pub struct Shared {
    pub mode: Mutex<Mode>,
    pub price_sats: Mutex<u64>,
    pub receiver: Arc<dyn Receiver>,
    pub minter: Minter,
    pub verifier: Verifier,
    pub challenges: AtomicUsize,
    pub authorized: AtomicUsize,
    pub served: AtomicUsize,
    pub not_yet_left: AtomicUsize,
    pub price_json: Mutex<Option<serde_json::Value>>,
    pub same: Mutex<Option<(String, String)>>,
    /// The payment hash of every invoice minted, in order.
    pub minted: Mutex<Vec<PaymentHash>>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        if let Mode::NotYet(n) = mode {
            self.shared.not_yet_left.store(n, Ordering::SeqCst);
        }
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub fn set_price(&self, sats: u64) {
        *self.shared.price_sats.lock().unwrap() = sats;
    }

    pub fn challenges(&self) -> usize {
        self.shared.challenges.load(Ordering::SeqCst)
    }

    pub fn authorized(&self) -> usize {
        self.shared.authorized.load(Ordering::SeqCst)
    }

    pub fn served(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// The invoices this server minted that its receiver reports paid.
    pub async fn paid_invoices(&self) -> Vec<PaymentHash> {
        let minted = self.shared.minted.lock().unwrap().clone();
        let mut paid = Vec::new();
        for hash in minted {
            if let Ok(status) = self.shared.receiver.lookup_invoice(&hash).await
                && status.is_paid()
            {
                paid.push(hash);
            }
        }
        paid
    }

    pub async fn start(receiver: Arc<dyn Receiver>, mode: Mode, price_sats: u64) -> TestServer {
        let keys = Keyring::new(1, rand_bytes());
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            price_sats: Mutex::new(price_sats),
            receiver,
            minter: Minter::new(keys.clone()),
            verifier: Verifier::new(keys),
            challenges: AtomicUsize::new(0),
            authorized: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            not_yet_left: AtomicUsize::new(match mode {
                Mode::NotYet(n) => n,
                _ => 0,
            }),
            price_json: Mutex::new(None),
            same: Mutex::new(None),
            minted: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        let app = Router::new()
            .route("/paid/{*rest}", get(paid).post(paid))
            .route("/free", get(|| async { "free" }))
            // A redirect to a paid resource on the same origin...
            .route(
                "/to/{*rest}",
                get(|Path(rest): Path<String>| async move {
                    axum::response::Redirect::to(&format!("/paid/{rest}"))
                }),
            )
            // ...and to the same resource on another origin (localhost).
            .route(
                "/away/{*rest}",
                get(move |Path(rest): Path<String>| async move {
                    axum::response::Redirect::to(&format!("http://localhost:{port}/paid/{rest}"))
                }),
            )
            .route("/price", get(price))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { addr, shared, task }
    }
}

pub fn rand_bytes() -> [u8; 32] {
    *Preimage::random().unwrap().as_bytes()
}

/// A dev node with a seller and a funded buyer.
pub struct Dev {
    pub node: DevNode,
    pub seller: DevWallet,
    pub buyer: DevWallet,
}

impl Dev {
    pub async fn new(buyer_sats: u64) -> Dev {
        let node = DevNode::builder().in_memory().open().await.unwrap();
        let seller = node.wallet("seller").await.unwrap();
        let buyer = node.wallet("buyer").await.unwrap();
        if buyer_sats > 0 {
            buyer.credit_sats(buyer_sats).await.unwrap();
        }
        Dev {
            node,
            seller,
            buyer,
        }
    }

    /// Sats the buyer has spent since being funded with `funded`.
    pub async fn spent_sats(&self, funded: u64) -> u64 {
        use l402_lightning::Wallet;
        funded - self.buyer.balance_msat().await.unwrap() / 1000
    }
}

/// An amountless regtest invoice signed by a throwaway key.
fn amountless_invoice(hash: PaymentHash) -> String {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&rand_bytes()).unwrap();
    InvoiceBuilder::new(Currency::Regtest)
        .description("amountless".into())
        .payment_hash(sha256::Hash::from_byte_array(hash.0))
        .payment_secret(PaymentSecret(rand_bytes()))
        .current_timestamp()
        .min_final_cltv_expiry_delta(18)
        .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        .unwrap()
        .to_string()
}

async fn challenge(shared: &Shared, path: &str) -> Response {
    shared.challenges.fetch_add(1, Ordering::SeqCst);
    let mode = *shared.mode.lock().unwrap();
    let price = *shared.price_sats.lock().unwrap();
    if mode == Mode::NoChallenge {
        return (StatusCode::PAYMENT_REQUIRED, "pay me, somehow").into_response();
    }
    let expiry = if mode == Mode::ShortExpiry {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(600)
    };
    let (bolt11, hash) = if mode == Mode::Amountless {
        let hash = Preimage::random().unwrap().payment_hash();
        (amountless_invoice(hash), hash)
    } else {
        let invoice = shared
            .receiver
            .create_invoice(&InvoiceRequest::sats(price).memo(path).expiry(expiry))
            .await
            .unwrap();
        shared.minted.lock().unwrap().push(invoice.payment_hash);
        (invoice.bolt11, invoice.payment_hash)
    };
    let mac_hash = if mode == Mode::SwappedHash {
        Preimage::random().unwrap().payment_hash()
    } else {
        hash
    };
    let macaroon = shared
        .minter
        .mint(mac_hash, &[Caveat::resource(path)])
        .unwrap()
        .to_string();
    let (macaroon, bolt11) = if mode == Mode::SameInvoice {
        shared
            .same
            .lock()
            .unwrap()
            .get_or_insert((macaroon, bolt11))
            .clone()
    } else {
        (macaroon, bolt11)
    };
    let l402 = Challenge::new(macaroon.clone(), bolt11.clone()).to_string();
    let payment =
        r#"Payment id="abc", realm="test", method="lightning", intent="charge", request="e30""#;
    let mut headers = HeaderMap::new();
    let mut add = |v: String| {
        headers.append("www-authenticate", HeaderValue::from_str(&v).unwrap());
    };
    match mode {
        Mode::PaymentFirst => {
            add(payment.to_string());
            add(l402);
        }
        Mode::PaymentFirstJoined => add(format!("{payment}, {l402}")),
        Mode::LowerToken => add(format!(
            r#"l402 version="0", token="{macaroon}", invoice="{bolt11}""#
        )),
        _ => add(l402),
    }
    (StatusCode::PAYMENT_REQUIRED, headers, "payment required").into_response()
}

async fn paid(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/paid/{rest}");
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return challenge(&shared, &path).await;
    };
    shared.authorized.fetch_add(1, Ordering::SeqCst);
    let Ok(credential) = Credential::from_str(auth) else {
        return challenge(&shared, &path).await;
    };
    let ctx = RequestContext::now().resource(path.clone());
    match shared.verifier.verify(&credential, &ctx) {
        Ok(_) => {}
        Err(e) if e.is_genuine() => return challenge(&shared, &path).await,
        Err(_) => return (StatusCode::UNAUTHORIZED, "forged").into_response(),
    }
    let mode = *shared.mode.lock().unwrap();
    match mode {
        Mode::Always402 => return challenge(&shared, &path).await,
        Mode::Always401 => return (StatusCode::UNAUTHORIZED, "no").into_response(),
        Mode::NotYet(_) => {
            let left = shared.not_yet_left.load(Ordering::SeqCst);
            if left > 0 {
                shared.not_yet_left.fetch_sub(1, Ordering::SeqCst);
                return challenge(&shared, &path).await;
            }
        }
        _ => {}
    }
    shared.served.fetch_add(1, Ordering::SeqCst);
    format!("the secret of {path}").into_response()
}

async fn price(State(shared): State<Arc<Shared>>) -> Response {
    match shared.price_json.lock().unwrap().clone() {
        Some(v) => axum::Json(v).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no price").into_response(),
    }
}

/// A wallet that takes a routing fee: it pays through a dev-node wallet, then
/// pays `fee_sats` to a "router" wallet on the same node, and reports that
/// fee. Money really moves on the dev node, so balances and fees agree.
pub struct FeeWallet {
    pub inner: DevWallet,
    pub router: DevWallet,
    pub fee_sats: u64,
}

#[async_trait::async_trait]
impl l402_lightning::Wallet for FeeWallet {
    fn backend(&self) -> l402_lightning::Backend {
        l402_lightning::Wallet::backend(&self.inner)
    }

    async fn pay(
        &self,
        request: &l402_lightning::PayRequest,
    ) -> Result<l402_lightning::Payment, l402_lightning::PayError> {
        let paid = self.inner.pay(request).await?;
        let fee = self
            .router
            .create_invoice(&InvoiceRequest::sats(self.fee_sats))
            .await
            .unwrap();
        self.inner
            .pay(&l402_lightning::PayRequest::new(&fee.bolt11))
            .await?;
        Ok(l402_lightning::Payment {
            fee_msat: self.fee_sats * 1000,
            ..paid
        })
    }

    async fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<l402_lightning::OutgoingStatus, l402_lightning::PayError> {
        self.inner.lookup_payment(payment_hash).await
    }

    async fn balance_msat(&self) -> Result<u64, l402_lightning::BackendError> {
        self.inner.balance_msat().await
    }
}

//! The LND REST client against an in-process LND: the test kit's fake
//! (`l402_testkit::lnd`, every wire shape cited there from
//! `lightningnetwork/lnd`'s `lightning.yaml`/`.proto`, `router.yaml`/`.proto`
//! and `macaroons/service.go`), driven by the dev node's ledger (real signed
//! invoices and preimages; faults from `DevFault`).
//!
//! No real LND runs here (no Debian, PyPI or npm package ships it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

#[path = "../backend_suite/mod.rs"]
#[macro_use]
mod backend_suite;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use backend_suite::FakeNode;
use l402_lightning::dev::{DevFault, DevNode, DevWallet};
use l402_lightning::lnd::{LndClient, LndConfigError};
use l402_lightning::{
    Backend, BackendError, Cursor, InvoiceRequest, PayError, PayOutcome, PayRequest, Receiver,
    Wallet, decode_invoice,
};
use l402_testkit::lnd::{FakeLnd as Lnd, MACAROON, invoice};
use l402_testkit::wire::{Cutter, OTHER_TLS_CERT as OTHER_CERT, TLS_CERT as CERT, acceptor, serve};
use serde_json::{Value, json};

impl FakeNode for Lnd {
    type Client = LndClient;
    const BACKEND: Backend = Backend::Lnd;
    const ENFORCES_MAX_FEE: bool = true;
    async fn start(wallet: DevWallet) -> Self {
        Lnd::start(wallet).await
    }
    fn authorized(&self) -> LndClient {
        self.client(MACAROON, CERT)
    }
    fn with_pay_timeout(&self, timeout: Duration) -> LndClient {
        LndClient::builder(&self.url, MACAROON)
            .tls_cert_pem(CERT)
            .pay_timeout(timeout)
            .build()
            .unwrap()
    }
    fn with_wrong_credentials(&self) -> LndClient {
        self.client("0201036c6e64deadbeef", CERT)
    }
    fn cut_next_pay(&self) {
        self.cut_next_pay.store(true, Ordering::SeqCst);
    }
}

async fn pair() -> backend_suite::Pair<Lnd> {
    backend_suite::pair().await
}

// --- Tests ---------------------------------------------------------------

conformance!(pair =>
    a_pending_payment_is_awaited_until_it_succeeds,
    // TrackPaymentV2's first update, while the stream stays open, is the
    // pending lookup.
    pending_past_the_pay_timeout_is_unknown_then_resolved_by_lookup,
    no_preimage_and_wrong_preimage_are_unknown_never_success,
    an_invoice_commits_to_the_description_hash_asked_for,
);

#[tokio::test]
async fn create_pay_and_look_up_over_pinned_tls() {
    let p = pair().await;
    backend_suite::create_pay_and_look_up(&p, Some(1_234)).await;
    // The fee cap went to LND; without one, 1 % with a 10 sat floor.
    let second = p
        .merchant
        .create_invoice(&InvoiceRequest::sats(50).memo("default fee"))
        .await
        .unwrap();
    p.payer.pay(&PayRequest::new(&second.bolt11)).await.unwrap();
    assert_eq!(
        *p.payer_fake.fee_limits.lock().unwrap(),
        vec!["1234".to_string(), "10000".to_string()]
    );
}

#[tokio::test]
async fn a_failed_payment_is_failed_and_looked_up_as_failed() {
    let err =
        backend_suite::a_failed_payment_is_failed_and_looked_up_as_failed(&pair().await).await;
    assert!(
        matches!(&err, PayError::Failed { reason, .. } if reason == "FAILURE_REASON_NO_ROUTE"),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_cut_after_the_pay_request_is_unknown_then_resolved_without_paying_twice() {
    backend_suite::connection_cut_after_the_pay_request(&pair().await, |again, _| {
        let again = again.unwrap_err();
        assert!(matches!(again, PayError::AlreadyPaid { .. }), "{again:?}");
    })
    .await;
}

#[tokio::test]
async fn wrong_macaroon_is_unauthorized_and_pays_nothing() {
    backend_suite::wrong_credentials_are_unauthorized_and_pay_nothing(&pair().await).await;
}

#[tokio::test]
async fn another_certificate_is_refused_before_anything_is_sent() {
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "pin".into()).await;
    let impostor_pin = p.payer_fake.client(MACAROON, OTHER_CERT);
    backend_suite::not_sent(&impostor_pin, &invoice).await;
    // No pinned certificate: the system roots do not know LND's self-signed one.
    let unpinned = LndClient::builder(&p.payer_fake.url, MACAROON)
        .build()
        .unwrap();
    assert!(matches!(
        unpinned.balance_msat().await,
        Err(BackendError::Unreachable { .. })
    ));
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 1_000_000);
}

#[test]
fn configuration_and_debug_never_show_the_macaroon() {
    let client = LndClient::builder("https://127.0.0.1:8080", MACAROON)
        .tls_cert_pem(CERT)
        .build()
        .unwrap();
    let builder = LndClient::builder("https://127.0.0.1:8080", MACAROON);
    backend_suite::debug_never_shows(MACAROON, &[&client, &builder]);
    assert!(matches!(
        LndClient::builder("https://127.0.0.1:8080", "not hex").build(),
        Err(LndConfigError::BadMacaroon)
    ));
    assert!(matches!(
        LndClient::builder("https://127.0.0.1:8080", MACAROON)
            .tls_cert_pem(b"garbage")
            .build(),
        Err(LndConfigError::BadCert)
    ));
    assert!(matches!(
        LndClient::builder("nope", MACAROON).build(),
        Err(LndConfigError::InvalidUrl(_))
    ));
}

// --- A third-party LND REST client against the fake ----------------------

/// The LNbits virtualenv of `scripts/lnbits.sh` (LNbits ships
/// `LndRestWallet`, a production LND REST client), if installed.
fn lnbits_python() -> Option<std::path::PathBuf> {
    let venv = std::env::var_os("L402_LNBITS_VENV")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache"))
                })?;
            Some(cache.join("l402").join("lnbits-venv"))
        })?;
    let python = venv.join("bin").join("python");
    python.exists().then_some(python)
}

#[tokio::test]
async fn lnbits_lnd_rest_client_agrees_with_the_fake() {
    let Some(python) = lnbits_python() else {
        let how = "needs the LNbits virtualenv (bash scripts/lnbits.sh start installs it)";
        if std::env::var("L402_REQUIRE_LNBITS").as_deref() == Ok("1") {
            panic!("L402_REQUIRE_LNBITS=1 but this test {how}");
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED lnbits_lnd_rest_client_agrees_with_the_fake: {how}"
        );
        return;
    };
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant = Lnd::start(node.wallet("merchant").await.unwrap()).await;
    let payer_wallet = node.wallet("payer").await.unwrap();
    payer_wallet.credit_sats(1_000).await.unwrap();
    let payer = Lnd::start(payer_wallet).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.cert");
    std::fs::write(&cert, CERT).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/lnd_rest_client.py"
    );
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(&merchant.url)
        .arg(&payer.url)
        .arg(&cert)
        .arg(MACAROON)
        .arg(DevFault::Failed.memo())
        .current_dir(dir.path())
        .env("LNBITS_DATA_FOLDER", dir.path())
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
        "status_error": null,
        "balance_msat": 1_000_000,
        "create_ok": true,
        "create_error": null,
        "invoice_before": "PaymentPendingStatus",
        "pay_ok": true,
        "pay_error": null,
        "pay_preimage_ok": true,
        "pay_fee_msat": 0,
        "invoice_after": "PaymentSuccessStatus",
        "payment_status": "PaymentSuccessStatus",
        "payment_preimage_ok": true,
        "failed_pay_ok": false,
        "failed_error": "FAILURE_REASON_NO_ROUTE",
        "failed_status": "PaymentFailedStatus",
        "unknown_payment_status": "PaymentPendingStatus",
        "unknown_invoice_status": "PaymentPendingStatus",
    });
    for (key, want) in expect.as_object().unwrap() {
        assert_eq!(&seen[key], want, "{key}: LNbits' LndRestWallet saw {seen}");
    }
    let hash = seen["checking_id"].as_str().unwrap();
    assert_eq!(seen["pay_checking_id"].as_str(), Some(hash));
    let bolt11 = seen["bolt11"].as_str().unwrap();
    assert_eq!(
        decode_invoice(bolt11).unwrap().payment_hash.to_string(),
        hash
    );
}

#[tokio::test]
async fn a_streamed_line_past_the_bound_is_refused_and_unknown() {
    // 2 MiB without a newline, chunked: more than the 1 MiB a line may take.
    let app = Router::new().route(
        "/v2/router/send",
        post(|| async {
            let chunks = (0..32).map(|_| Ok::<_, std::io::Error>("x".repeat(64 << 10)));
            Body::from_stream(futures_util::stream::iter(chunks))
        }),
    );
    let addr = serve(app, Some(acceptor()), Cutter::default()).await;
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "long line".into()).await;
    let client = LndClient::builder(format!("https://{addr}"), MACAROON)
        .tls_cert_pem(CERT)
        .build()
        .unwrap();
    let err = client
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PayError::Backend(BackendError::BadResponse { reason, .. }) if reason.contains("1 MiB")),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
}

#[tokio::test]
async fn settlements_arrive_through_the_invoice_subscription() {
    let p = pair().await;
    let mut settled = p.merchant.subscribe_settled(0).await.unwrap();
    let first = invoice(&p.merchant, 5, "first".into()).await;
    let second = invoice(&p.merchant, 5, "second".into()).await;
    p.payer.pay(&PayRequest::new(&second.bolt11)).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), settled.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // The OPEN updates of both invoices were skipped.
    assert_eq!(event.payment_hash, second.payment_hash);
    assert!(event.preimage.matches(&second.payment_hash));
    assert_eq!((event.settle_index, event.amount_paid_msat), (1, 5_000));
    p.payer.pay(&PayRequest::new(&first.bolt11)).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), settled.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.payment_hash, first.payment_hash);
    assert_eq!(event.settle_index, 2);
    let wrong = p.merchant_fake.client("0201036c6e64deadbeef", CERT);
    assert!(matches!(
        wrong.subscribe_settled(0).await,
        Err(BackendError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn settlements_through_the_common_trait_carry_the_settle_index_as_cursor() {
    let p = pair().await;
    let feed = p.merchant.settlements().expect("LND pushes settlements");
    let mut stream = feed.subscribe(Cursor::NOW).await.unwrap();
    let paid = invoice(&p.merchant, 5, "through the trait".into()).await;
    p.payer.pay(&PayRequest::new(&paid.bolt11)).await.unwrap();
    let s = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((s.payment_hash, s.amount_msat), (paid.payment_hash, 5_000));
    assert_eq!(s.cursor, Cursor::new(1));
}

#[tokio::test]
async fn a_subscription_from_a_settle_index_replays_the_later_settlements() {
    let p = pair().await;
    let invoices = [
        invoice(&p.merchant, 1, "one".into()).await,
        invoice(&p.merchant, 2, "two".into()).await,
        invoice(&p.merchant, 3, "three".into()).await,
    ];
    let mut live = p.merchant.subscribe_settled(0).await.unwrap();
    for i in &invoices {
        p.payer.pay(&PayRequest::new(&i.bolt11)).await.unwrap();
    }
    for (n, i) in invoices.iter().enumerate() {
        let s = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(s.payment_hash, i.payment_hash);
        assert_eq!(s.settle_index, n as u64 + 1);
    }
    // Resuming after the first replays the second and third, in order.
    let feed = p.merchant.settlements().unwrap();
    let mut resumed = feed.subscribe(Cursor::new(1)).await.unwrap();
    for (n, i) in invoices.iter().enumerate().skip(1) {
        let s = tokio::time::timeout(Duration::from_secs(5), resumed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.payment_hash, s.amount_msat, s.cursor),
            (
                i.payment_hash,
                (n as u64 + 1) * 1000,
                Cursor::new(n as u64 + 1)
            )
        );
    }
}

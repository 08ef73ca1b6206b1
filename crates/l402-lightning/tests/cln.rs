//! The Core Lightning client (clnrest and the socket) against an in-process
//! Core Lightning: the test kit's fake (`l402_testkit::cln`, every wire
//! shape cited there from `plugins/rest-plugin/src/{handlers,shared}.rs`,
//! `doc/schemas/lightning-*.json`, `common/jsonrpc_errors.h` and
//! `lightningd/jsonrpc.c`), driven by the dev node's ledger (real signed
//! invoices and preimages; faults from `DevFault`).
//!
//! No real Core Lightning runs here (no package ships `lightningd`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

#[macro_use]
mod backend_suite;

use std::sync::atomic::Ordering;
use std::time::Duration;

use backend_suite::{FakeNode, invoice};
use l402_lightning::cln::{ClnClient, ClnConfigError, ClnRestClient};
use l402_lightning::dev::{DevFault, DevWallet};
use l402_lightning::{
    Backend, BackendError, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError, PayOutcome,
    PayRequest, Receiver, Wallet,
};
use l402_testkit::cln::{FakeCln as Cln, RUNE};
use l402_testkit::wire::TLS_CERT as CERT;
use serde_json::{Value, json};

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
    an_invoice_commits_to_the_description_hash_asked_for,
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
    let other = l402_testkit::wire::OTHER_TLS_CERT;
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

// --- Description hashes ---------------------------------------------------

#[tokio::test]
async fn a_description_hash_needs_its_text_and_the_socket_makes_it_too() {
    let p = pair().await;
    // CLN hashes the description itself (`deschashonly`): a bare hash,
    // whose text CLN cannot be given, is refused before sending.
    let err = p
        .merchant
        .create_invoice(&InvoiceRequest::sats(3).description_hash([5; 32]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, l402_lightning::ReceiveError::InvalidRequest { reason, .. } if reason.contains("hashed_description")),
        "{err:?}"
    );
    // Over the socket the text goes as `description` with `deschashonly`.
    let merchant = over_socket(&p.merchant_fake);
    backend_suite::an_invoice_commits_to_the_description_hash_asked_for(&Socket {
        merchant,
        payer: over_socket(&p.payer_fake),
        pair: &p,
    })
    .await;
}

/// A pair of socket clients for the suite's scenarios.
struct Socket<'a> {
    merchant: ClnClient,
    payer: ClnClient,
    pair: &'a backend_suite::Pair<Cln>,
}

impl backend_suite::Harness for Socket<'_> {
    const BACKEND: Backend = Backend::Cln;
    const ENFORCES_MAX_FEE: bool = true;
    fn merchant(&self) -> &dyn backend_suite::Node {
        &self.merchant
    }
    fn payer(&self) -> &dyn backend_suite::Node {
        &self.payer
    }
    fn ledger(&self) -> &DevWallet {
        &self.pair.payer_wallet
    }
    fn cut_next_pay(&self) {
        self.pair
            .payer_fake
            .cut_next_pay
            .store(true, Ordering::SeqCst);
    }
    fn payer_with_pay_timeout(&self, _: Duration) -> Box<dyn backend_suite::Node> {
        Box::new(over_socket(&self.pair.payer_fake))
    }
    fn payer_with_wrong_credentials(&self) -> Box<dyn backend_suite::Node> {
        Box::new(over_socket(&self.pair.payer_fake))
    }
}

//! The phoenixd client against an in-process phoenixd: the test kit's fake
//! (`l402_testkit::phoenixd`, every wire shape cited there from
//! `ACINQ/phoenixd`'s `Api.kt` and `json/JsonSerializers.kt`), driven by the
//! dev node's ledger (real signed invoices and preimages; faults from
//! `DevFault`).
//!
//! No real phoenixd runs here (it ships only as GitHub release binaries).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

#[macro_use]
mod backend_suite;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use backend_suite::{FakeNode, invoice};
use l402_lightning::dev::DevWallet;
use l402_lightning::phoenixd::{PhoenixdClient, PhoenixdConfigError};
use l402_lightning::{
    Backend, BackendError, Cursor, InvoiceRequest, PayError, PayOutcome, PayRequest, ReceiveError,
    Receiver, Wallet,
};
use l402_testkit::phoenixd::{FakePhoenixd as Phoenixd, LIMITED_PASSWORD as LIMITED, PASSWORD};
use l402_testkit::wire::{Cutter, serve};
use serde_json::{Value, json};

impl FakeNode for Phoenixd {
    type Client = PhoenixdClient;
    const BACKEND: Backend = Backend::Phoenixd;
    const ENFORCES_MAX_FEE: bool = false;
    async fn start(wallet: DevWallet) -> Self {
        Phoenixd::start(wallet).await
    }
    fn authorized(&self) -> PhoenixdClient {
        self.client(PASSWORD)
    }
    fn with_pay_timeout(&self, timeout: Duration) -> PhoenixdClient {
        PhoenixdClient::builder(format!("http://{}", self.addr), PASSWORD)
            .pay_timeout(timeout)
            .build()
            .unwrap()
    }
    fn with_wrong_credentials(&self) -> PhoenixdClient {
        self.client("not-the-password")
    }
    fn cut_next_pay(&self) {
        self.cut_next_pay.store(true, Ordering::SeqCst);
    }
}

async fn pair() -> backend_suite::Pair<Phoenixd> {
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
async fn create_pay_and_look_up() {
    let p = pair().await;
    backend_suite::create_pay_and_look_up(&p, None).await;
    // A description phoenixd would refuse is refused before sending.
    let err = p
        .merchant
        .create_invoice(&InvoiceRequest::sats(1).memo("x".repeat(129)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::InvalidRequest { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_cut_after_the_pay_request_is_unknown_then_resolved_without_paying_twice() {
    // Paying again moves nothing: the node refuses an invoice already paid.
    backend_suite::connection_cut_after_the_pay_request(&pair().await, |again, _| {
        let again = again.unwrap_err();
        assert_eq!(again.outcome(), PayOutcome::Failed, "{again:?}");
    })
    .await;
}

#[tokio::test]
async fn wrong_password_and_limited_password() {
    let p = pair().await;
    let invoice = backend_suite::wrong_credentials_are_unauthorized_and_pay_nothing(&p).await;
    // The limited-access password reads but cannot pay.
    let limited = p.payer_fake.client(LIMITED);
    assert_eq!(limited.balance_msat().await.unwrap(), 1_000_000);
    let err = limited
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unauthorized { .. })),
        "{err:?}"
    );
    assert_eq!(p.payer_wallet.balance_msat().await.unwrap(), 1_000_000);
}

#[tokio::test]
async fn unreachable_is_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "down".into()).await;
    let client = PhoenixdClient::builder(format!("http://{addr}"), PASSWORD)
        .build()
        .unwrap();
    backend_suite::not_sent(&client, &invoice).await;
}

#[test]
fn configuration_and_debug_never_show_the_password() {
    let client = PhoenixdClient::builder("http://127.0.0.1:9740", "hunter2-secret")
        .build()
        .unwrap();
    let builder = PhoenixdClient::builder("http://127.0.0.1:9740", "hunter2-secret");
    backend_suite::debug_never_shows("hunter2", &[&client, &builder]);
    assert!(matches!(
        PhoenixdClient::builder("nope", "x").build(),
        Err(PhoenixdConfigError::InvalidUrl(_))
    ));
    assert!(matches!(
        PhoenixdClient::builder("http://127.0.0.1:1", "").build(),
        Err(PhoenixdConfigError::NoPassword)
    ));
    let _: Value = json!(null);
}

#[tokio::test]
async fn an_oversized_answer_is_refused_unread_and_unknown() {
    // 5 MiB of JSON string: more than the 4 MiB any answer may take.
    let huge = format!("{{\"reason\":\"{}\"}}", "x".repeat(5 << 20));
    let app = Router::new().route(
        "/payinvoice",
        post(move || {
            let huge = huge.clone();
            async move { ([("content-type", "application/json")], huge) }
        }),
    );
    let addr = serve(app, None, Cutter::default()).await;
    let p = pair().await;
    let invoice = invoice(&p.merchant, 2, "huge".into()).await;
    let client = PhoenixdClient::builder(format!("http://{addr}"), PASSWORD)
        .build()
        .unwrap();
    let err = client
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PayError::Backend(BackendError::BadResponse { reason, .. }) if reason.contains("4 MiB")),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
}

// --- Settlement notifications: the websocket ------------------------------

async fn next_settlement(
    stream: &mut Box<dyn l402_lightning::SettlementStream>,
) -> l402_lightning::Settlement {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a settlement within 5 s")
        .unwrap()
        .expect("the stream is open")
}

#[tokio::test]
async fn settlements_arrive_through_the_websocket() {
    let p = pair().await;
    let feed = p
        .merchant
        .settlements()
        .expect("phoenixd pushes settlements");
    let mut stream = feed.subscribe(Cursor::NOW).await.unwrap();
    // Other events (and payments of other nodes) are not settlements.
    p.merchant_fake.push_event(json!({
        "type": "payment_sent", "timestamp": 1, "recipientAmountSat": 1, "routingFeeSat": 0,
        "paymentId": "5d7a3f3e-6c0e-4b5e-9b0a-2f1d8c9e0a11", "paymentHash": "00".repeat(32),
        "paymentPreimage": "00".repeat(32),
    }));
    let first = invoice(&p.merchant, 21, "first".into()).await;
    let second = invoice(&p.merchant, 5, "second".into()).await;
    p.payer.pay(&PayRequest::new(&second.bolt11)).await.unwrap();
    p.payer.pay(&PayRequest::new(&first.bolt11)).await.unwrap();
    let a = next_settlement(&mut stream).await;
    let b = next_settlement(&mut stream).await;
    assert_eq!(
        (a.payment_hash, a.amount_msat),
        (second.payment_hash, 5_000)
    );
    assert_eq!(
        (b.payment_hash, b.amount_msat),
        (first.payment_hash, 21_000)
    );
    // The cursor is the event's timestamp (unix ms).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(a.cursor <= b.cursor && now_ms - b.cursor.get() < 10_000);

    // The limited-access password may listen too; a wrong one may not.
    let limited = p.merchant_fake.client(LIMITED);
    assert!(
        limited
            .settlements()
            .unwrap()
            .subscribe(Cursor::NOW)
            .await
            .is_ok()
    );
    let wrong = p.merchant_fake.client("not-the-password");
    assert!(matches!(
        wrong
            .settlements()
            .unwrap()
            .subscribe(Cursor::NOW)
            .await
            .err(),
        Some(BackendError::Unauthorized { .. })
    ));
    // phoenixd serves plain HTTP: a websocket over https is not attempted.
    let tls = PhoenixdClient::builder("https://127.0.0.1:1", PASSWORD)
        .build()
        .unwrap();
    assert!(matches!(
        tls.settlements()
            .unwrap()
            .subscribe(Cursor::NOW)
            .await
            .err(),
        Some(BackendError::Unsupported { .. })
    ));
    // Nothing listens: not reachable.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let down = PhoenixdClient::builder(format!("http://{closed}"), PASSWORD)
        .build()
        .unwrap();
    assert!(matches!(
        down.settlements()
            .unwrap()
            .subscribe(Cursor::NOW)
            .await
            .err(),
        Some(BackendError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn a_resume_replays_what_was_received_after_the_cursor_then_goes_live() {
    let p = pair().await;
    let feed = p.merchant.settlements().unwrap();
    let mut stream = feed.subscribe(Cursor::NOW).await.unwrap();
    let first = invoice(&p.merchant, 1, "first".into()).await;
    p.payer.pay(&PayRequest::new(&first.bolt11)).await.unwrap();
    let seen = next_settlement(&mut stream).await;
    assert_eq!(seen.payment_hash, first.payment_hash);
    drop(stream);

    // Paid while nobody listened.
    let missed = [
        invoice(&p.merchant, 2, "missed one".into()).await,
        invoice(&p.merchant, 3, "missed two".into()).await,
    ];
    for i in &missed {
        p.payer.pay(&PayRequest::new(&i.bolt11)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut resumed = feed.subscribe(seen.cursor).await.unwrap();
    // At least once after the cursor: both missed ones, oldest first (the
    // first may come again: the replay starts a margin before the cursor).
    let mut replayed = Vec::new();
    while replayed.len() < 3 {
        let s = next_settlement(&mut resumed).await;
        if s.payment_hash == first.payment_hash {
            continue;
        }
        replayed.push((s.payment_hash, s.amount_msat));
        if replayed.len() == 2 {
            break;
        }
    }
    assert_eq!(
        replayed,
        vec![
            (missed[0].payment_hash, 2_000),
            (missed[1].payment_hash, 3_000)
        ]
    );
    // Then live, and a replayed payment is not given again by the live feed.
    let live = invoice(&p.merchant, 4, "live".into()).await;
    p.payer.pay(&PayRequest::new(&live.bolt11)).await.unwrap();
    assert_eq!(
        next_settlement(&mut resumed).await.payment_hash,
        live.payment_hash
    );
}

#[tokio::test]
async fn an_event_past_the_bound_ends_the_stream_with_an_error() {
    let p = pair().await;
    let mut stream = p
        .merchant
        .settlements()
        .unwrap()
        .subscribe(Cursor::NOW)
        .await
        .unwrap();
    // Wait for the websocket to be registered before pushing.
    for _ in 0..100 {
        if p.merchant_fake.websocket_clients() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    p.merchant_fake.push_event(json!({
        "type": "payment_received", "timestamp": 1, "amountSat": 1,
        "paymentHash": "00".repeat(32), "payerNote": "x".repeat(100 << 10),
    }));
    let err = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, BackendError::Interrupted { .. }), "{err:?}");
}

// --- Settlement notifications: the webhook --------------------------------

#[tokio::test]
async fn a_webhook_is_believed_only_with_its_signature() {
    use l402_lightning::phoenixd::{PhoenixdEvent, WebhookError, verified_webhook_event};
    // A receiver that hands over each request's signature and raw body.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(4);
    let app = Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let signature = headers
                        .get("x-phoenix-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let _ = tx.send((signature, body.to_vec())).await;
                }
            },
        ),
    );
    let addr = serve(app, None, Cutter::default()).await;
    let p = pair().await;
    p.merchant_fake
        .webhook(format!("http://{addr}/hook"), "webhook-secret");
    let paid = invoice(&p.merchant, 8, "hooked".into()).await;
    p.payer.pay(&PayRequest::new(&paid.bolt11)).await.unwrap();
    let (signature, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        verified_webhook_event(b"webhook-secret", &body, &signature),
        Ok(PhoenixdEvent::PaymentReceived {
            amount_sat: 8,
            payment_hash: paid.payment_hash,
            external_id: None,
        })
    );
    // Another secret, or one changed byte, and it is not believed.
    assert_eq!(
        verified_webhook_event(b"another-secret", &body, &signature),
        Err(WebhookError::Mismatch)
    );
    let mut forged = body.clone();
    let at = forged.iter().position(|b| *b == b'8').unwrap();
    forged[at] = b'9';
    assert_eq!(
        verified_webhook_event(b"webhook-secret", &forged, &signature),
        Err(WebhookError::Mismatch)
    );
}

#[tokio::test]
async fn a_dropped_websocket_fails_the_stream_and_a_resume_misses_nothing() {
    let p = pair().await;
    let feed = p.merchant.settlements().unwrap();
    let mut stream = feed.subscribe(Cursor::NOW).await.unwrap();
    let first = invoice(&p.merchant, 1, "before".into()).await;
    p.payer.pay(&PayRequest::new(&first.bolt11)).await.unwrap();
    let seen = next_settlement(&mut stream).await;
    p.merchant_fake.drop_websockets();
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap();
    assert!(
        matches!(ended, Err(BackendError::Interrupted { .. }) | Ok(None)),
        "{ended:?}"
    );
    let during = invoice(&p.merchant, 2, "while dropped".into()).await;
    p.payer.pay(&PayRequest::new(&during.bolt11)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut resumed = feed.subscribe(seen.cursor).await.unwrap();
    let mut got = next_settlement(&mut resumed).await;
    if got.payment_hash == first.payment_hash {
        got = next_settlement(&mut resumed).await;
    }
    assert_eq!(
        (got.payment_hash, got.amount_msat),
        (during.payment_hash, 2_000)
    );
}

#[tokio::test]
async fn a_resume_holds_at_most_max_replay_settlements() {
    use l402_lightning::phoenixd::MAX_REPLAY;
    let p = pair().await;
    p.payer_wallet.credit_sats(1_000).await.unwrap();
    // In process, on the same ledger (the fake follows its wallet's settlements).
    let merchant = p.payer_wallet.node().wallet("merchant").await.unwrap();
    for _ in 0..=MAX_REPLAY {
        let i = merchant
            .create_invoice(&InvoiceRequest::sats(1))
            .await
            .unwrap();
        p.payer_wallet
            .pay(&PayRequest::new(&i.bolt11))
            .await
            .unwrap();
    }
    // The fake records them as its feed delivers them: ask until it has.
    let feed = p.merchant.settlements().unwrap();
    let mut err = None;
    for _ in 0..100 {
        if let Err(e) = feed.subscribe(Cursor::new(1)).await {
            err = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = err.expect("too many to replay");
    assert!(
        matches!(&err, BackendError::Rejected { detail, .. } if detail.contains("more than 1000")),
        "{err:?}"
    );
}

// --- Description hashes ---------------------------------------------------

#[tokio::test]
async fn an_invoice_without_the_description_hash_asked_for_is_refused() {
    // A node that ignores `descriptionHash` and answers a plain invoice: the
    // client decodes what it got and refuses it.
    let p = pair().await;
    let plain = invoice(&p.merchant, 4, "plain".into()).await;
    let answer = json!({
        "amountSat": 4,
        "paymentHash": plain.payment_hash.to_string(),
        "serialized": plain.bolt11,
    });
    let app = Router::new().route(
        "/createinvoice",
        post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    let addr = serve(app, None, Cutter::default()).await;
    let client = PhoenixdClient::builder(format!("http://{addr}"), PASSWORD)
        .build()
        .unwrap();
    let err = client
        .create_invoice(&InvoiceRequest::sats(4).hashed_description(backend_suite::METADATA))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReceiveError::Backend(BackendError::BadResponse { reason, .. }) if reason.contains("description hash")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_fake_takes_exactly_one_of_description_and_description_hash() {
    let p = pair().await;
    let form = |pairs: &[(&str, &str)]| {
        let url = format!("http://{}/createinvoice", p.merchant_fake.addr);
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth("", Some(PASSWORD))
                .form(&pairs)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let hash = "ab".repeat(32);
    assert_eq!(
        form(&[
            ("amountSat", "1"),
            ("description", "d"),
            ("descriptionHash", &hash)
        ])
        .await,
        400
    );
    assert_eq!(form(&[("amountSat", "1")]).await, 400);
    assert_eq!(
        form(&[("amountSat", "1"), ("descriptionHash", "abcd")]).await,
        400
    );
    assert_eq!(
        form(&[("amountSat", "1"), ("descriptionHash", &hash)]).await,
        200
    );
}

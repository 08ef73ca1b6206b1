//! Faults: a backend that is down, slow, answers garbage, or lies about the
//! preimage. Each is a typed error, never a panic or a silent success.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use l402_lightning::dev::DevNode;
use l402_lightning::lnbits::{LnbitsClient, LnbitsConfigError};
use l402_lightning::{
    Backend, BackendError, Invoice, InvoiceRequest, PayError, PayRequest, PaymentHash,
    ReceiveError, Receiver, Wallet,
};
use serde_json::json;

/// Serves `app` on a loopback port for the rest of the test.
async fn spawn(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn client(addr: SocketAddr, timeout: Duration) -> LnbitsClient {
    LnbitsClient::builder(format!("http://{addr}"))
        .invoice_key("invoice-key")
        .admin_key("admin-key")
        .timeout(timeout)
        .build()
        .unwrap()
}

/// A real, payable-looking invoice from a throwaway dev node.
async fn some_invoice() -> Invoice {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    node.wallet("w")
        .await
        .unwrap()
        .create_invoice(&InvoiceRequest::sats(10))
        .await
        .unwrap()
}

#[tokio::test]
async fn backend_down_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens here now: connection refused
    let c = client(addr, Duration::from_secs(2));
    let err = c
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ReceiveError::Backend(BackendError::Unreachable {
                backend: Backend::Lnbits,
                ..
            })
        ),
        "{err}"
    );
    let invoice = some_invoice().await;
    let err = c.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unreachable { .. })),
        "{err}"
    );
    let err = c.balance_msat().await.unwrap_err();
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn slow_backend_times_out() {
    let app = Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "too late"
    });
    let addr = spawn(app).await;
    let timeout = Duration::from_millis(300);
    let c = client(addr, timeout);
    let started = Instant::now();
    let err = c
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        err,
        ReceiveError::Backend(BackendError::Timeout {
            backend: Backend::Lnbits,
            after: timeout
        })
    );
    let invoice = some_invoice().await;
    let err = c.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Timeout { .. })),
        "{err}"
    );
    let err = c.lookup_invoice(&invoice.payment_hash).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Backend(BackendError::Timeout { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_responses_are_bad_response() {
    let app = Router::new().fallback(|| async {
        (StatusCode::CREATED, "<html>this is not JSON</html>").into_response()
    });
    let c = client(spawn(app).await, Duration::from_secs(2));
    let err = c
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::Backend(BackendError::BadResponse { .. })),
        "{err}"
    );
    let invoice = some_invoice().await;
    let err = c.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::BadResponse { .. })),
        "{err}"
    );
    let err = c.balance_msat().await.unwrap_err();
    assert!(matches!(err, BackendError::BadResponse { .. }), "{err}");

    // Valid JSON of the wrong shape.
    let app = Router::new().fallback(|| async {
        (StatusCode::CREATED, axum::Json(json!({"hello": [1, 2, 3]}))).into_response()
    });
    let c = client(spawn(app).await, Duration::from_secs(2));
    let err = c
        .create_invoice(&InvoiceRequest::sats(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::Backend(BackendError::BadResponse { .. })),
        "{err}"
    );
    let err = c.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::BadResponse { .. })),
        "{err}"
    );
    let err = c.lookup_invoice(&invoice.payment_hash).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Backend(BackendError::BadResponse { .. })),
        "{err}"
    );

    // A created invoice whose bolt11 does not carry the claimed payment hash.
    let bolt11 = invoice.bolt11.clone();
    let app = Router::new().fallback(move || {
        let bolt11 = bolt11.clone();
        async move {
            (
                StatusCode::CREATED,
                axum::Json(
                    json!({"payment_hash": PaymentHash([1; 32]).to_string(), "bolt11": bolt11}),
                ),
            )
                .into_response()
        }
    });
    let c = client(spawn(app).await, Duration::from_secs(2));
    let err = c
        .create_invoice(&InvoiceRequest::sats(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::Backend(BackendError::BadResponse { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_preimage_is_never_a_success() {
    let app = Router::new().fallback(|| async {
        (
            StatusCode::CREATED,
            axum::Json(json!({
                "status": "success",
                "preimage": "11".repeat(32),
                "fee": 0,
                "amount": -10_000,
            })),
        )
            .into_response()
    });
    let c = client(spawn(app).await, Duration::from_secs(2));
    let invoice = some_invoice().await;
    let err = c.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap_err();
    assert_eq!(
        err,
        PayError::PreimageMismatch {
            backend: Backend::Lnbits,
            payment_hash: invoice.payment_hash
        }
    );

    // A lookup claiming "paid" with a wrong preimage is refused as well.
    let app = Router::new()
        .fallback(|| async { axum::Json(json!({"paid": true, "preimage": "22".repeat(32)})) });
    let c = client(spawn(app).await, Duration::from_secs(2));
    let err = c.lookup_invoice(&invoice.payment_hash).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Backend(BackendError::BadResponse { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_are_rejected_with_status() {
    let app = Router::new().fallback(|| async {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"detail": "maintenance"})),
        )
            .into_response()
    });
    let c = client(spawn(app).await, Duration::from_secs(2));
    let err = c.balance_msat().await.unwrap_err();
    assert_eq!(
        err,
        BackendError::Rejected {
            backend: Backend::Lnbits,
            status: 503,
            detail: "maintenance".into()
        }
    );
}

#[test]
fn bad_configuration_is_typed() {
    assert!(matches!(
        LnbitsClient::builder("not a url").invoice_key("k").build(),
        Err(LnbitsConfigError::InvalidUrl(_))
    ));
    assert!(matches!(
        LnbitsClient::builder("http://127.0.0.1:1").build(),
        Err(LnbitsConfigError::NoKey)
    ));
}

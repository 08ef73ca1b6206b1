//! The request builder: bad URLs and headers come out of `send()` as typed
//! errors and nothing is sent or paid; errors print each cause once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::error::Error as _;
use std::sync::Arc;

use common::{Dev, Mode, TestServer};
use l402_client::{Client, FetchError, InvalidRequest, MoneyMoved, Refusal};

/// Every message in an error's chain, outermost first.
fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out
}

/// No message in the chain repeats the text of its cause.
fn assert_each_cause_once(e: &(dyn std::error::Error + 'static)) {
    let messages = chain(e);
    for pair in messages.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "{:?} repeats its cause {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn bad_urls_and_headers_are_typed_errors_and_nothing_is_sent() {
    let dev = Dev::new(100).await;
    let server = TestServer::start(Arc::new(dev.seller.clone()), Mode::Normal, 5).await;
    let client = Client::builder()
        .wallet(Arc::new(dev.buyer.clone()))
        .build()
        .unwrap();
    for url in ["not a url", "ftp://127.0.0.1/x", "mailto:a@b.c"] {
        let err = client.get(url).send().await.unwrap_err();
        assert!(
            matches!(err, FetchError::InvalidRequest(InvalidRequest::Url { .. })),
            "{url}: {err:?}"
        );
        assert_eq!(err.money_moved(), MoneyMoved::No);
        assert_eq!(err.code(), "invalid_request");
        assert_each_cause_once(&err);
    }
    let err = client
        .get(server.url("/paid/h"))
        .header("bad header", "x")
        .header("x-ok", "fine")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::InvalidRequest(InvalidRequest::Header(_))),
        "{err:?}"
    );
    let err = client
        .get(server.url("/paid/h"))
        .header("x-ok", "bad\nvalue")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        FetchError::InvalidRequest(InvalidRequest::Header(_))
    ));
    assert_each_cause_once(&err);
    assert_eq!(server.challenges(), 0, "nothing was sent");
    assert_eq!(dev.spent_sats(100).await, 0);
    // Any header type reqwest takes: constants, String, HeaderName.
    let ok = client
        .get(server.url("/free"))
        .header(reqwest::header::ACCEPT, "text/plain")
        .header(String::from("x-a"), String::from("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn errors_print_each_cause_once() {
    let dev = Dev::new(100).await;
    let client = Client::builder()
        .wallet(Arc::new(dev.buyer.clone()))
        .max_payment_sats(1)
        .build()
        .unwrap();
    // A network error before paying.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let err = client.get(&closed).send().await.unwrap_err();
    assert!(matches!(err, FetchError::Network(_)));
    assert_eq!((err.code(), err.is_after_payment()), ("network", false));
    assert!(err.source().is_some());
    assert_each_cause_once(&err);
    // A refusal (over the limit).
    let server = TestServer::start(Arc::new(dev.seller.clone()), Mode::Normal, 5).await;
    let err = client.get(server.url("/paid/x")).send().await.unwrap_err();
    assert!(
        matches!(err, FetchError::Refused(Refusal::Invoice(_))),
        "{err:?}"
    );
    assert!(chain(&err).len() >= 3, "{:?}", chain(&err));
    assert_each_cause_once(&err);
}

//! Redirects over real HTTP: the client follows them itself, scope follows
//! the final URL, a 402 on another origin is refused before paying, hops are
//! bounded, and a caller's reqwest client cannot change any of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::response::Redirect;
use axum::routing::get;
use common::{Dev, Mode, TestServer};
use l402_client::{Client, ClientBuilder, FetchError, MoneyMoved, Refusal, TokenUse};

const FUNDS: u64 = 1_000;

async fn setup() -> (Dev, TestServer) {
    let dev = Dev::new(FUNDS).await;
    let server = TestServer::start(Arc::new(dev.seller.clone()), Mode::Normal, 7).await;
    (dev, server)
}

fn builder(dev: &Dev) -> ClientBuilder {
    Client::builder().wallet(Arc::new(dev.buyer.clone()))
}

/// Another origin that redirects: `/go` to `target`, `/loop` to itself.
struct Redirector {
    base: String,
    loops: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Redirector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn redirector(target: String) -> Redirector {
    let loops = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/go", get(move || async move { Redirect::to(&target) }))
        .route(
            "/echo",
            get(|headers: axum::http::HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .map_or("none", |v| v.to_str().unwrap_or("?"))
                    .to_string();
                let kept = headers.contains_key("x-keep");
                format!("authorization={auth} x-keep={kept}")
            }),
        )
        .route(
            "/loop",
            get(|State(n): State<Arc<AtomicUsize>>| async move {
                n.fetch_add(1, Ordering::SeqCst);
                Redirect::temporary("/loop")
            }),
        )
        .with_state(loops.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Redirector { base, loops, task }
}

fn refusal(err: &FetchError) -> &Refusal {
    match err {
        FetchError::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed_and_the_token_kept_for_the_final_url() {
    let (dev, server) = setup().await;
    let client = builder(&dev).build().unwrap();
    let paid = client.get(server.url("/to/a")).send().await.unwrap();
    assert_eq!(
        (paid.status().as_u16(), paid.token()),
        (200, TokenUse::Paid)
    );
    assert_eq!(paid.url().as_str(), server.url("/paid/a"));
    assert_eq!(paid.text(), "the secret of /paid/a");
    // The token belongs to the final URL's scope.
    let direct = client.get(server.url("/paid/a")).send().await.unwrap();
    assert_eq!(direct.token(), TokenUse::Cached);
    let again = client.get(server.url("/to/a")).send().await.unwrap();
    assert_eq!(
        (again.status().as_u16(), again.token()),
        (200, TokenUse::Cached)
    );
    assert_eq!(dev.spent_sats(FUNDS).await, 7);
    assert_eq!(server.challenges(), 1);
}

#[tokio::test]
async fn a_402_reached_through_a_cross_origin_redirect_is_refused_before_paying() {
    let (dev, server) = setup().await;
    // localhost is another origin (and domain) than 127.0.0.1.
    let target = server.url("/paid/b").replace("127.0.0.1", "localhost");
    let r = redirector(target).await;
    let client = builder(&dev).build().unwrap();
    let err = client
        .get(format!("{}/go", r.base))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(refusal(&err), Refusal::CrossOriginRedirect { from, to }
            if from == &format!("{}/go", r.base) && to.starts_with("http://localhost:")),
        "{err:?}"
    );
    assert_eq!(err.money_moved(), MoneyMoved::No);
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
    assert!(client.ledger().pending().await.unwrap().is_empty());
    assert_eq!(
        client.ledger().spent("localhost").await.unwrap().total_msat,
        0
    );
}

#[tokio::test]
async fn a_free_answer_on_another_origin_is_followed() {
    let (dev, server) = setup().await;
    let r = redirector(server.url("/free")).await;
    let client = builder(&dev).build().unwrap();
    let ok = client.get(format!("{}/go", r.base)).send().await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.text()), (200, "free".to_string()));
    assert_eq!(ok.url().as_str(), server.url("/free"));
}

#[tokio::test]
async fn with_no_redirects_allowed_the_3xx_is_returned_and_nothing_paid() {
    let (dev, server) = setup().await;
    let client = builder(&dev).max_redirects(0).build().unwrap();
    let r = client.get(server.url("/to/a")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.token()), (303, TokenUse::None));
    assert_eq!(r.headers()["location"], "/paid/a");
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
    assert_eq!(server.challenges(), 0);
}

#[tokio::test]
async fn redirect_hops_are_bounded() {
    let (dev, _server) = setup().await;
    let r = redirector(String::new()).await;
    let client = builder(&dev).max_redirects(3).build().unwrap();
    let last = client.get(format!("{}/loop", r.base)).send().await.unwrap();
    assert_eq!(last.status().as_u16(), 307);
    assert_eq!(r.loops.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_caller_client_that_follows_redirects_cannot_make_it_pay() {
    let (dev, server) = setup().await;
    let follows = reqwest::Client::new();
    let client = builder(&dev).http_client(follows).build().unwrap();
    let err = client.get(server.url("/to/c")).send().await.unwrap_err();
    assert!(
        matches!(refusal(&err), Refusal::RedirectedByHttpClient { reached, .. }
            if reached == &server.url("/paid/c")),
        "{err:?}"
    );
    assert_eq!(err.money_moved(), MoneyMoved::No);
    assert_eq!(dev.spent_sats(FUNDS).await, 0);
    // Without redirects, the same client is fine.
    let ok = client.get(server.url("/paid/c")).send().await.unwrap();
    assert_eq!(ok.token(), TokenUse::Paid);
}

#[tokio::test]
async fn the_callers_credentials_are_not_sent_to_another_origin() {
    let (dev, _server) = setup().await;
    let other = redirector(String::new()).await;
    let first = redirector(format!("{}/echo", other.base)).await;
    let client = builder(&dev).build().unwrap();
    let ok = client
        .get(format!("{}/go", first.base))
        .header("authorization", "Bearer secret")
        .header("x-keep", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.text(), "authorization=none x-keep=true");
    // On the same origin they are kept.
    let same = client
        .get(format!("{}/echo", first.base))
        .header("authorization", "Bearer secret")
        .send()
        .await
        .unwrap();
    assert_eq!(same.text(), "authorization=Bearer secret x-keep=false");
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The pool against a real TCP upstream written by hand, so that each test
//! controls exactly when the upstream answers and closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

#[derive(Clone, Copy)]
enum Upstream {
    /// `ok`, keeping the connection open.
    KeepAlive,
    /// `ok` after a pause, keeping the connection open.
    Slow(Duration),
    /// `ok`, then closes the connection without saying so, 50 ms later
    /// (after the client has read the response and pooled the connection).
    CloseAfterOne,
    /// The head and one chunk of a chunked body, then nothing.
    Hang,
}

/// Serves `mode` on 127.0.0.1; returns the authority and the count of
/// connections accepted.
async fn upstream(mode: Upstream) -> (Authority, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    // One request head (these tests send no bodies).
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                    assert!(head.contains("\r\nhost: 127.0.0.1:"), "{head}");
                    seen.drain(..end);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    match mode {
                        Upstream::KeepAlive => tcp.write_all(ok).await.unwrap(),
                        Upstream::Slow(pause) => {
                            tokio::time::sleep(pause).await;
                            tcp.write_all(ok).await.unwrap();
                        }
                        Upstream::CloseAfterOne => {
                            tcp.write_all(ok).await.unwrap();
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            return;
                        }
                        Upstream::Hang => {
                            let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
                            tcp.write_all(head).await.unwrap();
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (authority, accepted)
}

fn get() -> Request<UpstreamBody> {
    let body = http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    Request::get("/x").body(body).unwrap()
}

async fn fetch(pool: &H1Pool) -> Bytes {
    let response = pool.send(get()).await.unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let (authority, accepted) = upstream(Upstream::KeepAlive).await;
    let pool = H1Pool::new(authority, 8, Duration::from_secs(90));
    for _ in 0..20 {
        assert_eq!(fetch(&pool).await, "ok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(pool.idle_count(), 1);
}

#[tokio::test]
async fn idle_connections_beyond_the_bound_are_closed() {
    let (authority, accepted) = upstream(Upstream::Slow(Duration::from_millis(200))).await;
    let pool = H1Pool::new(authority, 4, Duration::from_secs(90));
    // 16 at once: 16 connections, of which the pool keeps 4.
    let all: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { fetch(&pool).await })
        })
        .collect();
    for one in all {
        assert_eq!(one.await.unwrap(), "ok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 16);
    assert_eq!(pool.idle_count(), 4);
    // The kept ones serve the next requests: no new connection.
    for _ in 0..4 {
        assert_eq!(fetch(&pool).await, "ok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 16);
}

#[tokio::test]
async fn a_response_not_read_to_the_end_closes_its_connection() {
    let (authority, accepted) = upstream(Upstream::Hang).await;
    let pool = H1Pool::new(authority, 8, Duration::from_secs(90));
    let mut body = pool.send(get()).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "hello");
    drop(body);
    assert_eq!(pool.idle_count(), 0, "a half-read connection was kept");
    let mut again = pool.send(get()).await.unwrap().into_body();
    assert_eq!(
        again.frame().await.unwrap().unwrap().into_data().unwrap(),
        "hello"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_skipped() {
    let (authority, accepted) = upstream(Upstream::CloseAfterOne).await;
    let pool = H1Pool::new(authority, 8, Duration::from_secs(90));
    assert_eq!(fetch(&pool).await, "ok");
    assert_eq!(pool.idle_count(), 1);
    // Let the close arrive: the pool still holds the connection.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(pool.idle_count(), 1);
    assert_eq!(fetch(&pool).await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_connections_expire() {
    let (authority, accepted) = upstream(Upstream::KeepAlive).await;
    let pool = H1Pool::new(authority, 8, Duration::from_millis(100));
    assert_eq!(fetch(&pool).await, "ok");
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Taken out of the pool too old: a new connection.
    assert_eq!(fetch(&pool).await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(pool.idle_count(), 1);
    // The sweep drops it without a request.
    tokio::time::sleep(Duration::from_millis(150)).await;
    pool.shared.sweep();
    assert_eq!(pool.idle_count(), 0);
}

#[tokio::test]
async fn the_sweep_drops_connections_the_upstream_closed() {
    let (authority, _) = upstream(Upstream::CloseAfterOne).await;
    let pool = H1Pool::new(authority, 8, Duration::from_secs(90));
    assert_eq!(fetch(&pool).await, "ok");
    assert_eq!(pool.idle_count(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    pool.shared.sweep();
    assert_eq!(pool.idle_count(), 0);
}

#[tokio::test]
async fn an_upstream_that_is_down_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    drop(listener);
    let pool = H1Pool::new(authority, 8, Duration::from_secs(90));
    assert!(matches!(pool.send(get()).await, Err(H1Error::Connect(_))));
}

#[test]
fn host_drops_the_default_port_only() {
    let pool = H1Pool::new("example.com:80".parse().unwrap(), 1, Duration::from_secs(1));
    assert_eq!(pool.shared.host, "example.com");
    let pool = H1Pool::new(
        "example.com:8080".parse().unwrap(),
        1,
        Duration::from_secs(1),
    );
    assert_eq!(pool.shared.host, "example.com:8080");
}

#[test]
fn each_thread_takes_back_only_the_connections_it_made() {
    let on_own_runtime = |pool: H1Pool| {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                assert_eq!(fetch(&pool).await, "ok");
                assert_eq!(fetch(&pool).await, "ok");
            });
        })
        .join()
        .unwrap();
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (authority, accepted) = runtime.block_on(upstream(Upstream::KeepAlive));
    let pool = H1Pool::new(authority, 8, Duration::from_secs(90));
    on_own_runtime(pool.clone());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(pool.idle_count(), 1);
    // Another thread makes its own, and keeps it too.
    on_own_runtime(pool.clone());
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(pool.idle_count(), 2);
}

//! Real upstreams for the proxy tests, on loopback: an HTTP server that
//! echoes what it received (method, path, headers, body digest), an SSE
//! stream held open until the test releases it, a slow route, and a
//! websocket echo server (tokio-tungstenite) that records its handshake;
//! and the `serve.toml` the tests put in front of them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::result_large_err,
    dead_code
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bitcoin::hashes::{Hash, sha256};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response as WsResponse};

pub mod tls;

/// Writes `dir/serve.toml`: no demo, then `config` (TOML). Its path.
pub fn write_serve_config(dir: &Path, config: &str) -> String {
    let path = dir.join("serve.toml");
    std::fs::write(&path, format!("[demo]\nenabled = false\n{config}")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Bytes the upstream serves at `/base/echo/big` (through a `/base` rewrite).
pub const BIG_LEN: usize = 3 * 1024 * 1024 + 7;

/// The deterministic content of the big download.
pub fn big_body() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i * 31 % 251) as u8).collect()
}

/// A running HTTP upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    /// Lets the SSE stream finish (it sends its first event, then waits).
    pub release_sse: Arc<Notify>,
}

#[derive(Clone)]
struct St {
    release_sse: Arc<Notify>,
}

/// Starts the HTTP upstream on a free loopback port.
pub async fn upstream() -> Upstream {
    let release_sse = Arc::new(Notify::new());
    let app = Router::new()
        .route("/events", get(sse))
        .route("/slow", any(slow))
        .route("/base/echo/big", get(big))
        .fallback(echo)
        .with_state(St {
            release_sse: release_sse.clone(),
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream { addr, release_sse }
}

/// What the upstream received, as JSON.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut seen = serde_json::Map::new();
    for (name, value) in &headers {
        let entry = seen
            .entry(name.as_str().to_owned())
            .or_insert_with(|| json!([]));
        entry
            .as_array_mut()
            .unwrap()
            .push(json!(String::from_utf8_lossy(value.as_bytes())));
    }
    axum::Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": seen,
        "body_len": body.len(),
        "body_sha256": sha256::Hash::hash(&body).to_string(),
    }))
    .into_response()
}

async fn big() -> Vec<u8> {
    big_body()
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "too late"
}

/// An event stream: `first` at once, `last` once released, then the end.
async fn sse(State(st): State<St>) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tx.send(Bytes::from_static(b"data: first\n\n"))
        .await
        .unwrap();
    tokio::spawn(async move {
        st.release_sse.notified().await;
        let _ = tx.send(Bytes::from_static(b"data: last\n\n")).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// A running websocket echo server and the handshake requests it saw.
pub struct WsUpstream {
    pub addr: SocketAddr,
    /// Each handshake's path and headers.
    pub handshakes: Arc<Mutex<Vec<Value>>>,
}

/// Starts a websocket echo server (tokio-tungstenite) on a free port.
pub async fn ws_upstream() -> WsUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(Mutex::new(Vec::new()));
    let seen = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(ws_echo(stream, seen.clone()));
        }
    });
    WsUpstream { addr, handshakes }
}

/// Serves one websocket connection (any byte stream: TCP, TLS): records
/// its handshake's path and headers in `seen`, then echoes text and
/// binary messages until the client closes.
pub async fn ws_echo<S>(stream: S, seen: Arc<Mutex<Vec<Value>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let record = |req: &Request, resp: WsResponse| {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    json!(String::from_utf8_lossy(v.as_bytes())),
                )
            })
            .collect();
        seen.lock()
            .unwrap()
            .push(json!({"path": req.uri().path(), "headers": headers}));
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if matches!(message, Message::Close(_)) {
            return;
        }
        let echo = matches!(message, Message::Text(_) | Message::Binary(_));
        if echo && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// Opens a websocket to `url` with `Authorization: credential`, checks the
/// `101`, sends each of `texts` and expects it echoed, then closes.
#[allow(dead_code)] // not every test binary using this module opens one
pub async fn paid_ws_echo(url: &str, credential: &str, texts: &[&str]) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", credential.parse().unwrap());
    let (mut socket, resp) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(resp.status(), 101);
    for text in texts {
        socket.send(Message::text(*text)).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), *text);
    }
    socket.close(None).await.unwrap();
}

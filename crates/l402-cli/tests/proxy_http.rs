//! `l402 serve` with `[[services]]`, the real binary over real HTTP, in
//! front of real upstreams started here: paid with `l402 get` (content
//! intact both ways), the rewrite, the injected header and the stripped
//! credential seen by the upstream, free paths, auth off, paths that never
//! mint, freebies, body limit, unreachable and slow upstreams, an SSE stream
//! whose first event arrives before the upstream ends, and a websocket
//! whose upgrade is paid for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod proxy_support;
mod serve_support;

use std::path::Path;
use std::time::Duration;

use bitcoin::hashes::Hash;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite;

use proxy_support::{BIG_LEN, big_body, upstream, ws_upstream};
use serve_support::{Server, l402, start};

/// The upstream key the `echo` service injects (from the environment).
const UPSTREAM_KEY: &str = "upstream-secret-7f3a";

fn config(dir: &Path, http: std::net::SocketAddr, ws: std::net::SocketAddr) -> String {
    let closed = {
        // A port nothing listens on: bound, then released.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let text = format!(
        r#"
[demo]
enabled = false

[[services]]
name = "echo"
pathregexp = "^/echo"
address = "{http}"
price_sats = 5
free_paths = ["^/echo/free"]
no_invoice_paths = ["^/echo/stream"]
headers = {{ "x-upstream-key" = "${{PROXY_TEST_UPSTREAM_KEY}}" }}
rewrite = {{ prefix = "/base" }}
max_body_bytes = 65536
capabilities = ["read"]

[[services]]
name = "open"
pathregexp = "^/open"
address = "{http}"
auth = "off"

[[services]]
name = "gift"
pathregexp = "^/gift"
address = "{http}"
price_sats = 2
auth = "freebie 2"

[[services]]
name = "passthrough"
pathregexp = "^/fwd"
address = "{http}"
price_sats = 2
forward_authorization = true

[[services]]
name = "events"
pathregexp = "^/events"
address = "{http}"
price_sats = 3

[[services]]
name = "slow"
pathregexp = "^/slow"
address = "{http}"
auth = "off"
timeout_secs = 1

[[services]]
name = "gone"
pathregexp = "^/gone"
address = "{closed}"
auth = "off"

[[services]]
name = "trial"
pathregexp = "^/trial"
address = "{http}"
price_sats = 9
shadow = true

[[services]]
name = "ws"
pathregexp = "^/ws"
address = "{ws}"
price_sats = 4
"#
    );
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

async fn serve(dir: &Path) -> (Server, proxy_support::Upstream, proxy_support::WsUpstream) {
    let http = upstream().await;
    let ws = ws_upstream().await;
    let file = config(dir, http.addr, ws.addr);
    let mut cmd = l402(dir);
    cmd.env("PROXY_TEST_UPSTREAM_KEY", UPSTREAM_KEY);
    let server = start(cmd, &["--config", &file]).await;
    (server, http, ws)
}

/// `l402 --json get <url> [args]` from the server's data directory (its
/// dev wallet pays).
async fn get(dir: &Path, url: &str, args: &[&str]) -> get_support::Run {
    let mut all = args.to_vec();
    all.push(url);
    get_support::get_json(dir, &all, &[]).await
}

/// The `Authorization` value of the token `l402 get` stored for `url`.
async fn bought_credential(dir: &Path, url: &str) -> String {
    let run = get_support::run_json(dir, &["token", "export", url], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.json["authorization"].as_str().unwrap().to_owned()
}

/// `credential` with its preimage's last hex digit changed: unpaid.
fn forge(credential: &str) -> String {
    let (head, last) = credential.split_at(credential.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

/// POSTs `chunks` chunks of `size` bytes with `Transfer-Encoding: chunked`
/// over a raw connection; returns the response's status line and headers.
async fn chunked_upload(base: &str, path: &str, chunks: usize, size: usize) -> String {
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'z'; size];
    for _ in 0..chunks {
        let framed = [format!("{size:x}\r\n").as_bytes(), &chunk, b"\r\n"].concat();
        // The server may answer and close before everything is sent.
        if conn.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn services_are_sold_and_forwarded_with_every_option() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _http, _ws) = serve(dir.path()).await;
    let base = server.url();
    let services = server.info["services"].as_array().unwrap();
    assert_eq!(services.len(), 9, "{}", server.info);
    let http = reqwest::Client::new();

    // Unpaid: a 402 with Aperture's challenge, for the whole service.
    let resp = http.get(format!("{base}/echo/a")).send().await.unwrap();
    assert_eq!(resp.status(), 402);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("L402 ")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["l402"]["amount_sats"], 5);
    assert_eq!(body["l402"]["resource"], "echo");

    // Paid with l402 get: a POST body crosses intact, the upstream sees the
    // rewritten path, the injected header, X-Forwarded-*, and no credential.
    let payload: String = (0..20_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let url = format!("{base}/echo/a?x=1");
    let paid = get(dir.path(), &url, &["-X", "POST", "-d", &payload]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    assert_eq!(paid.json["status"], 200, "{}", paid.json);
    assert_eq!(paid.json["receipt"]["amount_msat"], 5_000);
    let seen = &paid.json["body_json"];
    assert_eq!(seen["path"], "/base/echo/a", "{seen}");
    assert_eq!(seen["query"], "x=1");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["body_len"], payload.len());
    assert_eq!(
        seen["body_sha256"],
        bitcoin::hashes::sha256::Hash::hash(payload.as_bytes()).to_string()
    );
    let headers = &seen["headers"];
    assert_eq!(headers["x-upstream-key"][0], UPSTREAM_KEY);
    assert_eq!(headers["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"][0], "http");
    assert!(
        headers["x-forwarded-host"][0]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    // The L402 credential l402 get sent stays here.
    assert!(headers.get("authorization").is_none(), "{headers}");
    // The injected value is never printed by the server.
    assert!(!server.info.to_string().contains(UPSTREAM_KEY));

    // The token covers the service: another path, a big download intact.
    let credential = bought_credential(dir.path(), &url).await;
    assert!(credential.starts_with("L402 "));
    let resp = http
        .get(format!("{base}/echo/big"))
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.len(), BIG_LEN);
    assert!(bytes.as_ref() == big_body().as_slice());

    // A client's own X-Forwarded-For is kept, the client appended.
    let resp: Value = http
        .get(format!("{base}/echo/b"))
        .header("authorization", &credential)
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "x-hop")
        .header("x-hop", "must not cross")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        resp["headers"]["x-forwarded-for"][0],
        "203.0.113.9, 127.0.0.1"
    );
    assert!(resp["headers"].get("x-hop").is_none(), "{resp}");
    // The app's own Authorization passes; the L402 one does not.
    let resp: Value = http
        .get(format!("{base}/echo/c"))
        .header("authorization", &credential)
        .header("authorization", "Bearer app-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        resp["headers"]["authorization"],
        serde_json::json!(["Bearer app-token"]),
        "{resp}"
    );

    // A token of another service is refused (its services= caveat).
    let resp = http
        .get(format!("{base}/fwd/x"))
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 402);

    // Free path: no payment, still forwarded with the injected header.
    let resp: Value = http
        .get(format!("{base}/echo/free/x"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["path"], "/base/echo/free/x");
    assert_eq!(resp["headers"]["x-upstream-key"][0], UPSTREAM_KEY);

    // A path that never mints: 401 without a challenge; the token works.
    let resp = http
        .get(format!("{base}/echo/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "credential_required");
    let resp = http
        .get(format!("{base}/echo/stream"))
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A forged credential there is 401 too, never a challenge.
    let forged = forge(&credential);
    let resp = http
        .get(format!("{base}/echo/stream"))
        .header("authorization", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_none());

    // Body limit: 413 JSON, the upstream never sees it.
    let resp = http
        .post(format!("{base}/echo/free/upload"))
        .body(vec![0u8; 65_537])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large");
    // A streamed (chunked, no length) body over the limit too.
    let head = chunked_upload(&base, "/echo/free/upload", 20, 8192).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // auth = off: forwarded, no payment.
    let resp = http.get(format!("{base}/open/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // freebie 2: two free requests from this network, then 402.
    for _ in 0..2 {
        let resp = http.get(format!("{base}/gift/x")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = http.get(format!("{base}/gift/x")).send().await.unwrap();
    assert_eq!(resp.status(), 402);

    // forward_authorization: the upstream gets the client's L402 credential.
    let fwd = format!("{base}/fwd/x");
    let paid = get(dir.path(), &fwd, &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    let auth = paid.json["body_json"]["headers"]["authorization"][0]
        .as_str()
        .unwrap();
    assert!(auth.starts_with("L402 "), "{auth}");

    // Shadow mode: minted and priced, forwarded all the same.
    let resp = http.get(format!("{base}/trial/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-l402-shadow"], "challenge");
    assert_eq!(resp.headers()["x-l402-shadow-price-sats"], "9");
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["path"], "/trial/x");
    let resp = http
        .get(format!("{base}/trial/x"))
        .header("authorization", &credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-l402-shadow"],
        "challenge",
        "another service's token"
    );
    let forged = forge(&credential);
    let resp = http
        .get(format!("{base}/trial/x"))
        .header("authorization", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-l402-shadow"], "reject");
    let trial = format!("{base}/trial/y");
    let bought = get(dir.path(), &trial, &[]).await;
    // l402 get never saw a 402: nothing to pay, nothing paid.
    assert_eq!(bought.json["status"], 200, "{}", bought.json);
    assert!(bought.json["receipt"].is_null(), "{}", bought.json);

    // Upstream failures: typed JSON errors.
    let resp = http.get(format!("{base}/gone")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "upstream_unreachable");
    let resp = http.get(format!("{base}/slow")).send().await.unwrap();
    assert_eq!(resp.status(), 504);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "upstream_timeout");
    // No service for the path.
    let resp = http.get(format!("{base}/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "no_service");

    server.stop().await;
}

#[tokio::test]
async fn an_sse_event_arrives_before_the_upstream_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (server, http_up, _ws) = serve(dir.path()).await;
    let url = format!("{}/events", server.url());
    // Buy the token on a path of the service that answers at once.
    let quote = get(dir.path(), &url, &["--no-pay"]).await;
    assert_eq!(quote.json["status"], 402, "{}", quote.json);
    let bought = tokio::spawn({
        let dir = dir.path().to_owned();
        let url = url.clone();
        async move { get(&dir, &url, &[]).await }
    });
    // l402 get reads the whole stream: release it once the purchase is made.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let release = http_up.release_sse.clone();
    let run = loop {
        release.notify_waiters();
        if bought.is_finished() {
            break bought.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let credential = bought_credential(dir.path(), &url).await;

    let http = reqwest::Client::new();
    let mut resp = http
        .get(&url)
        .header("authorization", credential)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    // The first event, while the upstream still holds the stream open.
    let first = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
        .await
        .expect("the first event is not held back")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"data: first\n\n");
    http_up.release_sse.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
        .await
        .unwrap()
        .unwrap()
    {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"data: last\n\n");
    server.stop().await;
}

#[tokio::test]
async fn a_websocket_upgrade_is_paid_for_then_echoes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _http, ws_up) = serve(dir.path()).await;
    let base = server.url();
    let ws_url = format!("{}/ws/chat", base.replace("http://", "ws://"));

    // Unpaid upgrade: 402, nothing reaches the upstream.
    let err = tokio_tungstenite::connect_async(&ws_url).await.unwrap_err();
    match err {
        tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 402),
        other => panic!("expected a 402, got {other}"),
    }
    assert!(ws_up.handshakes.lock().unwrap().is_empty());

    // Buy the token with l402 get (the upstream refuses a plain GET: the
    // token is stored all the same), then upgrade with it.
    let http_url = format!("{base}/ws/chat");
    let bought = get(dir.path(), &http_url, &[]).await;
    assert_eq!(
        bought.json["receipt"]["amount_msat"], 4_000,
        "{}",
        bought.json
    );
    let credential = bought_credential(dir.path(), &http_url).await;
    proxy_support::paid_ws_echo(&ws_url, &credential, &["hello", "through the proxy"]).await;
    let handshakes = ws_up.handshakes.lock().unwrap().clone();
    let last = handshakes.last().unwrap();
    assert_eq!(last["path"], "/ws/chat");
    assert!(last["headers"].get("authorization").is_none(), "{last}");
    assert_eq!(last["headers"]["x-forwarded-for"], "127.0.0.1");
    server.stop().await;
}

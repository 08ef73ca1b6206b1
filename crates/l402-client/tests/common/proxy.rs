//! A loopback TCP proxy in front of a real HTTP backend (LNbits) that injects
//! the faults deciding whether a client counts money as spent: the payment
//! request is forwarded (so the backend pays), then the connection is dropped
//! or answered 502. Lookups of payments can be failed too.
//!
//! Every forwarded request gets `Connection: close`, so each request has its
//! own connection and the proxy sees each one whole.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with a payment request (`POST /api/v1/payments`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and its answer.
    None,
    /// Forward it, wait for the backend's answer, then close the connection
    /// without answering.
    DropAfterPay,
    /// Forward it, wait for the backend's answer, then answer 502.
    BadGatewayAfterPay,
}

/// The proxy's switches.
#[derive(Debug)]
struct Switch {
    fault: Mutex<Fault>,
    /// Answer 502 to `GET /api/v1/payments/{hash}` without forwarding it.
    fail_lookups: Mutex<bool>,
    pays_forwarded: AtomicUsize,
    lookups_failed: AtomicUsize,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    switch: Arc<Switch>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let switch = Arc::new(Switch {
            fault: Mutex::new(Fault::None),
            fail_lookups: Mutex::new(false),
            pays_forwarded: AtomicUsize::new(0),
            lookups_failed: AtomicUsize::new(0),
        });
        let s = switch.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let s = s.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, &s).await;
                });
            }
        });
        FaultProxy { addr, switch, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.switch.fault.lock().unwrap() = fault;
    }

    pub fn fail_lookups(&self, on: bool) {
        *self.switch.fail_lookups.lock().unwrap() = on;
    }

    /// Payment requests forwarded to the backend so far.
    pub fn pays_forwarded(&self) -> usize {
        self.switch.pays_forwarded.load(Ordering::SeqCst)
    }

    /// Lookups answered 502 so far.
    pub fn lookups_failed(&self) -> usize {
        self.switch.lookups_failed.load(Ordering::SeqCst)
    }
}

const BAD_GATEWAY: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// One request per connection: read it whole, forward it with
/// `Connection: close`, then relay or fault.
async fn serve(mut client: TcpStream, upstream: &str, switch: &Switch) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let is_pay = method == "POST" && path == "/api/v1/payments";
    let is_lookup = method == "GET" && path.starts_with("/api/v1/payments/");
    if is_lookup && *switch.fail_lookups.lock().unwrap() {
        switch.lookups_failed.fetch_add(1, Ordering::SeqCst);
        client.write_all(BAD_GATEWAY).await?;
        return client.shutdown().await;
    }
    // Rewrite the head: drop any Connection header, add `Connection: close`.
    let mut new_head = String::new();
    for line in head[..head_end - 4].split("\r\n") {
        if line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"))
        {
            continue;
        }
        new_head.push_str(line);
        new_head.push_str("\r\n");
    }
    new_head.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(new_head.as_bytes()).await?;
    server.write_all(&buf[head_end..head_end + length]).await?;
    let fault = if is_pay {
        switch.pays_forwarded.fetch_add(1, Ordering::SeqCst);
        *switch.fault.lock().unwrap()
    } else {
        Fault::None
    };
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    match fault {
        Fault::None => client.write_all(&answer).await?,
        Fault::DropAfterPay => {}
        Fault::BadGatewayAfterPay => client.write_all(BAD_GATEWAY).await?,
    }
    client.shutdown().await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

//! CLN's local JSON-RPC: the `lightning-rpc` unix socket. A request is one
//! JSON-RPC 2.0 object `{"jsonrpc", "id", "method", "params"}`; lightningd
//! answers one object followed by `"\n\n"` (`lightningd/jsonrpc.c`), with
//! `result` or `error: {code, message, data?}`. One connection per call.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{BACKEND, ClnClient, Reply, RpcError, Transport};
use crate::http::{MAX_BODY_BYTES, bad};
use crate::{BackendError, TransportError};

/// Builds a [`ClnClient`] on the local socket; see [`ClnClient::socket`].
#[derive(Debug, Clone)]
pub struct ClnSocketBuilder {
    pub(super) path: PathBuf,
    pub(super) timeout: Duration,
    pub(super) pay_timeout: Duration,
}

impl ClnSocketBuilder {
    /// The timeout of every call but paying (default [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a payment may take (default [`DEFAULT_PAY_TIMEOUT`](super::DEFAULT_PAY_TIMEOUT)).
    pub fn pay_timeout(mut self, timeout: Duration) -> Self {
        self.pay_timeout = timeout;
        self
    }

    /// Builds the client. The socket is opened per call, so a node that is
    /// down shows as [`BackendError::Unreachable`] then.
    pub fn build(self) -> ClnClient {
        ClnClient {
            endpoint: self.path.display().to_string(),
            transport: Transport::Socket { path: self.path },
            timeout: self.timeout,
            pay_timeout: self.pay_timeout,
            labels: Default::default(),
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One call on a fresh connection. Connecting is the only failure that
/// proves nothing was sent; after that, a failure is
/// [`BackendError::Interrupted`] or [`BackendError::Timeout`].
pub(super) async fn call(
    path: &PathBuf,
    method: &str,
    params: &Value,
    timeout: Duration,
) -> Result<Reply, BackendError> {
    let interrupted = |e: std::io::Error| BackendError::Interrupted {
        backend: BACKEND,
        source: TransportError::new(e),
    };
    let exchange = async {
        let mut stream =
            UnixStream::connect(path)
                .await
                .map_err(|e| BackendError::Unreachable {
                    backend: BACKEND,
                    source: TransportError::new(e),
                })?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        stream
            .write_all(request.to_string().as_bytes())
            .await
            .map_err(interrupted)?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 16 << 10];
        loop {
            let n = stream.read(&mut chunk).await.map_err(interrupted)?;
            if n == 0 {
                return Err(interrupted(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "lightningd closed the socket before answering",
                )));
            }
            answer.extend_from_slice(&chunk[..n]);
            if answer.len() > MAX_BODY_BYTES {
                return Err(bad(BACKEND, "answer larger than 4 MiB"));
            }
            if answer.ends_with(b"\n\n") {
                break;
            }
        }
        let value: Value = serde_json::from_slice(&answer)
            .map_err(|e| bad(BACKEND, format!("{method}: answer is not JSON: {e}")))?;
        if value.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(bad(BACKEND, format!("{method}: answer to another request")));
        }
        if let Some(error) = value.get("error") {
            return Ok(Reply::Rpc(RpcError {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }));
        }
        value
            .get("result")
            .cloned()
            .map(Reply::Ok)
            .ok_or_else(|| bad(BACKEND, format!("{method}: answer has no result")))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(BackendError::Timeout {
            backend: BACKEND,
            after: timeout,
        }))
}

//! One websocket to one Nostr relay (NIP-01 messages), over plain TCP for
//! `ws://` or rustls with the platform's roots (what reqwest uses) for
//! `wss://`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use nostr::{ClientMessage, JsonUtil as _, RelayMessage, Url};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// The largest message read from a relay: a NIP-47 answer is a few KiB
/// (NIP-47 asks relays to allow 64 KiB; base64 adds a third).
const MAX_MESSAGE: usize = 256 * 1024;

/// A byte stream a websocket runs over.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The TLS client configuration for `wss://` relays, built once per process.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| format!("TLS roots: {e}"))?;
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Why talking to the relay failed.
#[derive(Debug)]
pub(crate) enum RelayError {
    /// The connection (TCP, TLS or the websocket handshake) could not be made.
    Connect(std::io::Error),
    /// The connection failed or closed after it was made.
    Lost(std::io::Error),
}

fn io(e: tungstenite::Error) -> std::io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

/// An open websocket to a relay.
pub(crate) struct Relay {
    ws: WebSocketStream<Box<dyn Io>>,
}

impl Relay {
    /// Connects within `timeout` (TCP, TLS, websocket handshake).
    pub(crate) async fn connect(url: &Url, timeout: Duration) -> Result<Relay, RelayError> {
        let timed_out = || {
            RelayError::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection to the relay within {timeout:?}"),
            ))
        };
        tokio::time::timeout(timeout, Relay::open(url))
            .await
            .map_err(|_| timed_out())?
    }

    async fn open(url: &Url) -> Result<Relay, RelayError> {
        let connect = RelayError::Connect;
        let host = url
            .host_str()
            .ok_or_else(|| connect(std::io::Error::other("the relay URL has no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let tls = url.scheme() == "wss";
        let port = url.port().unwrap_or(if tls { 443 } else { 80 });
        let tcp = TcpStream::connect((host, port)).await.map_err(connect)?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if tls {
            let config = tls_config().map_err(|e| connect(std::io::Error::other(e)))?;
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| connect(std::io::Error::other(e.to_string())))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(connect)?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config))
                .await
                .map_err(|e| connect(io(e)))?;
        Ok(Relay { ws })
    }

    /// Sends one message.
    pub(crate) async fn send(&mut self, message: &ClientMessage<'_>) -> Result<(), RelayError> {
        self.ws
            .send(Message::text(message.as_json()))
            .await
            .map_err(|e| RelayError::Lost(io(e)))
    }

    /// The next relay message (pings are answered by the websocket layer;
    /// messages that are not NIP-01 are skipped).
    pub(crate) async fn recv(&mut self) -> Result<RelayMessage<'static>, RelayError> {
        loop {
            let frame = match self.ws.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Err(RelayError::Lost(io(e))),
                None => {
                    return Err(RelayError::Lost(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the relay closed the connection",
                    )));
                }
            };
            let text = match frame {
                Message::Text(text) => text,
                Message::Close(_) => {
                    return Err(RelayError::Lost(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the relay closed the connection",
                    )));
                }
                _ => continue,
            };
            if let Ok(message) = RelayMessage::from_json(text.as_str()) {
                return Ok(message);
            }
        }
    }

    /// Closes the connection politely (errors ignored: nothing depends on it).
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(200), self.ws.close(None)).await;
    }
}

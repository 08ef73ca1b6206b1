//! phoenixd's settlement notifications: `GET /websocket`, where phoenixd
//! sends every `ApiEvent` as it happens (`Api.kt`, `route("/websocket")`:
//! `eventsFlow.collect { sendSerialized(it) }`, kotlinx JSON with the `type`
//! discriminator and `timestamp` in unix ms, pretty-printed, nulls omitted;
//! Basic auth with the http password, or the password as a
//! `Sec-WebSocket-Protocol` for browsers, `WebsocketProtocolAuthenticationProvider.kt`).
//!
//! The websocket replays nothing (`eventsFlow` is a `SharedFlow` without
//! replay), so a resume from a [`Cursor`] (an event's `timestamp`) first
//! lists what was received since, `GET /payments/incoming?from=&to=&limit=&offset=`
//! (paid only, newest first: `PaymentsIncoming.sq`, `listSuccessful`),
//! with a margin of [`REPLAY_MARGIN_MS`] because an event's `timestamp` is
//! taken a moment after the payment's `completedAt`; the websocket is opened
//! before the listing, so nothing falls between the two.
//!
//! phoenixd pings every 10 s and drops a client that has not answered
//! within 10 s more (`install(WebSockets)`); pings are answered as frames
//! are read, so a consumer that stops calling
//! [`SettlementStream::next`] for longer is disconnected and resumes from its
//! cursor.

use std::collections::{HashSet, VecDeque};
use std::str::FromStr;

use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{BACKEND, PhoenixdClient, PhoenixdEvent};
use crate::http::bad;
use crate::{
    BackendError, Cursor, PaymentHash, Settlement, SettlementStream, Settlements, TransportError,
};

/// The largest websocket message read (phoenixd's events are a few hundred
/// bytes).
pub const MAX_EVENT_BYTES: usize = 64 << 10;

/// The most settlements one resume replays; more after the cursor is an
/// error (resume from a later cursor, or read them with
/// `/payments/incoming`).
pub const MAX_REPLAY: usize = 1_000;

/// How far before the cursor a resume lists received payments.
pub const REPLAY_MARGIN_MS: u64 = 60_000;

/// One page of `/payments/incoming`.
const PAGE: usize = 100;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `ApiType.IncomingPayment` as listed (`json/JsonSerializers.kt`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    payment_hash: String,
    received_sat: u64,
    #[serde(default)]
    completed_at: Option<u64>,
}

/// A `payment_received` event as a [`Settlement`] (its `timestamp` the
/// cursor); `None` for other events.
fn settlement_of(body: &[u8]) -> Result<Option<Settlement>, BackendError> {
    let event = PhoenixdEvent::parse(body).map_err(|e| bad(BACKEND, e.to_string()))?;
    let PhoenixdEvent::PaymentReceived {
        amount_sat,
        payment_hash,
        ..
    } = event
    else {
        return Ok(None);
    };
    let timestamp = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("timestamp").and_then(Value::as_u64))
        .unwrap_or_else(l402::time::unix_millis);
    Ok(Some(Settlement::new(
        payment_hash,
        amount_sat.saturating_mul(1000),
        Cursor::new(timestamp),
    )))
}

/// A subscription to phoenixd's websocket; see [`PhoenixdClient`]'s
/// [`Settlements`].
pub struct PhoenixdSettlements {
    socket: Socket,
    replay: VecDeque<Settlement>,
    /// The replayed hashes (at most [`MAX_REPLAY`]), not given again when
    /// the live feed repeats them.
    replayed: HashSet<PaymentHash>,
}

impl std::fmt::Debug for PhoenixdSettlements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoenixdSettlements")
            .field("replay", &self.replay.len())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl SettlementStream for PhoenixdSettlements {
    async fn next(&mut self) -> Result<Option<Settlement>, BackendError> {
        if let Some(s) = self.replay.pop_front() {
            return Ok(Some(s));
        }
        while let Some(message) = self.socket.next().await {
            let message = message.map_err(|e| BackendError::Interrupted {
                backend: BACKEND,
                source: TransportError::new(e),
            })?;
            let body = match message {
                tungstenite::Message::Text(text) => text.as_bytes().to_vec(),
                tungstenite::Message::Binary(bytes) => bytes.to_vec(),
                tungstenite::Message::Close(_) => return Ok(None),
                // Pings are answered by the next read.
                _ => continue,
            };
            if let Some(s) = settlement_of(&body)? {
                if self.replayed.remove(&s.payment_hash) {
                    continue;
                }
                return Ok(Some(s));
            }
        }
        Ok(None)
    }
}

impl PhoenixdClient {
    /// Opens `ws://…/websocket` with Basic auth.
    async fn open_websocket(&self) -> Result<Socket, BackendError> {
        let Some(rest) = self.base.strip_prefix("http://") else {
            return Err(BackendError::Unsupported {
                backend: BACKEND,
                what: "the websocket over https (phoenixd serves plain HTTP; behind a TLS \
                       proxy, use its webhook: phoenixd::verified_webhook_event)",
            });
        };
        let mut request = format!("ws://{rest}/websocket")
            .into_client_request()
            .map_err(|e| bad(BACKEND, format!("websocket URL: {e}")))?;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!(":{}", self.password));
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| BackendError::Unauthorized {
                backend: BACKEND,
                reason: "the password is not a header value".into(),
            })?;
        value.set_sensitive(true);
        request.headers_mut().insert("authorization", value);
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_EVENT_BYTES))
            .max_frame_size(Some(MAX_EVENT_BYTES));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
        match tokio::time::timeout(self.timeout, connect).await {
            Err(_) => Err(BackendError::Timeout {
                backend: BACKEND,
                after: self.timeout,
            }),
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                let detail = response
                    .body()
                    .as_deref()
                    .map(crate::http::snippet)
                    .unwrap_or_default();
                Err(if status == 401 {
                    BackendError::Unauthorized {
                        backend: BACKEND,
                        reason: detail,
                    }
                } else {
                    BackendError::Rejected {
                        backend: BACKEND,
                        status,
                        detail,
                    }
                })
            }
            Ok(Err(e @ tungstenite::Error::Io(_))) => Err(BackendError::Unreachable {
                backend: BACKEND,
                source: TransportError::new(e),
            }),
            Ok(Err(e)) => Err(bad(BACKEND, format!("websocket handshake: {e}"))),
        }
    }

    /// The payments received from `from` (unix ms) on, oldest first, at
    /// most [`MAX_REPLAY`].
    async fn received_since(&self, from: u64) -> Result<Vec<Settlement>, BackendError> {
        let to = l402::time::unix_millis();
        let mut listed = Vec::new();
        for page in 0.. {
            let path = format!(
                "/payments/incoming?from={from}&to={to}&limit={PAGE}&offset={}",
                page * PAGE
            );
            let answer = self.call(Method::GET, &path, None, self.timeout).await?;
            if !answer.status.is_success() {
                return Err(answer.rejected());
            }
            let items: Vec<Listed> = answer.json("IncomingPayment list")?;
            let n = items.len();
            listed.extend(items);
            if listed.len() > MAX_REPLAY {
                return Err(BackendError::Rejected {
                    backend: BACKEND,
                    status: 0,
                    detail: format!(
                        "more than {MAX_REPLAY} payments received after the cursor; \
                         resume from a later one"
                    ),
                });
            }
            if n < PAGE {
                break;
            }
        }
        let mut settlements = listed
            .into_iter()
            .map(|p| {
                let hash = PaymentHash::from_str(&p.payment_hash)
                    .map_err(|e| bad(BACKEND, format!("paymentHash: {e}")))?;
                Ok(Settlement::new(
                    hash,
                    p.received_sat.saturating_mul(1000),
                    Cursor::new(p.completed_at.unwrap_or(to)),
                ))
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        settlements.sort_by_key(|s| s.cursor);
        Ok(settlements)
    }
}

/// `GET /websocket`'s `payment_received` events; a resume from a cursor
/// first replays `/payments/incoming` from [`REPLAY_MARGIN_MS`] before it.
/// Needs the full-access or the limited-access password. Over plain HTTP
/// only (phoenixd serves no TLS): an `https` node is
/// [`BackendError::Unsupported`]; use the webhook there.
#[async_trait::async_trait]
impl Settlements for PhoenixdClient {
    async fn subscribe(&self, after: Cursor) -> Result<Box<dyn SettlementStream>, BackendError> {
        let socket = self.open_websocket().await?;
        let replay: VecDeque<Settlement> = if after == Cursor::NOW {
            VecDeque::new()
        } else {
            self.received_since(after.get().saturating_sub(REPLAY_MARGIN_MS))
                .await?
                .into()
        };
        let replayed = replay.iter().map(|s| s.payment_hash).collect();
        Ok(Box::new(PhoenixdSettlements {
            socket,
            replay,
            replayed,
        }))
    }
}

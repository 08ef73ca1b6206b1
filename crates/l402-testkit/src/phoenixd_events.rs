//! The fake phoenixd's events: `GET /websocket` and the listing a resume
//! reads, `GET /payments/incoming`.
//!
//! * `/websocket` (`Api.kt`, `route("/websocket")`): Basic auth, or a
//!   password among the `Sec-WebSocket-Protocol` values
//!   (`api/WebsocketProtocolAuthenticationProvider.kt`); then every
//!   `ApiEvent` as a text frame, kotlinx's pretty JSON (`prettyPrint = true`,
//!   four spaces) with the `type` discriminator first, `timestamp` (unix ms)
//!   and no nulls (`explicitNulls = false`): `payment_received` is
//!   `{"type","timestamp","amountSat","paymentHash"}` plus `externalId`,
//!   `payerNote`, `payerKey` when set (`json/JsonSerializers.kt`,
//!   `PaymentReceived`). Nothing is replayed (`eventsFlow` is a
//!   `SharedFlow`).
//! * `/payments/incoming?from=&to=&limit=&offset=&all=` (`Api.kt`,
//!   `get("payments/incoming")`): the received payments whose `receivedAt`
//!   is between `from` and `to` (ms, inclusive), newest first
//!   (`PaymentsIncoming.sq`, `listSuccessful`), `limit` 20 by default.
//!
//! * Webhooks (`Api.kt`, `notifyWebhook`): each event is also POSTed as
//!   JSON to every `webhook` URL, its client's JSON pretty and with nulls
//!   written (`explicitNulls` left true), signed `X-Phoenix-Signature:
//!   hex(HMAC-SHA256(key = webhook-secret, body))` (`Utils.kt`,
//!   `hmacSha256`); a failed delivery is only logged, never retried.
//!
//! The events come from the dev node's settlement feed for the fake's
//! wallet, so a payment through any fake reaches the merchant's websocket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use l402_lightning::dev::DevWallet;
use l402_lightning::{Cursor, PaymentHash, Receiver, Settlements};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::phoenixd::{Fake, LIMITED_PASSWORD, PASSWORD, auth};

/// The most received payments the fake remembers for `/payments/incoming`.
const MAX_RECEIVED: usize = 10_000;

/// One received payment: hash, sats, `receivedAt` (ms).
type Received = (PaymentHash, u64, u64);

/// A webhook: URL and secret.
type Webhook = (String, Vec<u8>);

/// The fake's events and received payments.
#[derive(Clone, Debug)]
pub(crate) struct Events {
    tx: broadcast::Sender<String>,
    received: Arc<Mutex<Vec<Received>>>,
    webhooks: Arc<Mutex<Vec<Webhook>>>,
    /// Drops every websocket connection, without a closing handshake.
    drop_all: Arc<tokio::sync::Notify>,
}

/// kotlinx's pretty print: four spaces.
fn pretty(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).unwrap();
    String::from_utf8(out).unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl Events {
    /// Follows `wallet`'s settlements (from now on).
    pub(crate) async fn start(wallet: &DevWallet) -> Events {
        let events = Events {
            tx: broadcast::channel(256).0,
            received: Arc::default(),
            webhooks: Arc::default(),
            drop_all: Arc::default(),
        };
        let mut feed = wallet.subscribe(Cursor::NOW).await.unwrap();
        let follower = events.clone();
        tokio::spawn(async move {
            while let Ok(Some(settled)) = feed.next().await {
                let at = now_ms();
                let sats = settled.amount_msat / 1000;
                {
                    let mut received = follower
                        .received
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if received.len() == MAX_RECEIVED {
                        received.remove(0);
                    }
                    received.push((settled.payment_hash, sats, at));
                }
                // `timestamp` is taken when the event is made, a moment
                // after the payment's `receivedAt`.
                let mut event = json!({
                    "type": "payment_received",
                    "timestamp": now_ms(),
                    "amountSat": sats,
                    "paymentHash": settled.payment_hash.to_string(),
                });
                follower.push(event.clone());
                // The webhook client writes nulls.
                for key in ["externalId", "payerNote", "payerKey"] {
                    event[key] = Value::Null;
                }
                follower.notify_webhooks(&event).await;
            }
        });
        events
    }

    pub(crate) fn push(&self, event: Value) {
        // No websocket client is not an error.
        let _ = self.tx.send(pretty(&event));
    }

    pub(crate) fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    pub(crate) fn drop_websockets(&self) {
        self.drop_all.notify_waiters();
    }

    pub(crate) fn add_webhook(&self, url: String, secret: Vec<u8>) {
        self.webhooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((url, secret));
    }

    /// POSTs `event` to every webhook, signed; failures are ignored (as
    /// phoenixd only logs them).
    async fn notify_webhooks(&self, event: &Value) {
        use hmac::{Hmac, Mac};
        let hooks = self
            .webhooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let body = pretty(event);
        for (url, secret) in hooks {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
            mac.update(body.as_bytes());
            let signature = hex::encode(mac.finalize().into_bytes());
            let _ = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-phoenix-signature", signature)
                .body(body.clone())
                .send()
                .await;
        }
    }
}

/// `get("payments/incoming")` → a list of `ApiType.IncomingPayment`.
pub(crate) async fn incoming_list(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = auth(&headers) {
        return r;
    }
    let number = |key: &str, default: u64| {
        query
            .get(key)
            .map_or(Ok(default), |v| v.parse::<u64>().map_err(|_| ()))
    };
    let (Ok(from), Ok(to), Ok(limit), Ok(offset)) = (
        number("from", 0),
        number("to", now_ms()),
        number("limit", 20),
        number("offset", 0),
    ) else {
        return (StatusCode::BAD_REQUEST, "invalid number").into_response();
    };
    let mut listed: Vec<Received> = fake
        .events
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(_, _, at)| (from..=to).contains(at))
        .copied()
        .collect();
    listed.sort_by_key(|(_, _, at)| std::cmp::Reverse(*at));
    let mut page = Vec::new();
    for (hash, sats, at) in listed
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
    {
        let preimage = match fake.wallet.lookup_invoice(&hash).await {
            Ok(l402_lightning::InvoiceStatus::Paid { preimage }) => preimage.to_hex(),
            _ => String::new(),
        };
        page.push(json!({
            "type": "incoming_payment",
            "subType": "lightning",
            "paymentHash": hash.to_string(),
            "preimage": preimage,
            "isPaid": true,
            "isExpired": false,
            "requestedSat": sats,
            "receivedSat": sats,
            "fees": 0,
            "completedAt": at,
            "createdAt": at,
        }));
    }
    Json(page).into_response()
}

/// `route("/websocket")`: authenticated by Basic auth or a
/// `Sec-WebSocket-Protocol` password, then every event as a text frame.
pub(crate) async fn websocket(
    State(fake): State<Fake>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let by_protocol = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|p| [PASSWORD, LIMITED_PASSWORD].contains(&p.trim()))
        });
    if !by_protocol && let Err(r) = auth(&headers) {
        return r;
    }
    let events = fake.events.tx.subscribe();
    let drop_all = fake.events.drop_all.clone();
    upgrade.on_upgrade(move |socket| relay(socket, events, drop_all))
}

async fn relay(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<String>,
    drop_all: Arc<tokio::sync::Notify>,
) {
    let dropped = drop_all.notified();
    tokio::pin!(dropped);
    loop {
        tokio::select! {
            _ = &mut dropped => return,
            event = events.recv() => match event {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

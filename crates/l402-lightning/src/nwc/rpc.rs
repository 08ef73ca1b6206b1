//! One NIP-47 request and its response: encrypt, sign, publish (kind
//! 23194), wait for the wallet's signed answer (kind 23195, `e` tag = the
//! request's id), decrypt, read.
//!
//! Each call opens its own websocket to the relay: a connection lost
//! affects one call only, and everything before the request event is
//! written is provably *not sent*.

use std::time::Duration;

use nostr::{
    ClientMessage, Event, EventBuilder, EventId, Filter, Kind, RelayMessage, SubscriptionId, Tag,
    TagKind, Timestamp,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::{Instant, timeout_at};

use super::crypto::{Encryption, tag_value};
use super::relay::{Relay, RelayError};
use super::uri::NwcUri;
use crate::{Backend, BackendError, TransportError};

/// NIP-47 event kinds.
pub(crate) const INFO: u16 = 13194;
const REQUEST: u16 = 23194;
const RESPONSE: u16 = 23195;

/// At most this many info events are read (a relay may hold several).
const MAX_INFO_EVENTS: usize = 8;

/// Why a call did not produce a result.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The request event was never written: nothing can have happened.
    NotSent(std::io::Error),
    /// The connection failed after the request was written.
    Interrupted(std::io::Error),
    /// No answer within the timeout, after the request was written.
    Timeout(Duration),
    /// The relay refused the request event (NIP-01 `OK false`).
    Refused(String),
    /// The wallet speaks no encryption this client speaks.
    NoCommonEncryption,
    /// An answer that cannot be read.
    BadResponse(String),
    /// The wallet answered with a NIP-47 error.
    Wallet {
        /// The NIP-47 error code (`PAYMENT_FAILED`, `NOT_FOUND`, …).
        code: String,
        /// The wallet's message.
        message: String,
    },
}

impl CallError {
    /// As a [`BackendError`], for every call but paying (whose wallet
    /// errors [`super::pay`] reads itself).
    pub(crate) fn into_backend(self) -> BackendError {
        let backend = Backend::Nwc;
        match self {
            CallError::NotSent(e) => BackendError::Unreachable {
                backend,
                source: TransportError::new(e),
            },
            CallError::Interrupted(e) => BackendError::Interrupted {
                backend,
                source: TransportError::new(e),
            },
            CallError::Timeout(after) => BackendError::Timeout { backend, after },
            CallError::Refused(reason) => BackendError::Rejected {
                backend,
                status: 0,
                detail: format!("the relay refused the request: {reason}"),
            },
            CallError::NoCommonEncryption => BackendError::Unsupported {
                backend,
                what: "the wallet's encryption (it offers neither nip44_v2 nor nip04)",
            },
            CallError::BadResponse(reason) => BackendError::BadResponse { backend, reason },
            CallError::Wallet { code, message } => match code.as_str() {
                "UNAUTHORIZED" | "RESTRICTED" => BackendError::Unauthorized {
                    backend,
                    reason: format!("{code}: {message}"),
                },
                "NOT_IMPLEMENTED" => BackendError::Unsupported {
                    backend,
                    what: "this NIP-47 method (NOT_IMPLEMENTED)",
                },
                _ => BackendError::Rejected {
                    backend,
                    status: 0,
                    detail: format!("{code}: {message}"),
                },
            },
        }
    }
}

/// A NIP-47 response's content.
#[derive(Deserialize)]
struct Response {
    result_type: Option<String>,
    error: Option<WalletError>,
    result: Option<Value>,
}

#[derive(Deserialize)]
struct WalletError {
    code: Option<String>,
    message: Option<String>,
}

/// The client side of one NWC connection.
#[derive(Debug)]
pub(crate) struct Rpc {
    pub(crate) uri: NwcUri,
    /// Set by the builder: this encryption, whatever the info event says.
    pub(crate) forced: Option<Encryption>,
    /// What the info event said, once read.
    pub(crate) chosen: std::sync::OnceLock<Encryption>,
    pub(crate) connect_timeout: Duration,
}

impl Rpc {
    /// Connects to the first relay of the URI that answers.
    async fn connect(&self, deadline: Instant) -> Result<Relay, CallError> {
        let mut last = None;
        for url in self.uri.relays() {
            let left = deadline.saturating_duration_since(Instant::now());
            match Relay::connect(url, self.connect_timeout.min(left)).await {
                Ok(relay) => return Ok(relay),
                Err(RelayError::Connect(e) | RelayError::Lost(e)) => last = Some(e),
            }
        }
        Err(CallError::NotSent(last.unwrap_or_else(|| {
            std::io::Error::other("the connection string names no relay")
        })))
    }

    /// The encryption to use: forced, known, or read from the info event
    /// (kind 13194) on `relay`.
    async fn encryption(
        &self,
        relay: &mut Relay,
        deadline: Instant,
    ) -> Result<Encryption, CallError> {
        if let Some(e) = self.forced.or_else(|| self.chosen.get().copied()) {
            return Ok(e);
        }
        let info = fetch_info(relay, &self.uri, deadline)
            .await
            .map_err(|e| match e {
                CallError::Interrupted(e) => CallError::NotSent(e),
                CallError::Timeout(_) => CallError::NotSent(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the relay sent no info event list in time",
                )),
                other => other,
            })?;
        let chosen = match &info {
            Some(event) => Encryption::from_info(event).ok_or(CallError::NoCommonEncryption)?,
            // No info event: NIP-47 says a wallet without the tag speaks NIP-04.
            None => Encryption::Nip04,
        };
        Ok(*self.chosen.get_or_init(|| chosen))
    }

    /// Sends `method` with `params` and returns the `result`, within
    /// `timeout` from now.
    pub(crate) async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let deadline = Instant::now() + timeout;
        let mut relay = self.connect(deadline).await?;
        let result = self
            .exchange(&mut relay, method, params, timeout, deadline)
            .await;
        relay.close().await;
        result
    }

    async fn exchange(
        &self,
        relay: &mut Relay,
        method: &str,
        params: Value,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Value, CallError> {
        let encryption = self.encryption(relay, deadline).await?;
        let keys = self.uri.keys();
        let wallet = *self.uri.wallet_pubkey();
        let plaintext = serde_json::json!({ "method": method, "params": params }).to_string();
        let content = encryption
            .encrypt(keys.secret_key(), &wallet, &plaintext)
            .map_err(|e| CallError::NotSent(std::io::Error::other(e)))?;
        // A wallet that honours `expiration` drops a request it receives
        // long after this client stopped waiting. The minute of slack keeps
        // a relay whose clock runs ahead from refusing it as already
        // expired (a late answer is *unknown* anyway).
        let expires = Timestamp::now() + timeout.as_secs().saturating_add(60);
        let request = EventBuilder::new(Kind::Custom(REQUEST), content)
            .tag(Tag::public_key(wallet))
            .tag(Tag::custom(
                TagKind::custom("encryption"),
                [encryption.as_str()],
            ))
            .tag(Tag::expiration(expires))
            .sign_with_keys(keys)
            .map_err(|e| CallError::NotSent(std::io::Error::other(e.to_string())))?;

        // Subscribe to the answer before publishing (ephemeral events are
        // not stored: a subscription opened later would miss it).
        let sub = SubscriptionId::new("nwc-response");
        let filter = Filter::new()
            .kind(Kind::Custom(RESPONSE))
            .author(wallet)
            .event(request.id);
        let before = |e: CallError| match e {
            CallError::Interrupted(e) => CallError::NotSent(e),
            CallError::Timeout(_) => CallError::NotSent(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the relay did not confirm the subscription in time",
            )),
            other => other,
        };
        send(
            relay,
            &ClientMessage::req(sub.clone(), vec![filter]),
            deadline,
            timeout,
        )
        .await
        .map_err(before)?;
        wait_eose(relay, &sub, deadline, timeout)
            .await
            .map_err(before)?;

        // From here on the wallet may act on the request.
        send(
            relay,
            &ClientMessage::event(request.clone()),
            deadline,
            timeout,
        )
        .await?;
        let answer = wait_answer(relay, &sub, &request.id, &wallet, deadline, timeout).await?;
        let text = encryption
            .decrypt(keys.secret_key(), &wallet, &answer.content)
            .map_err(CallError::BadResponse)?;
        let response: Response = serde_json::from_str(&text)
            .map_err(|e| CallError::BadResponse(format!("response content: {e}")))?;
        if let Some(kind) = &response.result_type
            && kind != method
        {
            return Err(CallError::BadResponse(format!(
                "answered {kind:?} to {method:?}"
            )));
        }
        if let Some(error) = response.error {
            return Err(CallError::Wallet {
                code: error.code.unwrap_or_else(|| "OTHER".into()),
                message: error.message.unwrap_or_default(),
            });
        }
        match response.result {
            Some(result) if !result.is_null() => Ok(result),
            _ => Err(CallError::BadResponse("neither result nor error".into())),
        }
    }
}

async fn send(
    relay: &mut Relay,
    message: &ClientMessage<'_>,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), CallError> {
    match timeout_at(deadline, relay.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(RelayError::Connect(e) | RelayError::Lost(e))) => Err(CallError::Interrupted(e)),
        Err(_) => Err(CallError::Timeout(timeout)),
    }
}

async fn recv(
    relay: &mut Relay,
    deadline: Instant,
    timeout: Duration,
) -> Result<RelayMessage<'static>, CallError> {
    match timeout_at(deadline, relay.recv()).await {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(RelayError::Connect(e) | RelayError::Lost(e))) => Err(CallError::Interrupted(e)),
        Err(_) => Err(CallError::Timeout(timeout)),
    }
}

async fn wait_eose(
    relay: &mut Relay,
    sub: &SubscriptionId,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), CallError> {
    loop {
        match recv(relay, deadline, timeout).await? {
            RelayMessage::EndOfStoredEvents(id) if *id == *sub => return Ok(()),
            RelayMessage::Closed {
                subscription_id,
                message,
            } if *subscription_id == *sub => {
                return Err(CallError::Refused(format!(
                    "subscription closed: {message}"
                )));
            }
            _ => {}
        }
    }
}

/// Waits for the wallet's answer to `request`: a validly signed kind 23195
/// event from `wallet` tagging the request. A relay's `OK false` for the
/// request ends the wait (the wallet never saw it).
async fn wait_answer(
    relay: &mut Relay,
    sub: &SubscriptionId,
    request: &EventId,
    wallet: &nostr::PublicKey,
    deadline: Instant,
    timeout: Duration,
) -> Result<Event, CallError> {
    loop {
        match recv(relay, deadline, timeout).await? {
            RelayMessage::Ok {
                event_id,
                status: false,
                message,
            } if event_id == *request => return Err(CallError::Refused(message.into_owned())),
            RelayMessage::Event {
                subscription_id,
                event,
            } if *subscription_id == *sub => {
                let event = event.into_owned();
                // Anything that is not exactly the wallet's signed answer
                // to this request is ignored, never trusted.
                if event.pubkey == *wallet
                    && event.kind == Kind::Custom(RESPONSE)
                    && tag_value(&event, "e") == Some(&request.to_hex())
                    && event.verify().is_ok()
                {
                    return Ok(event);
                }
            }
            RelayMessage::Closed {
                subscription_id,
                message,
            } if *subscription_id == *sub => {
                return Err(CallError::Interrupted(std::io::Error::other(format!(
                    "the relay closed the subscription: {message}"
                ))));
            }
            _ => {}
        }
    }
}

/// The wallet's newest validly signed info event on `relay`, if any.
pub(crate) async fn fetch_info(
    relay: &mut Relay,
    uri: &NwcUri,
    deadline: Instant,
) -> Result<Option<Event>, CallError> {
    let timeout = deadline.saturating_duration_since(Instant::now());
    let sub = SubscriptionId::new("nwc-info");
    let filter = Filter::new()
        .kind(Kind::Custom(INFO))
        .author(*uri.wallet_pubkey())
        .limit(MAX_INFO_EVENTS);
    send(
        relay,
        &ClientMessage::req(sub.clone(), vec![filter]),
        deadline,
        timeout,
    )
    .await?;
    let mut newest: Option<Event> = None;
    let mut seen = 0;
    loop {
        match recv(relay, deadline, timeout).await? {
            RelayMessage::Event {
                subscription_id,
                event,
            } if *subscription_id == sub && seen < MAX_INFO_EVENTS => {
                seen += 1;
                let event = event.into_owned();
                if event.pubkey == *uri.wallet_pubkey()
                    && event.kind == Kind::Custom(INFO)
                    && event.verify().is_ok()
                    && newest
                        .as_ref()
                        .is_none_or(|n| event.created_at > n.created_at)
                {
                    newest = Some(event);
                }
            }
            RelayMessage::EndOfStoredEvents(id) if *id == sub => break,
            RelayMessage::Closed {
                subscription_id, ..
            } if *subscription_id == sub => break,
            _ => {}
        }
    }
    send(relay, &ClientMessage::close(sub), deadline, timeout).await?;
    Ok(newest)
}

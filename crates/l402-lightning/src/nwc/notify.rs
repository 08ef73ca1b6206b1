//! [`Settlements`] over NIP-47 notifications: `payment_received` events
//! (kind 23197, NIP-44; kind 23196, NIP-04, for wallets that speak nothing
//! else), tagged to this client and signed by the wallet.
//!
//! Notifications are ephemeral Nostr events: a relay keeps none, so a
//! [`Cursor`] other than [`Cursor::NOW`] is replayed with `list_transactions`
//! (settled incoming transactions from the cursor's `settled_at` on), which
//! a wallet without that method refuses ([`BackendError::Unsupported`]).

use std::collections::VecDeque;
use std::time::Duration;

use nostr::{ClientMessage, Event, Filter, Kind, RelayMessage, SubscriptionId};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::crypto::{Encryption, tag_value};
use super::relay::{Relay, RelayError};
use super::rpc::{CallError, fetch_info};
use super::{BACKEND, NwcClient, Transaction, parse};
use crate::{
    BackendError, Cursor, PaymentHash, Settlement, SettlementStream, Settlements, TransportError,
};

/// The most settlements one replay holds.
const MAX_REPLAY: usize = 1_000;

/// A notification's content.
#[derive(Deserialize)]
struct Notification {
    notification_type: String,
    notification: Transaction,
}

/// `list_transactions`' result.
#[derive(Deserialize)]
struct Transactions {
    transactions: Vec<Transaction>,
}

/// The settlement a transaction reports, if it is a settled incoming one
/// whose preimage (when given) matches its hash.
fn settlement(tx: &Transaction) -> Option<Settlement> {
    if tx.kind.as_deref().is_some_and(|k| k != "incoming")
        || tx.state.as_deref().is_some_and(|s| s != "settled")
    {
        return None;
    }
    let hash: PaymentHash = tx.payment_hash.as_deref()?.parse().ok()?;
    if let Ok(Some(preimage)) = tx.preimage()
        && !preimage.matches(&hash)
    {
        return None;
    }
    let at = tx.settled_at.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    Some(Settlement::new(
        hash,
        tx.amount.unwrap_or(0),
        Cursor::new(at),
    ))
}

/// A live subscription to one wallet's `payment_received` notifications.
struct Stream {
    relay: Relay,
    sub: SubscriptionId,
    encryption: Encryption,
    keys: nostr::Keys,
    wallet: nostr::PublicKey,
    replay: VecDeque<Settlement>,
}

impl Stream {
    fn read(&self, event: &Event) -> Option<Settlement> {
        if event.pubkey != self.wallet
            || event.kind != Kind::Custom(self.encryption.notification_kind())
            || tag_value(event, "p") != Some(&self.keys.public_key().to_hex())
            || event.verify().is_err()
        {
            return None;
        }
        let text = self
            .encryption
            .decrypt(self.keys.secret_key(), &self.wallet, &event.content)
            .ok()?;
        let note: Notification = serde_json::from_str(&text).ok()?;
        if note.notification_type != "payment_received" {
            return None;
        }
        settlement(&note.notification)
    }
}

#[async_trait::async_trait]
impl SettlementStream for Stream {
    async fn next(&mut self) -> Result<Option<Settlement>, BackendError> {
        if let Some(s) = self.replay.pop_front() {
            return Ok(Some(s));
        }
        loop {
            match self.relay.recv().await {
                Ok(RelayMessage::Event {
                    subscription_id,
                    event,
                }) if *subscription_id == self.sub => {
                    if let Some(s) = self.read(&event) {
                        return Ok(Some(s));
                    }
                }
                Ok(RelayMessage::Closed {
                    subscription_id, ..
                }) if *subscription_id == self.sub => return Ok(None),
                Ok(_) => {}
                Err(RelayError::Connect(e) | RelayError::Lost(e)) => {
                    return Err(BackendError::Interrupted {
                        backend: BACKEND,
                        source: TransportError::new(e),
                    });
                }
            }
        }
    }
}

impl NwcClient {
    /// Settled incoming transactions from `after` on (`list_transactions`).
    async fn replay(&self, after: Cursor) -> Result<VecDeque<Settlement>, BackendError> {
        let result = self
            .call(
                "list_transactions",
                json!({ "from": after.get(), "type": "incoming", "limit": MAX_REPLAY }),
            )
            .await
            .map_err(|e| match e {
                CallError::Wallet { code, .. } if code == "NOT_IMPLEMENTED" => {
                    BackendError::Unsupported {
                        backend: BACKEND,
                        what: "replaying settlements (the wallet has no list_transactions)",
                    }
                }
                other => other.into_backend(),
            })?;
        let list: Transactions = parse(result, "list_transactions")?;
        let mut found: Vec<Settlement> = list
            .transactions
            .iter()
            .filter_map(settlement)
            .filter(|s| s.cursor >= after)
            .take(MAX_REPLAY)
            .collect();
        found.sort_by_key(|s| s.cursor);
        Ok(found.into())
    }
}

#[async_trait::async_trait]
impl Settlements for NwcClient {
    /// Subscribes to the wallet's `payment_received` notifications (the
    /// kind its info event's encryption calls for), after replaying
    /// `list_transactions` from `after` unless it is [`Cursor::NOW`].
    async fn subscribe(&self, after: Cursor) -> Result<Box<dyn SettlementStream>, BackendError> {
        let deadline = Instant::now() + self.timeout;
        let uri = &self.rpc.uri;
        let url = uri
            .relays()
            .first()
            .ok_or_else(|| BackendError::BadResponse {
                backend: BACKEND,
                reason: "the connection string names no relay".into(),
            })?;
        let unreachable = |e: std::io::Error| BackendError::Unreachable {
            backend: BACKEND,
            source: TransportError::new(e),
        };
        let mut relay = Relay::connect(url, self.rpc.connect_timeout.min(self.timeout))
            .await
            .map_err(|(RelayError::Connect(e) | RelayError::Lost(e))| unreachable(e))?;
        let encryption =
            match self.rpc.forced {
                Some(e) => e,
                None => {
                    let info = fetch_info(&mut relay, uri, deadline)
                        .await
                        .map_err(CallError::into_backend)?;
                    match info {
                    Some(event) => Encryption::from_info(&event).ok_or(BackendError::Unsupported {
                        backend: BACKEND,
                        what: "the wallet's encryption (it offers neither nip44_v2 nor nip04)",
                    })?,
                    None => Encryption::Nip04,
                }
                }
            };
        let keys = uri.keys().clone();
        let wallet = *uri.wallet_pubkey();
        let sub = SubscriptionId::new("nwc-notifications");
        let filter = Filter::new()
            .kind(Kind::Custom(encryption.notification_kind()))
            .author(wallet)
            .pubkey(keys.public_key());
        let timeout = Duration::from_secs(1).max(self.timeout);
        let sent = tokio::time::timeout_at(
            deadline,
            relay.send(&ClientMessage::req(sub.clone(), vec![filter])),
        )
        .await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(RelayError::Connect(e) | RelayError::Lost(e))) => return Err(unreachable(e)),
            Err(_) => {
                return Err(BackendError::Timeout {
                    backend: BACKEND,
                    after: timeout,
                });
            }
        }
        // Subscribed first, so nothing settling during the replay is missed.
        let replay = if after == Cursor::NOW {
            VecDeque::new()
        } else {
            self.replay(after).await?
        };
        Ok(Box::new(Stream {
            relay,
            sub,
            encryption,
            keys,
            wallet,
            replay,
        }))
    }
}

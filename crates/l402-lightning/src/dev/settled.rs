//! The dev node's settlement notifications ([`Settlements`] for
//! [`DevWallet`]): the ledger publishes each invoice its wallets pay (a
//! [`DevFault::Pending`](super::DevFault::Pending) one when it settles), in
//! process, without polling.
//!
//! The [`Cursor`] is the node's settlement sequence in this process (it
//! starts again at 1 when the node is reopened). The node keeps the last
//! [`FEED_CAPACITY`] settlements for replay and as the live channel's
//! bound: a subscriber more than that far behind gets
//! [`BackendError::Rejected`] and subscribes again from its cursor.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use super::{BACKEND, DevNode, DevWallet};
use crate::{BackendError, Cursor, PaymentHash, Settlement, SettlementStream, Settlements};

/// How many settlements the dev node holds for replay and for a slow
/// subscriber.
pub const FEED_CAPACITY: usize = 1024;

#[derive(Clone)]
struct Entry {
    /// The wallet paid.
    wallet_id: Arc<str>,
    settlement: Settlement,
}

/// The node-wide feed.
pub(super) struct Feed {
    tx: broadcast::Sender<Entry>,
    /// The sequence and the last [`FEED_CAPACITY`] entries; publishing and
    /// subscribing take this lock, so a subscriber's replay and its live
    /// channel neither overlap nor leave a gap.
    recent: Mutex<(u64, VecDeque<Entry>)>,
}

impl Feed {
    pub(super) fn new() -> Feed {
        Feed {
            tx: broadcast::channel(FEED_CAPACITY).0,
            recent: Mutex::new((0, VecDeque::with_capacity(FEED_CAPACITY))),
        }
    }

    fn publish(&self, wallet_id: &str, payment_hash: PaymentHash, amount_msat: u64) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.0 += 1;
        let entry = Entry {
            wallet_id: wallet_id.into(),
            settlement: Settlement::new(payment_hash, amount_msat, Cursor::new(recent.0)),
        };
        if recent.1.len() == FEED_CAPACITY {
            recent.1.pop_front();
        }
        recent.1.push_back(entry.clone());
        // No subscriber is not an error.
        let _ = self.tx.send(entry);
    }

    fn subscribe(&self, wallet_id: &str, after: Cursor) -> DevSettlements {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let replay = if after == Cursor::NOW {
            VecDeque::new()
        } else {
            recent
                .1
                .iter()
                .filter(|e| e.settlement.cursor > after && *e.wallet_id == *wallet_id)
                .map(|e| e.settlement.clone())
                .collect()
        };
        DevSettlements {
            wallet_id: wallet_id.into(),
            replay,
            live: self.tx.subscribe(),
        }
    }
}

impl DevNode {
    /// Tells the feed that `wallet_id`'s invoice was paid: now, or when a
    /// pending payment settles (`settles_at_ms`, unix milliseconds).
    pub(super) fn settled(
        &self,
        wallet_id: &str,
        payment_hash: PaymentHash,
        amount_msat: u64,
        settles_at_ms: Option<u64>,
    ) {
        let wait = settles_at_ms
            .map(|at| at.saturating_sub(l402::time::unix_millis()))
            .filter(|ms| *ms > 0);
        match wait {
            None => self
                .inner
                .settled
                .publish(wallet_id, payment_hash, amount_msat),
            Some(ms) => {
                let (node, wallet_id) = (self.clone(), wallet_id.to_owned());
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    node.inner
                        .settled
                        .publish(&wallet_id, payment_hash, amount_msat);
                });
            }
        }
    }
}

/// A subscription to one dev wallet's settlements.
struct DevSettlements {
    wallet_id: Arc<str>,
    replay: VecDeque<Settlement>,
    live: broadcast::Receiver<Entry>,
}

#[async_trait::async_trait]
impl SettlementStream for DevSettlements {
    async fn next(&mut self) -> Result<Option<Settlement>, BackendError> {
        if let Some(s) = self.replay.pop_front() {
            return Ok(Some(s));
        }
        loop {
            match self.live.recv().await {
                Ok(entry) if entry.wallet_id == self.wallet_id => {
                    return Ok(Some(entry.settlement));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    return Err(BackendError::Rejected {
                        backend: BACKEND,
                        status: 0,
                        detail: format!(
                            "settlement feed: {skipped} notifications skipped by a slow \
                             subscriber; subscribe again from the last cursor"
                        ),
                    });
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Settlements for DevWallet {
    async fn subscribe(&self, after: Cursor) -> Result<Box<dyn SettlementStream>, BackendError> {
        Ok(Box::new(self.node.inner.settled.subscribe(&self.id, after)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InvoiceRequest, PayRequest, Receiver, Wallet};

    async fn pair() -> (DevWallet, DevWallet) {
        let node = DevNode::builder().in_memory().open().await.unwrap();
        let seller = node.wallet("seller").await.unwrap();
        let buyer = node.wallet("buyer").await.unwrap();
        buyer.credit_sats(10_000).await.unwrap();
        (seller, buyer)
    }

    async fn paid(seller: &DevWallet, buyer: &DevWallet, sats: u64) -> PaymentHash {
        let invoice = seller
            .create_invoice(&InvoiceRequest::sats(sats))
            .await
            .unwrap();
        buyer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
        invoice.payment_hash
    }

    #[tokio::test]
    async fn only_the_wallets_own_settlements_and_a_resume_replays_after_the_cursor() {
        let (seller, buyer) = pair().await;
        let mut live = seller.subscribe(Cursor::NOW).await.unwrap();
        // The buyer's own invoice, paid by the seller, is not the seller's.
        seller.credit_sats(10).await.unwrap();
        paid(&buyer, &seller, 1).await;
        let first = paid(&seller, &buyer, 2).await;
        let second = paid(&seller, &buyer, 3).await;
        let a = live.next().await.unwrap().unwrap();
        let b = live.next().await.unwrap().unwrap();
        assert_eq!((a.payment_hash, a.amount_msat), (first, 2_000));
        assert_eq!((b.payment_hash, b.amount_msat), (second, 3_000));
        assert!(a.cursor < b.cursor);
        // Resuming after the first replays the second only, then goes live.
        let mut resumed = seller.subscribe(a.cursor).await.unwrap();
        assert_eq!(resumed.next().await.unwrap().unwrap(), b);
        let third = paid(&seller, &buyer, 4).await;
        assert_eq!(resumed.next().await.unwrap().unwrap().payment_hash, third);
        // Cursor::NOW replays nothing.
        let mut fresh = seller.subscribe(Cursor::NOW).await.unwrap();
        let fourth = paid(&seller, &buyer, 5).await;
        assert_eq!(fresh.next().await.unwrap().unwrap().payment_hash, fourth);
    }

    #[tokio::test]
    async fn a_pending_payment_is_announced_when_it_settles() {
        let (seller, buyer) = pair().await;
        let mut live = seller.subscribe(Cursor::NOW).await.unwrap();
        let invoice = seller
            .create_invoice(
                &InvoiceRequest::sats(1).memo(
                    super::super::DevFault::Pending {
                        for_: std::time::Duration::from_millis(300),
                    }
                    .memo(),
                ),
            )
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let _ = buyer.pay(&PayRequest::new(&invoice.bolt11)).await;
        let s = live.next().await.unwrap().unwrap();
        assert_eq!(s.payment_hash, invoice.payment_hash);
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    }

    #[tokio::test]
    async fn a_subscriber_past_the_bound_is_told_to_resume_and_the_replay_is_bounded() {
        let (seller, buyer) = pair().await;
        buyer.credit_sats(10_000).await.unwrap();
        let mut slow = seller.subscribe(Cursor::NOW).await.unwrap();
        let mut hashes = Vec::new();
        for _ in 0..FEED_CAPACITY + 5 {
            hashes.push(paid(&seller, &buyer, 1).await);
        }
        let err = slow.next().await.unwrap_err();
        assert!(
            matches!(&err, BackendError::Rejected { detail, .. } if detail.contains("skipped")),
            "{err:?}"
        );
        // The feed holds the last FEED_CAPACITY: a resume from the start
        // replays exactly those, in order.
        let mut resumed = seller.subscribe(Cursor::new(1)).await.unwrap();
        let first = resumed.next().await.unwrap().unwrap();
        assert_eq!(first.payment_hash, hashes[5]);
        assert_eq!(first.cursor, Cursor::new(6));
        let held = seller.node.inner.settled.recent.lock().unwrap().1.len();
        assert_eq!(held, FEED_CAPACITY);
    }
}

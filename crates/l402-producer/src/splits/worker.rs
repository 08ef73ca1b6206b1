//! The payout queue's worker: one task per producer.
//!
//! Never paying twice:
//! 1. a due `pending` payout is claimed (a lease, one conditional update);
//! 2. an invoice is fetched from the address and checked
//!    ([`super::lnurl::check_invoice`]); a refused one ends the attempt,
//!    nothing recorded, nothing paid;
//! 3. the invoice's payment hash is recorded (`paying`) **before** the
//!    wallet is called; a lost claim means no payment;
//! 4. the wallet pays: success records the preimage (`paid`); a failure
//!    that proves no money moved ([`PayOutcome::no_money_moved`]) sends the
//!    payout back to `pending` for a new invoice; anything else leaves it
//!    `paying`, and it is only ever looked up ([`Wallet::lookup_payment`])
//!    from then on (also after a restart), never sent again.

use std::sync::Weak;
use std::time::Duration;

use l402_lightning::{OutgoingStatus, PayRequest, PaymentHash};
use l402_store::{Payout, Release};

use crate::Inner;

use super::lnurl::LightningAddress;

/// How long a claim on a payout lasts while its invoice is fetched.
const LEASE_SECS: u64 = 120;
/// Payouts looked up per round.
const LOOKUPS_PER_ROUND: u32 = 100;
/// Payouts paid per round.
const PAYOUTS_PER_ROUND: usize = 100;

/// Runs the queue until the producer is dropped.
pub(crate) async fn run(inner: Weak<Inner>, poll: Duration) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let Some(wake) = strong.splits.as_ref().map(|s| s.wake.clone()) else {
            return;
        };
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        strong.work_payouts().await;
        // Do not keep the producer alive while waiting.
        drop(strong);
        tokio::select! {
            () = &mut woken => {},
            () = tokio::time::sleep(poll) => {},
        }
    }
}

fn backoff(base: Duration, attempts: u32) -> u64 {
    let secs = base
        .as_secs_f64()
        .mul_add(2f64.powi(attempts.min(16) as i32), 0.0)
        .min(3600.0);
    l402_server::unix_now().saturating_add(secs.ceil() as u64)
}

impl Inner {
    /// One round: look up payouts whose outcome is unknown, then pay due ones.
    pub(crate) async fn work_payouts(&self) {
        if self.splits.is_none() {
            return;
        }
        let now = l402_server::unix_now();
        match self.store.unresolved_payouts(now, LOOKUPS_PER_ROUND).await {
            Ok(payouts) => {
                for payout in payouts {
                    self.resolve_payout(&payout).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "splits: cannot read the payout queue"),
        }
        for _ in 0..PAYOUTS_PER_ROUND {
            match self
                .store
                .claim_payout(l402_server::unix_now(), LEASE_SECS)
                .await
            {
                Ok(Some((payout, claim))) => self.pay_payout(&payout, &claim).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "splits: cannot claim a payout");
                    break;
                }
            }
        }
    }

    async fn put_back(&self, payout: &Payout, how: Release<'_>, error: &str) {
        let Some(splits) = &self.splits else { return };
        let config = &splits.config;
        let next = match how {
            Release::Unknown { .. } => backoff(config.retry_after, 0),
            _ => backoff(config.retry_after, payout.attempts),
        };
        if let Err(e) = self
            .store
            .release_payout(&payout.id, how, error, next, config.max_attempts)
            .await
        {
            // The lease (fetching) or the lookup (paying) takes it up again.
            tracing::error!(error = %e, "splits: cannot put a payout back");
        }
    }

    async fn pay_payout(&self, payout: &Payout, claim: &str) {
        let Some(splits) = &self.splits else { return };
        let config = &splits.config;
        let amount_msat = payout.amount_sats.saturating_mul(1000);
        let address = match payout.owner_address.parse::<LightningAddress>() {
            Ok(a) => a,
            Err(e) => {
                return self
                    .put_back(payout, Release::Unfetched { claim }, &e.to_string())
                    .await;
            }
        };
        let invoice = match splits.fetcher.invoice(&address, amount_msat).await {
            Ok(invoice) => invoice,
            Err(e) => {
                tracing::warn!(payout = %payout.id, error = %e, "splits: invoice refused; nothing paid");
                return self
                    .put_back(payout, Release::Unfetched { claim }, &e.to_string())
                    .await;
            }
        };
        let hash = invoice.payment_hash().to_string();
        let bolt11 = invoice.to_string();
        match self
            .store
            .record_payout_invoice(
                &payout.id,
                claim,
                &hash,
                &bolt11,
                l402_server::unix_now().saturating_add(config.paying_grace.as_secs()),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(payout = %payout.id, "splits: lost the claim; not paying");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "splits: cannot record the invoice; not paying");
                return self
                    .put_back(payout, Release::Unfetched { claim }, "store unavailable")
                    .await;
            }
        }
        let max_fee = (u128::from(amount_msat) * u128::from(config.max_fee_bps) / 10_000).max(1000);
        let request = PayRequest::new(bolt11).max_fee_msat(u64::try_from(max_fee).unwrap_or(1000));
        match config.wallet.pay(&request).await {
            Ok(paid) => self.paid(payout, &hash, &paid).await,
            Err(e) if e.outcome().no_money_moved() => {
                tracing::warn!(payout = %payout.id, error = %e, "splits: payment failed; nothing moved");
                self.put_back(
                    payout,
                    Release::NotPaid {
                        payment_hash: &hash,
                    },
                    &e.to_string(),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(payout = %payout.id, error = %e, "splits: payment outcome unknown; will look it up");
                self.put_back(
                    payout,
                    Release::Unknown {
                        payment_hash: &hash,
                    },
                    &e.to_string(),
                )
                .await;
            }
        }
    }

    async fn paid(&self, payout: &Payout, hash: &str, paid: &l402_lightning::Payment) {
        match self
            .store
            .payout_paid(&payout.id, hash, &paid.preimage.to_hex(), paid.fee_msat)
            .await
        {
            Ok(true) => {
                tracing::info!(payout = %payout.id, sats = payout.amount_sats, "splits: payout paid");
                // The webhook of each merchant whose payments the payout
                // paid (the operator's, merchant 0, for manual splits only),
                // once per payout.
                let data = serde_json::json!({
                    "payoutId": payout.id,
                    "ownerAddress": payout.owner_address,
                    "amountSats": payout.amount_sats,
                    "paymentHash": hash,
                    "feeMsat": paid.fee_msat,
                });
                let merchants = match self.store.payout_merchants(&payout.id).await {
                    Ok(found) if !found.is_empty() => found,
                    Ok(_) => vec![0],
                    Err(e) => {
                        tracing::warn!(error = %e, "splits: cannot read whose payout was paid");
                        vec![0]
                    }
                };
                for merchant_id in merchants {
                    let event = self
                        .emit(
                            merchant_id,
                            crate::EventKind::SplitPaid,
                            &payout.id,
                            data.clone(),
                            None,
                        )
                        .await;
                    if let Err(e) = event {
                        tracing::warn!(error = %e, "splits: cannot queue the split.paid event");
                    }
                }
            }
            Ok(false) => {}
            // Stays `paying`: the next lookup records it.
            Err(e) => tracing::error!(error = %e, "splits: paid, but cannot record it yet"),
        }
    }

    /// A `paying` payout: ask the wallet what happened, never pay again.
    async fn resolve_payout(&self, payout: &Payout) {
        let Some(splits) = &self.splits else { return };
        let Some(hash_text) = payout.payment_hash.as_deref() else {
            return;
        };
        let Ok(hash) = hash_text.parse::<PaymentHash>() else {
            tracing::error!(payout = %payout.id, "splits: a recorded payment hash does not parse");
            return;
        };
        let payment_hash = hash_text;
        match splits.config.wallet.lookup_payment(&hash).await {
            Ok(OutgoingStatus::Succeeded(paid)) => self.paid(payout, payment_hash, &paid).await,
            Ok(OutgoingStatus::Failed { reason }) => {
                self.put_back(payout, Release::NotPaid { payment_hash }, &reason)
                    .await;
            }
            Ok(OutgoingStatus::Unknown) => {
                self.put_back(
                    payout,
                    Release::NotPaid { payment_hash },
                    "the wallet never paid this invoice",
                )
                .await;
            }
            Ok(_) => {
                self.put_back(payout, Release::Unknown { payment_hash }, "still in flight")
                    .await;
            }
            Err(e) => {
                self.put_back(payout, Release::Unknown { payment_hash }, &e.to_string())
                    .await;
            }
        }
    }
}

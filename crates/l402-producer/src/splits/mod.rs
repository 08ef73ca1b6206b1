//! Splits: a merchant's owner Lightning Address receives its share of each
//! settled payment, minus the operator's fee (basis points, 0 by default);
//! below the minimum payout it accrues instead.
//!
//! A payment is settled here when its preimage is first verified (it is then
//! recorded as a payment, once). Its owner is the challenge's
//! `ownerAddress` (l402kit's `POST /api/invoice`), else the merchant's
//! owner address (`POST /api/admin/merchants/{id}/owner-address`). Each
//! payment is credited once ([`l402_store::PayoutStore::credit_split`]);
//! payouts go through the store's durable queue and are paid by the
//! configured [`Wallet`] (see [`worker`] for how a payout is never paid
//! twice). `POST /api/split` with `x-split-secret` credits one by hand, as
//! l402kit's.

pub(crate) mod api;
pub mod lnurl;
pub(crate) mod worker;

use std::sync::Arc;
use std::time::Duration;

use ::l402::lightning_invoice::Currency;
use l402_lightning::Wallet;
use l402_store::{Credited, PaymentRecord, SplitCredit};
use tokio::sync::Notify;

use crate::Inner;
use lnurl::Fetcher;

/// The default minimum payout, in sats (l402kit skips splits below 10).
pub const DEFAULT_MIN_PAYOUT_SATS: u64 = 10;
/// The default bound on payouts not yet paid or failed.
pub const DEFAULT_MAX_OPEN_PAYOUTS: u32 = 10_000;
/// The default bound on owner addresses with an accrual.
pub const DEFAULT_MAX_ACCRUAL_ADDRESSES: u32 = 100_000;

/// How splits are paid ([`ProducerBuilder::splits`](crate::ProducerBuilder::splits)).
///
/// ```
/// use std::time::Duration;
/// use l402_lightning::dev::DevNode;
/// use l402_producer::SplitsConfig;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let config = SplitsConfig::new(std::sync::Arc::new(node.wallet("operator").await?))
///     .operator_fee_bps(30) // l402kit's 0.3%
///     .min_payout_sats(10)
///     .secret("a long random split secret")
///     .retry_after(Duration::from_secs(5));
/// assert_eq!(config.fee_sats(1000), 3);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct SplitsConfig {
    pub(crate) wallet: Arc<dyn Wallet>,
    pub(crate) fee_bps: u32,
    pub(crate) min_payout_sats: u64,
    pub(crate) secret_hash: Option<[u8; 32]>,
    pub(crate) network: Option<Currency>,
    pub(crate) allow_http: bool,
    pub(crate) timeout: Duration,
    pub(crate) retry_after: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) max_fee_bps: u32,
    pub(crate) max_open_payouts: u32,
    pub(crate) max_accrual_addresses: u32,
    pub(crate) poll: Duration,
    pub(crate) paying_grace: Duration,
}

impl std::fmt::Debug for SplitsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitsConfig")
            .field("wallet", &self.wallet.backend())
            .field("fee_bps", &self.fee_bps)
            .field("min_payout_sats", &self.min_payout_sats)
            .field("secret", &self.secret_hash.map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl SplitsConfig {
    /// Splits paid by `wallet` (the server's own).
    pub fn new(wallet: Arc<dyn Wallet>) -> Self {
        SplitsConfig {
            wallet,
            fee_bps: 0,
            min_payout_sats: DEFAULT_MIN_PAYOUT_SATS,
            secret_hash: None,
            network: None,
            allow_http: false,
            timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(30),
            max_attempts: 10,
            max_fee_bps: 100,
            max_open_payouts: DEFAULT_MAX_OPEN_PAYOUTS,
            max_accrual_addresses: DEFAULT_MAX_ACCRUAL_ADDRESSES,
            poll: Duration::from_secs(1),
            paying_grace: Duration::from_secs(300),
        }
    }

    /// The operator's fee in basis points of each payment (default 0; at
    /// most 10,000).
    pub fn operator_fee_bps(mut self, bps: u32) -> Self {
        self.fee_bps = bps.min(10_000);
        self
    }

    /// Below this many sats an owner's share accrues (default 10).
    pub fn min_payout_sats(mut self, sats: u64) -> Self {
        self.min_payout_sats = sats.max(1);
        self
    }

    /// The `x-split-secret` of `POST /api/split` (without one that route
    /// answers 403). Only its hash is kept; compared in constant time.
    pub fn secret(mut self, secret: impl AsRef<str>) -> Self {
        let secret = secret.as_ref();
        self.secret_hash = (!secret.is_empty()).then(|| crate::sha256(secret.as_bytes()));
        self
    }

    /// The network invoices must be for (default: any).
    pub fn network(mut self, network: Currency) -> Self {
        self.network = Some(network);
        self
    }

    /// Resolve Lightning Addresses over `http` (local tests only; default
    /// `https`).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// How long an LNURL server may take per request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long after a failed attempt a payout is tried again, doubled
    /// each attempt up to an hour (default 30 s).
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = delay.max(Duration::from_millis(100));
        self
    }

    /// Attempts without a payment before a payout is `failed` (default 10).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The highest routing fee, in basis points of the payout (default 100,
    /// at least 1 sat).
    pub fn max_fee_bps(mut self, bps: u32) -> Self {
        self.max_fee_bps = bps;
        self
    }

    /// The most payouts not yet paid or failed (default 10,000); past it
    /// shares accrue.
    pub fn max_open_payouts(mut self, n: u32) -> Self {
        self.max_open_payouts = n.max(1);
        self
    }

    /// The most owner addresses with an accrual (default 100,000).
    pub fn max_accrual_addresses(mut self, n: u32) -> Self {
        self.max_accrual_addresses = n.max(1);
        self
    }

    /// How often the queue is looked at besides when a payout is queued
    /// (default 1 s).
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// How long after its invoice is recorded a payout whose payment did not
    /// answer is first looked up (default 5 minutes: longer than any
    /// backend's payment timeout, so a payment still in flight on another
    /// instance is not mistaken for one never sent).
    pub fn paying_grace(mut self, grace: Duration) -> Self {
        self.paying_grace = grace;
        self
    }

    /// The operator's fee of a payment of `sats`, rounded down.
    pub fn fee_sats(&self, sats: u64) -> u64 {
        let fee = u128::from(sats) * u128::from(self.fee_bps) / 10_000;
        u64::try_from(fee).unwrap_or(sats)
    }
}

/// The running splits: config, fetcher, and the queue's wake-up.
pub(crate) struct Splits {
    pub(crate) config: SplitsConfig,
    pub(crate) fetcher: Fetcher,
    pub(crate) wake: Arc<Notify>,
}

impl Splits {
    pub(crate) fn new(config: SplitsConfig) -> Self {
        let fetcher = Fetcher::new(config.timeout, config.allow_http, config.network.clone());
        Splits {
            config,
            fetcher,
            wake: Arc::new(Notify::new()),
        }
    }
}

impl Inner {
    /// Credits the split of a payment of `sats` to `owner`, once per
    /// `source`; wakes the queue when a payout was queued.
    pub(crate) async fn credit(
        &self,
        source: &str,
        owner: &str,
        sats: u64,
    ) -> Result<(u64, Credited), l402_store::StoreError> {
        let Some(splits) = &self.splits else {
            return Ok((0, Credited::Duplicate));
        };
        let config = &splits.config;
        let fee = config.fee_sats(sats);
        let owner_sats = sats - fee;
        let credited = self
            .store
            .credit_split(SplitCredit {
                source,
                owner_address: owner,
                owner_sats,
                fee_sats: fee,
                min_payout_sats: config.min_payout_sats,
                max_open_payouts: config.max_open_payouts,
                max_accrual_addresses: config.max_accrual_addresses,
            })
            .await?;
        if matches!(credited, Credited::Queued { .. }) {
            splits.wake.notify_one();
        }
        if credited == Credited::Full {
            tracing::error!("splits: too many owner addresses accrue; a split was not credited");
        }
        Ok((owner_sats, credited))
    }

    /// Records a payment and credits its split (if its challenge or its
    /// merchant names an owner address) in one store transaction
    /// ([`l402_store::PayoutStore::record_split_payment`]): a crash between
    /// the two cannot lose the credit of a recorded payment or double it
    /// (credits are once per payment hash). Returns whether the payment was
    /// new. Every path that learns of a payment (verification, settlement
    /// notification, a paid route) records it here.
    pub(crate) async fn record_settled(
        &self,
        payment: &PaymentRecord,
    ) -> Result<bool, l402_store::StoreError> {
        let owner = self.split_owner(payment).await?;
        let credit = match (&self.splits, &owner) {
            (Some(splits), Some(owner)) => {
                let fee = splits.config.fee_sats(payment.amount_sats);
                Some(SplitCredit {
                    source: &payment.payment_hash,
                    owner_address: owner,
                    owner_sats: payment.amount_sats - fee,
                    fee_sats: fee,
                    min_payout_sats: splits.config.min_payout_sats,
                    max_open_payouts: splits.config.max_open_payouts,
                    max_accrual_addresses: splits.config.max_accrual_addresses,
                })
            }
            _ => None,
        };
        let (new, credited) = self.store.record_split_payment(payment, credit).await?;
        if let (Some(splits), Some(credited)) = (&self.splits, credited) {
            if matches!(credited, Credited::Queued { .. }) {
                splits.wake.notify_one();
            }
            if credited == Credited::Full {
                tracing::error!(
                    "splits: too many owner addresses accrue; a split was not credited"
                );
            }
        }
        Ok(new)
    }

    /// The owner address a payment's split goes to: the challenge's, else
    /// the merchant's; none without splits, for nothing, or when it is not
    /// a Lightning Address.
    async fn split_owner(
        &self,
        payment: &PaymentRecord,
    ) -> Result<Option<String>, l402_store::StoreError> {
        if self.splits.is_none() || payment.amount_sats == 0 {
            return Ok(None);
        }
        let owner = match self.store.challenge(&payment.payment_hash).await? {
            Some(c) if c.owner_address.is_some() => c.owner_address,
            _ => self.store.owner_address(payment.merchant_id).await?,
        };
        Ok(owner.filter(|owner| {
            let valid = owner.parse::<lnurl::LightningAddress>().is_ok();
            if !valid {
                tracing::warn!("splits: a payment's owner address is not a Lightning Address");
            }
            valid
        }))
    }
}

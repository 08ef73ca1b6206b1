//! Lightning Addresses and splits: usernames bound to merchants (LUD-16),
//! the owner address a merchant's share goes to, credits of settled
//! payments (each once), what accrues below the minimum payout, and the
//! durable payout queue.
//!
//! A payout moves `pending` → `fetching` (claimed, with a lease) →
//! `paying` (the invoice's payment hash recorded **before** the wallet is
//! called) → `paid`, or `failed` after the last attempt. Only the holder
//! of a claim can record an invoice (one conditional update), the payment
//! hash column is unique, and a `paying` payout is never handed out to be
//! paid again: it is looked up, and goes back to `pending` only when the
//! wallet proves the invoice was not paid.

use crate::db::{Store, now_secs, pool, to_i64, to_u64};
use crate::{MerchantStore, PaymentRecord, StoreError};

/// Where a payout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutState {
    /// Waiting for an invoice (first try, or after one that was not paid).
    Pending,
    /// Claimed: an invoice is being fetched and checked.
    Fetching,
    /// Its invoice is recorded and the wallet was (or is being) asked to pay.
    Paying,
    /// Paid; the preimage is recorded.
    Paid,
    /// Given up after the last attempt; nothing was paid.
    Failed,
}

impl PayoutState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutState::Pending => "pending",
            PayoutState::Fetching => "fetching",
            PayoutState::Paying => "paying",
            PayoutState::Paid => "paid",
            PayoutState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => PayoutState::Pending,
            "fetching" => PayoutState::Fetching,
            "paying" => PayoutState::Paying,
            "paid" => PayoutState::Paid,
            "failed" => PayoutState::Failed,
            other => return Err(StoreError::Corrupt(format!("payout state {other:?}"))),
        })
    }
}

/// One payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Its id (hex).
    pub id: String,
    /// The Lightning Address paid.
    pub owner_address: String,
    /// The amount, in sats.
    pub amount_sats: u64,
    /// Where it is.
    pub state: PayoutState,
    /// The invoice being (or that was) paid: its payment hash.
    pub payment_hash: Option<String>,
    /// The invoice.
    pub bolt11: Option<String>,
    /// The preimage, once paid.
    pub preimage: Option<String>,
    /// The routing fee paid, in millisatoshis.
    pub fee_msat: Option<u64>,
    /// Attempts that ended without a payment.
    pub attempts: u32,
    /// When it is next worked on (unix seconds).
    pub next_attempt_at: u64,
    /// Why the last attempt did not pay.
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
}

/// A settled payment's split, credited once per `source`.
#[derive(Debug, Clone, Copy)]
pub struct SplitCredit<'a> {
    /// What is credited: a payment hash, or a manual split's id.
    pub source: &'a str,
    /// The owner's Lightning Address.
    pub owner_address: &'a str,
    /// The owner's share, in sats.
    pub owner_sats: u64,
    /// The operator's fee, in sats (kept, not paid out).
    pub fee_sats: u64,
    /// Below this the share accrues instead of being paid.
    pub min_payout_sats: u64,
    /// The most payouts not yet paid or failed; past it the share accrues.
    pub max_open_payouts: u32,
    /// The most owner addresses with an accrual; a credit for a new one
    /// past it is refused ([`Credited::Full`]).
    pub max_accrual_addresses: u32,
}

/// What crediting a split did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credited {
    /// This source was credited before: nothing changed.
    Duplicate,
    /// Added to the owner's accrual (below the minimum, or the queue full).
    Accrued {
        /// The owner's accrual now.
        accrued_sats: u64,
    },
    /// The accrual reached the minimum: a payout of all of it is queued.
    Queued {
        /// The payout's id.
        payout_id: String,
        /// Its amount.
        amount_sats: u64,
    },
    /// Too many owner addresses accrue already; nothing was recorded.
    Full,
}

/// How a worked-on payout is put back.
#[derive(Debug, Clone, Copy)]
pub enum Release<'a> {
    /// No invoice was recorded under this claim (fetching or checking it
    /// failed): back to `pending`.
    Unfetched {
        /// The claim the worker holds.
        claim: &'a str,
    },
    /// The wallet proved this invoice was not paid: back to `pending`
    /// (a new invoice will be fetched).
    NotPaid {
        /// The recorded invoice's payment hash.
        payment_hash: &'a str,
    },
    /// The outcome is not known yet: stays `paying`, looked up again later.
    Unknown {
        /// The recorded invoice's payment hash.
        payment_hash: &'a str,
    },
}

/// Lightning Addresses, splits and payouts.
#[async_trait::async_trait]
pub trait PayoutStore: Send + Sync {
    /// Binds `username` to a merchant (a username names one merchant;
    /// binding it again moves it); [`StoreError::NotFound`] without such a
    /// merchant.
    async fn bind_username(&self, username: &str, merchant_id: i64) -> Result<(), StoreError>;
    /// The merchant a username names.
    async fn username_merchant(&self, username: &str) -> Result<Option<i64>, StoreError>;
    /// Sets (or with `None` clears) a merchant's owner address.
    async fn set_owner_address(
        &self,
        merchant_id: i64,
        address: Option<&str>,
    ) -> Result<(), StoreError>;
    /// A merchant's owner address.
    async fn owner_address(&self, merchant_id: i64) -> Result<Option<String>, StoreError>;
    /// Credits a split once per source, in one transaction, queueing a
    /// payout of the whole accrual when it reaches the minimum.
    async fn credit_split(&self, credit: SplitCredit<'_>) -> Result<Credited, StoreError>;
    /// Records a settled payment (as
    /// [`PaymentStore::record_payment`](crate::PaymentStore::record_payment))
    /// and, when given, credits its split (as [`PayoutStore::credit_split`])
    /// in ONE transaction: both are written or neither, so a crash between
    /// them can neither lose the credit of a recorded payment nor credit it
    /// twice. Returns whether the payment was new, and the credit.
    async fn record_split_payment(
        &self,
        payment: &PaymentRecord,
        credit: Option<SplitCredit<'_>>,
    ) -> Result<(bool, Option<Credited>), StoreError>;
    /// Claims the next due `pending` payout (or a `fetching` one whose lease
    /// ran out) until `now + lease_secs`; returns it and the claim.
    async fn claim_payout(
        &self,
        now: u64,
        lease_secs: u64,
    ) -> Result<Option<(Payout, String)>, StoreError>;
    /// Records the checked invoice of a claimed payout, before it is paid:
    /// `false` if the claim was lost (then it must not be paid). It is not
    /// looked up before `look_up_at` (unix seconds: the payment may be in
    /// flight, on another instance too).
    async fn record_payout_invoice(
        &self,
        id: &str,
        claim: &str,
        payment_hash: &str,
        bolt11: &str,
        look_up_at: u64,
    ) -> Result<bool, StoreError>;
    /// Marks a `paying` payout paid; `false` if it was not paying that invoice.
    async fn payout_paid(
        &self,
        id: &str,
        payment_hash: &str,
        preimage: &str,
        fee_msat: u64,
    ) -> Result<bool, StoreError>;
    /// Puts a worked-on payout back (see [`Release`]); it is worked on again
    /// from `next_attempt_at`; one that proved unpaid `max_attempts` times
    /// is `failed`.
    async fn release_payout(
        &self,
        id: &str,
        how: Release<'_>,
        error: &str,
        next_attempt_at: u64,
        max_attempts: u32,
    ) -> Result<(), StoreError>;
    /// Due `paying` payouts (outcome unknown), at most `limit`: to look up.
    async fn unresolved_payouts(&self, now: u64, limit: u32) -> Result<Vec<Payout>, StoreError>;
    /// One payout.
    async fn payout(&self, id: &str) -> Result<Option<Payout>, StoreError>;
    /// The newest payouts, at most `limit`.
    async fn payouts(&self, limit: u32) -> Result<Vec<Payout>, StoreError>;
    /// What an owner address has accrued.
    async fn accrued(&self, owner_address: &str) -> Result<u64, StoreError>;
    /// The merchants whose recorded payments a payout pays (through their
    /// split credits), lowest id first; empty for a payout of manual splits
    /// only.
    async fn payout_merchants(&self, payout_id: &str) -> Result<Vec<i64>, StoreError>;
}

const COLUMNS: &str = "id, owner_address, amount_sats, state, payment_hash, bolt11, preimage, \
     fee_msat, attempts, next_attempt_at, last_error, created_at";

type Row = (
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    i64,
);

fn payout_of(row: Row) -> Result<Payout, StoreError> {
    Ok(Payout {
        id: row.0,
        owner_address: row.1,
        amount_sats: to_u64(row.2),
        state: PayoutState::parse(&row.3)?,
        payment_hash: row.4,
        bolt11: row.5,
        preimage: row.6,
        fee_msat: row.7.map(to_u64),
        attempts: u32::try_from(row.8).unwrap_or(u32::MAX),
        next_attempt_at: to_u64(row.9),
        last_error: row.10,
        created_at: to_u64(row.11),
    })
}

fn random_hex() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Error texts are kept short.
fn short(error: &str) -> String {
    error.chars().take(500).collect()
}

const BIND_USERNAME: &str = "INSERT INTO lightning_addresses (username, merchant_id, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (username) DO UPDATE \
     SET merchant_id = excluded.merchant_id, created_at = excluded.created_at";
const SET_OWNER: &str = "INSERT INTO merchant_owner_addresses (merchant_id, owner_address, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (merchant_id) DO UPDATE \
     SET owner_address = excluded.owner_address, updated_at = excluded.updated_at";
const INSERT_CREDIT: &str = "INSERT INTO split_credits \
     (source, owner_address, owner_sats, fee_sats, created_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (source) DO NOTHING";
const ACCRUE: &str = "INSERT INTO split_accruals (owner_address, sats, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (owner_address) DO UPDATE \
     SET sats = split_accruals.sats + excluded.sats, updated_at = excluded.updated_at \
     RETURNING sats";
const OPEN_PAYOUTS: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM payouts \
     WHERE state IN ('pending', 'fetching', 'paying') LIMIT $1) AS open";
const INSERT_PAYOUT: &str = "INSERT INTO payouts (id, owner_address, amount_sats, state, claim, \
     lease_until, payment_hash, bolt11, preimage, fee_msat, attempts, next_attempt_at, last_error, \
     created_at, updated_at) \
     VALUES ($1, $2, $3, 'pending', NULL, 0, NULL, NULL, NULL, NULL, 0, $4, NULL, $4, $4)";
const CLAIM: &str = "UPDATE payouts SET state = 'fetching', claim = $1, lease_until = $2, \
     updated_at = $3 WHERE id = (SELECT id FROM payouts \
     WHERE (state = 'pending' AND next_attempt_at <= $3) \
     OR (state = 'fetching' AND lease_until <= $3) \
     ORDER BY next_attempt_at LIMIT 1) \
     AND (state = 'pending' OR (state = 'fetching' AND lease_until <= $3))";

/// Credits a split once per source on `$tx` (a transaction of either
/// database), queueing a payout of the whole accrual when it reaches the
/// minimum; evaluates to the [`Credited`]. Leaves nothing written for a
/// duplicate source or when the accrual table is full.
macro_rules! credit_in {
    ($tx:expr, $c:expr, $now:expr, $payout_id:expr) => {{
        let c: &SplitCredit<'_> = $c;
        let now: i64 = $now;
        let inserted = sqlx::query(INSERT_CREDIT)
            .bind(c.source)
            .bind(c.owner_address)
            .bind(to_i64(c.owner_sats))
            .bind(to_i64(c.fee_sats))
            .bind(now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        let full = if inserted == 0 {
            false
        } else {
            let known = sqlx::query_as::<_, (i64,)>(
                "SELECT sats FROM split_accruals WHERE owner_address = $1",
            )
            .bind(c.owner_address)
            .fetch_optional(&mut *$tx)
            .await?;
            if known.is_some() {
                false
            } else {
                let (addresses,) = sqlx::query_as::<_, (i64,)>(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM split_accruals LIMIT $1) AS a",
                )
                .bind(i64::from(c.max_accrual_addresses))
                .fetch_one(&mut *$tx)
                .await?;
                addresses >= i64::from(c.max_accrual_addresses)
            }
        };
        if inserted == 0 {
            Credited::Duplicate
        } else if full {
            // Not credited: its row goes, so a later try may credit it.
            sqlx::query("DELETE FROM split_credits WHERE source = $1")
                .bind(c.source)
                .execute(&mut *$tx)
                .await?;
            Credited::Full
        } else {
            let (accrued,) = sqlx::query_as::<_, (i64,)>(ACCRUE)
                .bind(c.owner_address)
                .bind(to_i64(c.owner_sats))
                .bind(now)
                .fetch_one(&mut *$tx)
                .await?;
            let accrued = to_u64(accrued);
            let (open,) = sqlx::query_as::<_, (i64,)>(OPEN_PAYOUTS)
                .bind(i64::from(c.max_open_payouts))
                .fetch_one(&mut *$tx)
                .await?;
            if accrued >= c.min_payout_sats.max(1) && open < i64::from(c.max_open_payouts) {
                sqlx::query(
                    "UPDATE split_accruals SET sats = sats - $2, updated_at = $3 \
                     WHERE owner_address = $1",
                )
                .bind(c.owner_address)
                .bind(to_i64(accrued))
                .bind(now)
                .execute(&mut *$tx)
                .await?;
                sqlx::query(INSERT_PAYOUT)
                    .bind(&$payout_id)
                    .bind(c.owner_address)
                    .bind(to_i64(accrued))
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
                // The payout takes the whole accrual: every credit of the
                // address not paid by an earlier payout.
                sqlx::query(
                    "UPDATE split_credits SET payout_id = $1 \
                     WHERE owner_address = $2 AND payout_id IS NULL",
                )
                .bind(&$payout_id)
                .bind(c.owner_address)
                .execute(&mut *$tx)
                .await?;
                Credited::Queued {
                    payout_id: $payout_id.clone(),
                    amount_sats: accrued,
                }
            } else {
                Credited::Accrued {
                    accrued_sats: accrued,
                }
            }
        }
    }};
}

#[async_trait::async_trait]
impl PayoutStore for Store {
    async fn bind_username(&self, username: &str, merchant_id: i64) -> Result<(), StoreError> {
        if self.merchant(merchant_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("merchant {merchant_id}")));
        }
        pool!(self, true, |pool| {
            sqlx::query(BIND_USERNAME)
                .bind(username)
                .bind(merchant_id)
                .bind(to_i64(now_secs()))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn username_merchant(&self, username: &str) -> Result<Option<i64>, StoreError> {
        let row = pool!(self, false, |pool| {
            sqlx::query_as::<_, (i64,)>(
                "SELECT merchant_id FROM lightning_addresses WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(id,)| id))
    }

    async fn set_owner_address(
        &self,
        merchant_id: i64,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        if self.merchant(merchant_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("merchant {merchant_id}")));
        }
        pool!(self, true, |pool| {
            match address {
                Some(address) => {
                    sqlx::query(SET_OWNER)
                        .bind(merchant_id)
                        .bind(address)
                        .bind(to_i64(now_secs()))
                        .execute(pool)
                        .await?;
                }
                None => {
                    sqlx::query("DELETE FROM merchant_owner_addresses WHERE merchant_id = $1")
                        .bind(merchant_id)
                        .execute(pool)
                        .await?;
                }
            }
        });
        Ok(())
    }

    async fn owner_address(&self, merchant_id: i64) -> Result<Option<String>, StoreError> {
        let row = pool!(self, false, |pool| {
            sqlx::query_as::<_, (String,)>(
                "SELECT owner_address FROM merchant_owner_addresses WHERE merchant_id = $1",
            )
            .bind(merchant_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(a,)| a))
    }

    async fn credit_split(&self, c: SplitCredit<'_>) -> Result<Credited, StoreError> {
        let now = to_i64(now_secs());
        let payout_id = random_hex()?;
        let credited = pool!(self, true, |pool| {
            let mut tx = pool.begin().await?;
            let credited = credit_in!(tx, &c, now, payout_id);
            tx.commit().await?;
            credited
        });
        Ok(credited)
    }

    async fn record_split_payment(
        &self,
        payment: &PaymentRecord,
        credit: Option<SplitCredit<'_>>,
    ) -> Result<(bool, Option<Credited>), StoreError> {
        let now = to_i64(now_secs());
        let payout_id = random_hex()?;
        let done = pool!(self, true, |pool| {
            let mut tx = pool.begin().await?;
            let recorded = crate::db::insert_payment!(tx, payment) > 0;
            let credited = match &credit {
                Some(c) => Some(credit_in!(tx, c, now, payout_id)),
                None => None,
            };
            // Both or neither: an error above drops `tx`, rolling back.
            tx.commit().await?;
            (recorded, credited)
        });
        Ok(done)
    }

    async fn claim_payout(
        &self,
        now: u64,
        lease_secs: u64,
    ) -> Result<Option<(Payout, String)>, StoreError> {
        let claim = random_hex()?;
        let row = pool!(self, true, |pool| {
            let done = sqlx::query(CLAIM)
                .bind(&claim)
                .bind(to_i64(now.saturating_add(lease_secs)))
                .bind(to_i64(now))
                .execute(pool)
                .await?
                .rows_affected();
            if done == 0 {
                None
            } else {
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM payouts WHERE claim = $1 AND state = 'fetching'"
                )))
                .bind(&claim)
                .fetch_optional(pool)
                .await?
            }
        });
        row.map(|r| payout_of(r).map(|p| (p, claim))).transpose()
    }

    async fn record_payout_invoice(
        &self,
        id: &str,
        claim: &str,
        payment_hash: &str,
        bolt11: &str,
        look_up_at: u64,
    ) -> Result<bool, StoreError> {
        let done = pool!(self, true, |pool| {
            sqlx::query(
                "UPDATE payouts SET state = 'paying', payment_hash = $3, bolt11 = $4, \
                 updated_at = $5, next_attempt_at = $6 \
                 WHERE id = $1 AND claim = $2 AND state = 'fetching'",
            )
            .bind(id)
            .bind(claim)
            .bind(payment_hash)
            .bind(bolt11)
            .bind(to_i64(now_secs()))
            .bind(to_i64(look_up_at))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    async fn payout_paid(
        &self,
        id: &str,
        payment_hash: &str,
        preimage: &str,
        fee_msat: u64,
    ) -> Result<bool, StoreError> {
        let done = pool!(self, true, |pool| {
            sqlx::query(
                "UPDATE payouts SET state = 'paid', preimage = $3, fee_msat = $4, \
                 last_error = NULL, updated_at = $5 \
                 WHERE id = $1 AND payment_hash = $2 AND state = 'paying'",
            )
            .bind(id)
            .bind(payment_hash)
            .bind(preimage)
            .bind(to_i64(fee_msat))
            .bind(to_i64(now_secs()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    async fn release_payout(
        &self,
        id: &str,
        how: Release<'_>,
        error: &str,
        next_attempt_at: u64,
        max_attempts: u32,
    ) -> Result<(), StoreError> {
        let (sql, key) = match how {
            Release::Unfetched { claim } => (
                "UPDATE payouts SET state = CASE WHEN attempts + 1 >= $5 THEN 'failed' \
                 ELSE 'pending' END, attempts = attempts + 1, claim = NULL, \
                 next_attempt_at = $3, last_error = $4, updated_at = $6 \
                 WHERE id = $1 AND claim = $2 AND state = 'fetching'",
                claim,
            ),
            Release::NotPaid { payment_hash } => (
                "UPDATE payouts SET state = CASE WHEN attempts + 1 >= $5 THEN 'failed' \
                 ELSE 'pending' END, attempts = attempts + 1, claim = NULL, \
                 payment_hash = NULL, bolt11 = NULL, \
                 next_attempt_at = $3, last_error = $4, updated_at = $6 \
                 WHERE id = $1 AND payment_hash = $2 AND state = 'paying'",
                payment_hash,
            ),
            Release::Unknown { payment_hash } => (
                "UPDATE payouts SET next_attempt_at = $3, last_error = $4, updated_at = $6 \
                 WHERE id = $1 AND payment_hash = $2 AND state = 'paying' AND $5 >= 0",
                payment_hash,
            ),
        };
        pool!(self, true, |pool| {
            sqlx::query(sql)
                .bind(id)
                .bind(key)
                .bind(to_i64(next_attempt_at))
                .bind(short(error))
                .bind(i64::from(max_attempts))
                .bind(to_i64(now_secs()))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn unresolved_payouts(&self, now: u64, limit: u32) -> Result<Vec<Payout>, StoreError> {
        let rows = pool!(self, false, |pool| {
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM payouts WHERE state = 'paying' AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at LIMIT $2"
            )))
            .bind(to_i64(now))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(payout_of).collect()
    }

    async fn payout(&self, id: &str) -> Result<Option<Payout>, StoreError> {
        let row = pool!(self, false, |pool| {
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM payouts WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(payout_of).transpose()
    }

    async fn payouts(&self, limit: u32) -> Result<Vec<Payout>, StoreError> {
        let rows = pool!(self, false, |pool| {
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM payouts ORDER BY created_at DESC, id LIMIT $1"
            )))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(payout_of).collect()
    }

    async fn accrued(&self, owner_address: &str) -> Result<u64, StoreError> {
        let row = pool!(self, false, |pool| {
            sqlx::query_as::<_, (i64,)>("SELECT sats FROM split_accruals WHERE owner_address = $1")
                .bind(owner_address)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map_or(0, |(s,)| to_u64(s)))
    }

    async fn payout_merchants(&self, payout_id: &str) -> Result<Vec<i64>, StoreError> {
        let rows = pool!(self, false, |pool| {
            sqlx::query_as::<_, (i64,)>(
                "SELECT DISTINCT p.merchant_id FROM split_credits c \
                 JOIN payments p ON p.payment_hash = c.source \
                 WHERE c.payout_id = $1 ORDER BY p.merchant_id",
            )
            .bind(payout_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

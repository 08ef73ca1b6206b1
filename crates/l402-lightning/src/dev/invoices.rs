//! Issuing invoices: signing them with the node key, and storing them with
//! group commit; reading them back.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bitcoin::hashes::{Hash, sha256};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use sqlx::Row;
use tokio::sync::oneshot;

use super::fault::DevFault;
use super::keys::random32;
use super::{BACKEND, Db, DevNode, MAX_MEMO_BYTES, storage};
use crate::{BackendError, InvoiceRequest, InvoiceStatus, PaymentHash, Preimage, ReceiveError};

impl DevNode {
    pub(super) async fn create_invoice_for(
        &self,
        wallet_id: &str,
        request: &InvoiceRequest,
    ) -> Result<InvoiceRecord, ReceiveError> {
        let invalid = |reason: String| ReceiveError::InvalidRequest {
            backend: BACKEND,
            reason,
        };
        if request.amount_msat == 0 {
            return Err(invalid("amount must be positive".into()));
        }
        if request.amount_msat > i64::MAX as u64 {
            return Err(invalid("amount too large".into()));
        }
        if request.memo.len() > MAX_MEMO_BYTES {
            return Err(invalid(format!(
                "memo is {} bytes; BOLT11 allows at most {MAX_MEMO_BYTES}",
                request.memo.len()
            )));
        }
        if request.expiry < Duration::from_secs(1) || request.expiry.as_secs() > u32::MAX as u64 {
            return Err(invalid(
                "expiry must be between 1 second and 136 years".into(),
            ));
        }
        let preimage = Preimage::from(random32()?);
        let payment_hash = preimage.payment_hash();
        let secret = PaymentSecret(random32()?);
        let now = std::time::SystemTime::now();
        let created = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        // Whole seconds, as BOLT11 timestamps are.
        let created = Duration::from_secs(created.as_secs());
        let inner = &*self.inner;
        let builder = InvoiceBuilder::new(Currency::Regtest);
        let builder = match request.description_hash {
            Some(hash) => builder.description_hash(sha256::Hash::from_byte_array(hash)),
            None => builder.description(request.memo.clone()),
        };
        let bolt11 = builder
            .payment_hash(sha256::Hash::from_byte_array(payment_hash.0))
            .payment_secret(secret)
            .duration_since_epoch(created)
            .min_final_cltv_expiry_delta(18)
            .amount_milli_satoshis(request.amount_msat)
            .expiry_time(request.expiry)
            .build_signed(|msg| inner.secp.sign_ecdsa_recoverable(msg, &inner.key))
            .map_err(|e| invalid(e.to_string()))?
            .to_string();
        let created_secs = created.as_secs();
        let expires_secs = created_secs.saturating_add(request.expiry.as_secs());
        // Returns only once the invoice is committed: it survives a restart.
        inner
            .invoices
            .insert(NewInvoice {
                payment_hash: payment_hash.to_string(),
                wallet_id: wallet_id.to_string(),
                bolt11: bolt11.clone(),
                preimage: preimage.to_hex(),
                amount_msat: request.amount_msat as i64,
                memo: request.memo.clone(),
                created_at: created_secs as i64,
                expires_at: expires_secs as i64,
            })
            .await?;
        Ok(InvoiceRecord {
            payment_hash,
            wallet_id: wallet_id.to_string(),
            bolt11,
            preimage,
            amount_msat: request.amount_msat,
            memo: request.memo.clone(),
            created_at: created_secs,
            expires_at: expires_secs,
            paid_at: None,
            settles_at_ms: None,
        })
    }

    /// The stored record of an invoice, optionally restricted to one wallet.
    pub(crate) async fn invoice_record(
        &self,
        payment_hash: &PaymentHash,
        wallet_id: Option<&str>,
    ) -> Result<Option<InvoiceRecord>, BackendError> {
        let row = self.inner.db.read_optional(sqlx::query(
            "SELECT wallet_id, bolt11, preimage, amount_msat, memo, created_at, expires_at, \
             paid_at, settles_at_ms FROM invoices WHERE payment_hash = ?1 AND (?2 IS NULL OR wallet_id = ?2)",
        )
        .bind(payment_hash.to_string())
        .bind(wallet_id)).await?;
        let Some(row) = row else { return Ok(None) };
        let preimage: String = row.try_get("preimage").map_err(storage)?;
        let preimage = Preimage::from_str(&preimage).map_err(|e| BackendError::Storage {
            backend: BACKEND,
            reason: format!("stored preimage: {e}"),
        })?;
        Ok(Some(InvoiceRecord {
            payment_hash: *payment_hash,
            wallet_id: row.try_get("wallet_id").map_err(storage)?,
            bolt11: row.try_get("bolt11").map_err(storage)?,
            preimage,
            amount_msat: row.try_get::<i64, _>("amount_msat").map_err(storage)? as u64,
            memo: row.try_get("memo").map_err(storage)?,
            created_at: row.try_get::<i64, _>("created_at").map_err(storage)? as u64,
            expires_at: row.try_get::<i64, _>("expires_at").map_err(storage)? as u64,
            paid_at: row
                .try_get::<Option<i64>, _>("paid_at")
                .map_err(storage)?
                .map(|t| t as u64),
            settles_at_ms: row
                .try_get::<Option<i64>, _>("settles_at_ms")
                .map_err(storage)?
                .map(|t| t as u64),
        }))
    }
}

/// The most invoices inserted by one statement.
const MAX_BATCH: usize = 128;

/// A row for the `invoices` table.
struct NewInvoice {
    payment_hash: String,
    wallet_id: String,
    bolt11: String,
    preimage: String,
    amount_msat: i64,
    memo: String,
    created_at: i64,
    expires_at: i64,
}

type Waiter = oneshot::Sender<Result<(), BackendError>>;

/// Leader-based group commit for invoice inserts.
///
/// A creator queues its row; if no insert is in flight it becomes the leader
/// and inserts everything queued (its own row included) in one multi-row
/// `INSERT`, repeating until the queue is empty, and tells each waiter. An
/// uncontended insert thus costs one round trip to SQLite's worker thread, and
/// concurrent creators share round trips and commits.
pub(super) struct GroupCommit {
    db: Arc<Db>,
    state: Arc<std::sync::Mutex<GroupState>>,
}

#[derive(Default)]
struct GroupState {
    queue: Vec<(NewInvoice, Waiter)>,
    leading: bool,
}

fn stopped() -> BackendError {
    BackendError::Storage {
        backend: BACKEND,
        reason: "the invoice insert was abandoned".into(),
    }
}

impl GroupCommit {
    pub(super) fn new(db: Arc<Db>) -> Self {
        GroupCommit {
            db,
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        // A panic while holding this lock leaves only a plain queue behind.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn insert(&self, row: NewInvoice) -> Result<(), BackendError> {
        let (done, stored) = oneshot::channel();
        let lead = {
            let mut state = self.lock();
            state.queue.push((row, done));
            !std::mem::replace(&mut state.leading, true)
        };
        if lead {
            let mut guard = LeaderGuard {
                group: self,
                finished: false,
            };
            loop {
                let batch: Vec<(NewInvoice, Waiter)> = {
                    let mut state = self.lock();
                    if state.queue.is_empty() {
                        state.leading = false;
                        break;
                    }
                    let n = state.queue.len().min(MAX_BATCH);
                    state.queue.drain(..n).collect()
                };
                let (rows, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match insert_invoices(&self.db, &rows).await {
                    Ok(()) => {
                        for waiter in waiters {
                            let _ = waiter.send(Ok(()));
                        }
                    }
                    Err(_) if rows.len() > 1 => {
                        // One at a time, so one bad row does not fail the others.
                        for (row, waiter) in rows.iter().zip(waiters) {
                            let result = insert_invoices(&self.db, std::slice::from_ref(row)).await;
                            let _ = waiter.send(result);
                        }
                    }
                    Err(e) => {
                        for waiter in waiters {
                            let _ = waiter.send(Err(e.clone()));
                        }
                    }
                }
            }
            guard.finished = true;
        }
        stored.await.map_err(|_| stopped())?
    }
}

/// If a leader is cancelled mid-batch, hands the queue to a new leader task so
/// followers are not left waiting (or fails them if there is no runtime).
struct LeaderGuard<'a> {
    group: &'a GroupCommit,
    finished: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let queued = {
            let mut state = self.group.lock();
            state.leading = false;
            std::mem::take(&mut state.queue)
        };
        if queued.is_empty() {
            return;
        }
        let group = GroupCommit {
            db: self.group.db.clone(),
            state: self.group.state.clone(),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    for (row, waiter) in queued {
                        let _ = waiter.send(group.insert(row).await);
                    }
                });
            }
            // Dropping the waiters tells their creators the insert was abandoned.
            Err(_) => drop(queued),
        }
    }
}

async fn insert_invoices(db: &Db, batch: &[NewInvoice]) -> Result<(), BackendError> {
    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO invoices (payment_hash, wallet_id, bolt11, preimage, amount_msat, memo, \
         created_at, expires_at) ",
    );
    query.push_values(batch, |mut row, p| {
        row.push_bind(&p.payment_hash)
            .push_bind(&p.wallet_id)
            .push_bind(&p.bolt11)
            .push_bind(&p.preimage)
            .push_bind(p.amount_msat)
            .push_bind(&p.memo)
            .push_bind(p.created_at)
            .push_bind(p.expires_at);
    });
    db.execute(query.build()).await?;
    Ok(())
}

/// An invoice as the ledger stores it.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "dev-http"), allow(dead_code))]
pub(crate) struct InvoiceRecord {
    pub(crate) payment_hash: PaymentHash,
    pub(crate) wallet_id: String,
    pub(crate) bolt11: String,
    pub(crate) preimage: Preimage,
    pub(crate) amount_msat: u64,
    pub(crate) memo: String,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) paid_at: Option<u64>,
    /// When a payment held pending by [`DevFault::Pending`] settles (unix ms).
    pub(crate) settles_at_ms: Option<u64>,
}

impl InvoiceRecord {
    /// The fault its description injects, if any.
    pub(crate) fn fault(&self) -> Option<DevFault> {
        DevFault::from_memo(&self.memo)
    }

    /// Paid, and not held pending by an injected fault any more.
    pub(crate) fn is_settled(&self) -> bool {
        self.paid_at.is_some()
            && self
                .settles_at_ms
                .is_none_or(|t| l402::time::unix_millis() >= t)
    }

    pub(crate) fn status(&self, now: u64) -> InvoiceStatus {
        if self.is_settled() {
            InvoiceStatus::Paid {
                preimage: self.preimage.clone(),
            }
        } else if self.paid_at.is_some() {
            // Paid, but held pending by an injected fault.
            InvoiceStatus::Pending
        } else if now >= self.expires_at {
            InvoiceStatus::Expired
        } else {
            InvoiceStatus::Pending
        }
    }
}

//! Balances and payments: the faucet, and paying an invoice (the one place
//! money moves).

use std::str::FromStr;

use sqlx::Row;

use super::fault::DevFault;
use super::{BACKEND, Db, DevNode, InvoiceRecord, storage};
use crate::invoice::{precheck, verify_preimage};
use crate::{BackendError, PayError, PayRequest, Payment, PaymentHash, Preimage, unix_now};

impl DevNode {
    /// An outgoing payment made by `wallet_id`.
    pub(crate) async fn payment_record(
        &self,
        payment_hash: &PaymentHash,
        wallet_id: Option<&str>,
    ) -> Result<Option<(String, InvoiceRecord)>, BackendError> {
        let row = self.inner.db.read_optional(sqlx::query(
            "SELECT wallet_id FROM payments WHERE payment_hash = ?1 AND (?2 IS NULL OR wallet_id = ?2)",
        )
        .bind(payment_hash.to_string())
        .bind(wallet_id)).await?;
        let Some(row) = row else { return Ok(None) };
        let payer: String = row.try_get("wallet_id").map_err(storage)?;
        Ok(self
            .invoice_record(payment_hash, None)
            .await?
            .map(|inv| (payer, inv)))
    }

    /// Why `wallet_id`'s latest payment of this invoice failed, if it did
    /// (an injected [`DevFault::Failed`]).
    pub(crate) async fn failed_payment(
        &self,
        payment_hash: &PaymentHash,
        wallet_id: &str,
    ) -> Result<Option<String>, BackendError> {
        let row = self
            .inner
            .db
            .read_optional(
                sqlx::query(
                    "SELECT reason FROM failed_payments WHERE payment_hash = ?1 AND wallet_id = ?2",
                )
                .bind(payment_hash.to_string())
                .bind(wallet_id),
            )
            .await?;
        row.map(|row| row.try_get("reason").map_err(storage))
            .transpose()
    }

    /// The fee recorded for an outgoing payment (0 if none).
    pub(super) async fn payment_fee(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<u64, BackendError> {
        let row = self
            .inner
            .db
            .read_optional(
                sqlx::query("SELECT fee_msat FROM payments WHERE payment_hash = ?1")
                    .bind(payment_hash.to_string()),
            )
            .await?;
        let fee: Option<i64> = match row {
            Some(row) => Some(row.try_get("fee_msat").map_err(storage)?),
            None => None,
        };
        Ok(fee.map_or(0, |f| u64::try_from(f).unwrap_or(0)))
    }

    pub(super) async fn balance_of(&self, wallet_id: &str) -> Result<u64, BackendError> {
        let row = self
            .inner
            .db
            .read_optional(
                sqlx::query("SELECT balance_msat FROM wallets WHERE id = ?1").bind(wallet_id),
            )
            .await?;
        match row {
            Some(row) => Ok(row.try_get::<i64, _>("balance_msat").map_err(storage)? as u64),
            None => Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: "wallet not found".into(),
            }),
        }
    }

    pub(super) async fn credit(
        &self,
        wallet_id: &str,
        amount_msat: u64,
    ) -> Result<u64, BackendError> {
        let amount = i64::try_from(amount_msat).map_err(|_| BackendError::Rejected {
            backend: BACKEND,
            status: 0,
            detail: "amount too large".into(),
        })?;
        let row = self.inner.db.write_optional(sqlx::query(
            "UPDATE wallets SET balance_msat = balance_msat + ?1 WHERE id = ?2 RETURNING balance_msat",
        )
        .bind(amount)
        .bind(wallet_id)).await?;
        match row {
            Some(row) => Ok(row.try_get::<i64, _>("balance_msat").map_err(storage)? as u64),
            None => Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: "wallet not found".into(),
            }),
        }
    }

    /// Pays `bolt11` from `payer_id`: the one place money moves.
    pub(crate) async fn pay_from(
        &self,
        payer_id: &str,
        request: &PayRequest,
    ) -> Result<(Payment, InvoiceRecord), PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let unknown = |reason: &str| PayError::UnknownInvoice {
            backend: BACKEND,
            payment_hash: hash,
            reason: reason.to_string(),
        };
        if decoded.payee != self.inner.pubkey.to_string() {
            return Err(unknown(
                "not issued by this dev node (it only settles its own invoices)",
            ));
        }
        let now = unix_now() as i64;
        // Everything up to the commit runs in one transaction that an error
        // rolls back: the ledger then knows that nothing was paid.
        let db = |e: sqlx::Error| PayError::Failed {
            backend: BACKEND,
            reason: format!("ledger error, nothing was paid: {e}"),
        };
        let mut conn = self.inner.db.writer().await.map_err(|e| PayError::Failed {
            backend: BACKEND,
            reason: format!("ledger unavailable, nothing was paid: {e}"),
        })?;
        let mut tx = Db::begin_immediate(&mut conn).await.map_err(db)?;
        let settled = sqlx::query(
            "UPDATE invoices SET paid_at = ?1, paid_by = ?2 \
             WHERE payment_hash = ?3 AND paid_at IS NULL AND expires_at > ?1 \
             RETURNING wallet_id, bolt11, preimage, amount_msat, memo, created_at, expires_at",
        )
        .bind(now)
        .bind(payer_id)
        .bind(hash.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = settled else {
            let why = sqlx::query("SELECT paid_at FROM invoices WHERE payment_hash = ?1")
                .bind(hash.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            tx.rollback().await.map_err(db)?;
            return Err(match why {
                None => unknown("no such invoice on this dev node"),
                Some(row) => match row.try_get::<Option<i64>, _>("paid_at").map_err(db)? {
                    Some(_) => PayError::AlreadyPaid {
                        backend: BACKEND,
                        payment_hash: hash,
                    },
                    None => PayError::Expired {
                        backend: BACKEND,
                        payment_hash: hash,
                    },
                },
            });
        };
        let memo: String = row.try_get("memo").map_err(db)?;
        let fault = DevFault::from_memo(&memo);
        if fault == Some(DevFault::Failed) {
            tx.rollback().await.map_err(db)?;
            let reason = "payment failed (injected by the dev node: DevFault::Failed)".to_string();
            sqlx::query(
                "INSERT OR REPLACE INTO failed_payments (payment_hash, wallet_id, reason, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(hash.to_string())
            .bind(payer_id)
            .bind(&reason)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            return Err(PayError::Failed {
                backend: BACKEND,
                reason,
            });
        }
        let settles_at_ms = match fault {
            Some(DevFault::Pending { for_ }) => {
                let at = l402::time::unix_millis()
                    .saturating_add(u64::try_from(for_.as_millis()).unwrap_or(u64::MAX));
                sqlx::query("UPDATE invoices SET settles_at_ms = ?1 WHERE payment_hash = ?2")
                    .bind(i64::try_from(at).unwrap_or(i64::MAX))
                    .bind(hash.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                Some(at)
            }
            _ => None,
        };
        let payee: String = row.try_get("wallet_id").map_err(db)?;
        let stored_bolt11: String = row.try_get("bolt11").map_err(db)?;
        let stored_amount = row.try_get::<i64, _>("amount_msat").map_err(db)?;
        let preimage: String = row.try_get("preimage").map_err(db)?;
        let created_at = row.try_get::<i64, _>("created_at").map_err(db)? as u64;
        let expires_at = row.try_get::<i64, _>("expires_at").map_err(db)? as u64;
        if !stored_bolt11.eq_ignore_ascii_case(request.bolt11.trim())
            || stored_amount as u64 != amount_msat
        {
            tx.rollback().await.map_err(db)?;
            return Err(PayError::InvalidInvoice {
                backend: BACKEND,
                reason: "does not match the invoice this node issued for that payment hash".into(),
            });
        }
        let debited = sqlx::query(
            "UPDATE wallets SET balance_msat = balance_msat - ?1 \
             WHERE id = ?2 AND balance_msat >= ?1",
        )
        .bind(stored_amount)
        .bind(payer_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if debited.rows_affected() != 1 {
            tx.rollback().await.map_err(db)?;
            return Err(PayError::InsufficientBalance {
                backend: BACKEND,
                amount_msat,
            });
        }
        sqlx::query("UPDATE wallets SET balance_msat = balance_msat + ?1 WHERE id = ?2")
            .bind(stored_amount)
            .bind(&payee)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO payments (payment_hash, wallet_id, amount_msat, fee_msat, created_at) \
             VALUES (?1, ?2, ?3, 0, ?4)",
        )
        .bind(hash.to_string())
        .bind(payer_id)
        .bind(stored_amount)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // A failed commit may or may not have reached the disk: unknown.
        tx.commit()
            .await
            .map_err(|e| PayError::Backend(storage(e)))?;
        drop(conn);
        self.settled(&payee, hash, amount_msat, settles_at_ms);
        if let Some(DevFault::Slow { by }) = fault {
            tokio::time::sleep(by).await;
        }

        let preimage = Preimage::from_str(&preimage).map_err(|e| {
            PayError::Backend(BackendError::Storage {
                backend: BACKEND,
                reason: format!("stored preimage: {e}"),
            })
        })?;
        verify_preimage(BACKEND, &hash, &preimage)?;
        let payment = Payment {
            payment_hash: hash,
            preimage: preimage.clone(),
            amount_msat,
            fee_msat: 0,
        };
        let record = InvoiceRecord {
            payment_hash: hash,
            wallet_id: payee,
            bolt11: stored_bolt11,
            preimage,
            amount_msat,
            memo,
            created_at,
            expires_at,
            paid_at: Some(now as u64),
            settles_at_ms,
        };
        Ok((payment, record))
    }
}

//! Wallets: creating and finding them (by name or API key), and
//! [`DevWallet`], which implements [`Receiver`] and [`Wallet`] in process.

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use sqlx::Row;

use super::fault::{DevFault, wrong_preimage};
use super::keys::random_bytes;
use super::{BACKEND, DevNode, DevNodeError, storage};
use crate::invoice::verify_preimage;
use crate::{
    Backend, BackendError, Invoice, InvoiceRequest, InvoiceStatus, NodeInfo, OutgoingStatus,
    PayError, PayRequest, Payment, PaymentHash, ReceiveError, Receiver, Wallet, unix_now,
};

/// A wallet's identity and keys, as cached for the HTTP API.
#[derive(Clone)]
#[cfg_attr(not(feature = "dev-http"), allow(dead_code))]
pub(super) struct WalletKeys {
    id: String,
    name: String,
    invoice_key: String,
    admin_key: String,
}

/// The kind of key presented to the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "dev-http"), allow(dead_code))]
pub(crate) enum KeyKind {
    Invoice,
    Admin,
}

impl DevNode {
    /// The wallet named `name`, created (with fresh keys and zero balance) if
    /// there is none. With several of that name, the oldest.
    ///
    /// # Errors
    /// [`DevNodeError`] if the ledger fails.
    pub async fn wallet(&self, name: &str) -> Result<DevWallet, DevNodeError> {
        if let Some(wallet) = self.oldest_wallet(name).await? {
            return Ok(wallet);
        }
        let created = self.create_wallet(name).await?;
        // Two callers racing to create the same name both get the oldest.
        Ok(self.oldest_wallet(name).await?.unwrap_or(created))
    }

    async fn oldest_wallet(&self, name: &str) -> Result<Option<DevWallet>, BackendError> {
        let row = self
            .inner
            .db
            .write_optional(
                sqlx::query(
                    "SELECT id, name, invoice_key, admin_key FROM wallets WHERE name = ?1 \
             ORDER BY created_at, rowid LIMIT 1",
                )
                .bind(name),
            )
            .await?;
        row.map(|row| self.wallet_from_row(&row)).transpose()
    }

    /// Creates a new wallet with fresh keys and zero balance, even if one of
    /// that name exists.
    ///
    /// # Errors
    /// [`DevNodeError`] if the ledger fails.
    pub async fn create_wallet(&self, name: &str) -> Result<DevWallet, DevNodeError> {
        let id = hex::encode(&random_bytes()?[..16]);
        let invoice_key = hex::encode(&random_bytes()?[..16]);
        let admin_key = hex::encode(&random_bytes()?[..16]);
        self.inner.db.execute(sqlx::query(
            "INSERT INTO wallets (id, name, invoice_key, admin_key, balance_msat, created_at) \
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        )
        .bind(&id)
        .bind(name)
        .bind(&invoice_key)
        .bind(&admin_key)
        .bind(unix_now() as i64)).await?;
        Ok(DevWallet {
            node: self.clone(),
            id,
            name: name.to_string(),
            invoice_key,
            admin_key,
        })
    }

    /// The wallet whose invoice or admin key is `key`, and which key it was.
    #[cfg_attr(not(feature = "dev-http"), allow(dead_code))]
    pub(crate) async fn wallet_by_key(
        &self,
        key: &str,
    ) -> Result<Option<(DevWallet, KeyKind)>, BackendError> {
        // Keys never change and wallets are never deleted: cache hits.
        let cached = self
            .inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned();
        if let Some(wallet) = cached {
            let kind = if wallet.admin_key == key {
                KeyKind::Admin
            } else {
                KeyKind::Invoice
            };
            return Ok(Some((self.wallet_from_keys(wallet), kind)));
        }
        let row = self
            .inner
            .db
            .read_optional(
                sqlx::query(
                    "SELECT id, name, invoice_key, admin_key FROM wallets \
             WHERE invoice_key = ?1 OR admin_key = ?1",
                )
                .bind(key),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let wallet = self.wallet_from_row(&row)?;
        self.remember(&wallet);
        let kind = if wallet.admin_key == key {
            KeyKind::Admin
        } else {
            KeyKind::Invoice
        };
        Ok(Some((wallet, kind)))
    }

    #[cfg_attr(not(feature = "dev-http"), allow(dead_code))]
    fn remember(&self, wallet: &DevWallet) {
        let keys = WalletKeys {
            id: wallet.id.clone(),
            name: wallet.name.clone(),
            invoice_key: wallet.invoice_key.clone(),
            admin_key: wallet.admin_key.clone(),
        };
        let mut cache = self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(keys.invoice_key.clone(), keys.clone());
        cache.insert(keys.admin_key.clone(), keys);
    }

    #[cfg_attr(not(feature = "dev-http"), allow(dead_code))]
    fn wallet_from_keys(&self, keys: WalletKeys) -> DevWallet {
        DevWallet {
            node: self.clone(),
            id: keys.id,
            name: keys.name,
            invoice_key: keys.invoice_key,
            admin_key: keys.admin_key,
        }
    }

    fn wallet_from_row(&self, row: &sqlx::sqlite::SqliteRow) -> Result<DevWallet, BackendError> {
        Ok(DevWallet {
            node: self.clone(),
            id: row.try_get("id").map_err(storage)?,
            name: row.try_get("name").map_err(storage)?,
            invoice_key: row.try_get("invoice_key").map_err(storage)?,
            admin_key: row.try_get("admin_key").map_err(storage)?,
        })
    }
}

/// A wallet on the [`DevNode`]: receives ([`Receiver`]) and pays ([`Wallet`])
/// in process. Cheap to clone. Its keys work with the HTTP API.
#[derive(Clone)]
pub struct DevWallet {
    pub(super) node: DevNode,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) invoice_key: String,
    pub(super) admin_key: String,
}

impl fmt::Debug for DevWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevWallet")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("invoice_key", &"..")
            .field("admin_key", &"..")
            .finish()
    }
}

impl DevWallet {
    /// The wallet id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The wallet name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The invoice (read/receive) key, for `X-Api-Key`.
    pub fn invoice_key(&self) -> &str {
        &self.invoice_key
    }

    /// The admin (spend) key, for `X-Api-Key`.
    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// The node this wallet lives on.
    pub fn node(&self) -> &DevNode {
        &self.node
    }

    /// Dev-only faucet: adds `sats` of fake money; returns the new balance in msat.
    ///
    /// # Errors
    /// [`BackendError`] if the ledger fails.
    pub async fn credit_sats(&self, sats: u64) -> Result<u64, BackendError> {
        self.credit_msat(sats.saturating_mul(1000)).await
    }

    /// Dev-only faucet, in millisatoshis; returns the new balance in msat.
    ///
    /// # Errors
    /// [`BackendError`] if the ledger fails.
    pub async fn credit_msat(&self, msat: u64) -> Result<u64, BackendError> {
        self.node.credit(&self.id, msat).await
    }
}

#[async_trait::async_trait]
impl Receiver for DevWallet {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        let record = self.node.create_invoice_for(&self.id, request).await?;
        Ok(Invoice {
            bolt11: record.bolt11,
            payment_hash: record.payment_hash,
            amount_msat: record.amount_msat,
            expires_at: UNIX_EPOCH + Duration::from_secs(record.expires_at),
        })
    }

    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        match self
            .node
            .invoice_record(payment_hash, Some(&self.id))
            .await?
        {
            Some(record) => Ok(record.status(unix_now())),
            None => Err(ReceiveError::UnknownInvoice {
                backend: BACKEND,
                payment_hash: *payment_hash,
            }),
        }
    }

    fn settlements(&self) -> Option<&dyn crate::Settlements> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl Wallet for DevWallet {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// The dev node charges no fee, so every cap holds.
    fn enforces_max_fee(&self) -> bool {
        true
    }

    /// Pays at once, or meets the invoice's injected [`DevFault`].
    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let (payment, record) = self.node.pay_from(&self.id, request).await?;
        let payment_hash = payment.payment_hash;
        match record.fault() {
            Some(DevFault::Pending { .. }) => Err(PayError::Pending {
                backend: BACKEND,
                payment_hash,
                last_error: None,
            }),
            Some(DevFault::NoPreimage) => Err(PayError::Backend(BackendError::BadResponse {
                backend: BACKEND,
                reason: "paid, but the answer has no preimage (injected fault)".into(),
            })),
            Some(DevFault::WrongPreimage) => {
                verify_preimage(BACKEND, &payment_hash, &wrong_preimage(&payment.preimage))?;
                Ok(payment)
            }
            _ => Ok(payment),
        }
    }

    /// A payment is [`OutgoingStatus::Succeeded`] once settled,
    /// [`OutgoingStatus::Pending`] while an injected [`DevFault::Pending`]
    /// holds it, [`OutgoingStatus::Failed`] after an injected
    /// [`DevFault::Failed`], and [`OutgoingStatus::Unknown`] if this wallet
    /// never paid it.
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let Some((_, record)) = self
            .node
            .payment_record(payment_hash, Some(&self.id))
            .await?
        else {
            return Ok(
                match self.node.failed_payment(payment_hash, &self.id).await? {
                    Some(reason) => OutgoingStatus::Failed { reason },
                    None => OutgoingStatus::Unknown,
                },
            );
        };
        if !record.is_settled() {
            return Ok(OutgoingStatus::Pending);
        }
        if record.fault() == Some(DevFault::WrongPreimage) {
            verify_preimage(BACKEND, payment_hash, &wrong_preimage(&record.preimage))?;
        }
        verify_preimage(BACKEND, payment_hash, &record.preimage)?;
        let fee_msat = self.node.payment_fee(payment_hash).await?;
        Ok(OutgoingStatus::Succeeded(Payment {
            payment_hash: *payment_hash,
            preimage: record.preimage,
            amount_msat: record.amount_msat,
            fee_msat,
        }))
    }

    async fn balance_msat(&self) -> Result<u64, BackendError> {
        self.node.balance_of(&self.id).await
    }

    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        Ok(self.node.node_info())
    }
}

//! [`Wallet`] over NIP-47: `pay_invoice`, `lookup_invoice` (outgoing),
//! `get_balance`, `get_info`. See the [module docs](super#did-money-move).

use serde::Deserialize;
use serde_json::json;

use super::rpc::CallError;
use super::{BACKEND, NwcClient, Transaction, bad, parse};
use crate::invoice::{precheck, verify_preimage};
use crate::{
    Backend, BackendError, NodeInfo, OutgoingStatus, PayError, PayRequest, Payment, PaymentHash,
    Wallet,
};

/// `pay_invoice`'s result.
#[derive(Deserialize)]
struct Paid {
    #[serde(default)]
    preimage: Option<String>,
    #[serde(default)]
    fees_paid: Option<u64>,
}

/// `get_balance`'s result.
#[derive(Deserialize)]
struct Balance {
    balance: u64,
}

/// Wallet error codes that mean the wallet refused before paying.
const REFUSED: [&str; 5] = [
    "QUOTA_EXCEEDED",
    "RATE_LIMITED",
    "NOT_IMPLEMENTED",
    "UNSUPPORTED_ENCRYPTION",
    "RESTRICTED",
];

impl NwcClient {
    /// `lookup_invoice` by payment hash; `Ok(None)` for `NOT_FOUND`.
    pub(crate) async fn lookup(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<Transaction>, BackendError> {
        match self
            .call(
                "lookup_invoice",
                json!({ "payment_hash": payment_hash.to_string() }),
            )
            .await
        {
            Ok(result) => {
                let tx: Transaction = parse(result, "lookup_invoice")?;
                tx.check_hash(payment_hash)?;
                Ok(Some(tx))
            }
            Err(CallError::Wallet { code, .. }) if code == "NOT_FOUND" => Ok(None),
            Err(e) => Err(e.into_backend()),
        }
    }

    /// What the wallet's lookup says about an outgoing payment.
    async fn outgoing(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let Some(tx) = self.lookup(payment_hash).await? else {
            return Ok(OutgoingStatus::Unknown);
        };
        // An invoice of this wallet with that hash is not a payment of it.
        if tx.kind.as_deref() == Some("incoming") {
            return Ok(OutgoingStatus::Unknown);
        }
        let preimage = tx.preimage()?;
        match (tx.state.as_deref(), preimage) {
            (Some("failed"), _) => Ok(OutgoingStatus::Failed {
                reason: "the wallet reports the payment failed".into(),
            }),
            (Some("settled") | None, Some(preimage)) => {
                verify_preimage(BACKEND, payment_hash, &preimage)?;
                Ok(OutgoingStatus::Succeeded(Payment {
                    payment_hash: *payment_hash,
                    preimage,
                    amount_msat: tx.amount.unwrap_or(0),
                    fee_msat: tx.fees_paid.unwrap_or(0),
                }))
            }
            (Some("settled"), None) => Err(bad("a settled payment without a preimage").into()),
            // Pending, or no state and no preimage yet: in flight.
            _ => Ok(OutgoingStatus::Pending),
        }
    }

    /// After `PAYMENT_FAILED`: the wallet's own lookup decides, since a
    /// wallet may say "failed" for a payment that timed out in flight.
    async fn confirm_failed(
        &self,
        payment_hash: &PaymentHash,
        message: String,
    ) -> Result<Payment, PayError> {
        match self.outgoing(payment_hash).await {
            Ok(OutgoingStatus::Failed { .. } | OutgoingStatus::Unknown) => Err(PayError::Failed {
                backend: BACKEND,
                reason: format!("PAYMENT_FAILED: {message}"),
            }),
            Ok(OutgoingStatus::Succeeded(payment)) => Ok(payment),
            Ok(_) => Err(PayError::Pending {
                backend: BACKEND,
                payment_hash: *payment_hash,
                last_error: None,
            }),
            Err(PayError::Backend(e)) => Err(PayError::Pending {
                backend: BACKEND,
                payment_hash: *payment_hash,
                last_error: Some(e),
            }),
            Err(e) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl Wallet for NwcClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// `pay_invoice` with the invoice; the wallet answers once the payment
    /// has ended, within the pay timeout.
    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let answer = self
            .rpc
            .call(
                "pay_invoice",
                json!({ "invoice": request.bolt11.trim() }),
                self.pay_timeout,
            )
            .await;
        let result = match answer {
            Ok(result) => result,
            Err(CallError::Wallet { code, message }) => {
                return match code.as_str() {
                    "PAYMENT_FAILED" => self.confirm_failed(&hash, message).await,
                    "INSUFFICIENT_BALANCE" => Err(PayError::InsufficientBalance {
                        backend: BACKEND,
                        amount_msat,
                    }),
                    "UNAUTHORIZED" => Err(BackendError::Unauthorized {
                        backend: BACKEND,
                        reason: format!("{code}: {message}"),
                    }
                    .into()),
                    c if REFUSED.contains(&c) => Err(PayError::Failed {
                        backend: BACKEND,
                        reason: format!("{code}: {message}"),
                    }),
                    // INTERNAL, OTHER, anything else: may have paid.
                    _ => Err(CallError::Wallet { code, message }.into_backend().into()),
                };
            }
            Err(e) => return Err(e.into_backend().into()),
        };
        let paid: Paid = parse(result, "pay_invoice")?;
        let preimage = match paid.preimage.as_deref().map(str::trim) {
            None | Some("") => return Err(bad("paid without a preimage").into()),
            Some(hex) => hex
                .parse()
                .map_err(|_| bad("the preimage is not 32 bytes of hex"))?,
        };
        verify_preimage(BACKEND, &hash, &preimage)?;
        Ok(Payment {
            payment_hash: hash,
            preimage,
            amount_msat,
            fee_msat: paid.fees_paid.unwrap_or(0),
        })
    }

    /// `lookup_invoice` by payment hash: an `outgoing` transaction's `state`
    /// (`settled` with a checked preimage, `pending`, `failed`); `NOT_FOUND`
    /// is [`OutgoingStatus::Unknown`].
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        self.outgoing(payment_hash).await
    }

    async fn balance_msat(&self) -> Result<u64, BackendError> {
        let result = self
            .call("get_balance", json!({}))
            .await
            .map_err(CallError::into_backend)?;
        let balance: Balance = parse(result, "get_balance")?;
        Ok(balance.balance)
    }

    /// `get_info`. A wallet on `regtest` (or another test network) moves no
    /// real money: `real_lightning` is `false` there.
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        let info = self.info().await?;
        let network = info.network.filter(|n| !n.is_empty());
        let real = !matches!(
            network.as_deref(),
            Some("regtest" | "testnet" | "testnet4" | "signet")
        );
        Ok(NodeInfo {
            backend: BACKEND,
            alias: info.alias.unwrap_or_default(),
            pubkey: info.pubkey.filter(|p| !p.is_empty()),
            network,
            real_lightning: real,
        })
    }
}

//! [`Wallet`] for LNbits: paying (admin key), and telling a failed payment
//! from one whose outcome is unknown.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Answer, BACKEND, LnbitsClient, PaidInvoice, WalletBalance, bad, parse_preimage};
use crate::invoice::{precheck, verify_preimage};
use crate::{
    Backend, BackendError, OutgoingStatus, PayError, PayRequest, Payment, PaymentHash, Wallet,
};

/// What a non-success answer to a payment means.
enum PayFailure {
    /// LNbits said how the payment ended, or refused it before starting.
    Final(PayError),
    /// LNbits says the payment is (or may be) still in flight.
    Pending,
}

/// Classifies LNbits' answer to a payment that did not succeed. Only what
/// LNbits itself calls failed is a failure: its `PaymentError` answers 520
/// with `{"detail", "status"}`, where `status` is how the payment ended
/// (`failed`, `pending` (also its default) or `success`); 400 and 422 are
/// request validation, before any payment. A 520 without a `status` is not
/// LNbits' (Cloudflare uses 520 too), and like every other status says
/// nothing about the payment.
fn pay_failure(answer: &Answer, payment_hash: PaymentHash, amount_msat: u64) -> PayFailure {
    let detail = answer.detail();
    let lower = detail.to_ascii_lowercase();
    let failed = || {
        if lower.contains("already paid") {
            PayError::AlreadyPaid {
                backend: BACKEND,
                payment_hash,
            }
        } else if lower.contains("insufficient balance") {
            PayError::InsufficientBalance {
                backend: BACKEND,
                amount_msat,
            }
        } else if lower.contains("only internal invoices") || lower.contains("not found") {
            PayError::UnknownInvoice {
                backend: BACKEND,
                payment_hash,
                reason: detail.clone(),
            }
        } else if lower.contains("expired") {
            PayError::Expired {
                backend: BACKEND,
                payment_hash,
            }
        } else if lower.contains("bolt11") || lower.contains("amountless") {
            PayError::InvalidInvoice {
                backend: BACKEND,
                reason: detail.clone(),
            }
        } else {
            PayError::Failed {
                backend: BACKEND,
                reason: detail.clone(),
            }
        }
    };
    let status = answer.body.get("status").and_then(Value::as_str);
    match answer.status.as_u16() {
        400 | 422 => PayFailure::Final(failed()),
        520 => match status {
            Some("failed") => PayFailure::Final(failed()),
            // "Payment already paid.": this wallet paid it before.
            Some("success") => PayFailure::Final(PayError::AlreadyPaid {
                backend: BACKEND,
                payment_hash,
            }),
            Some("pending") => PayFailure::Pending,
            _ => PayFailure::Final(PayError::Backend(LnbitsClient::rejected(answer))),
        },
        _ => PayFailure::Final(PayError::Backend(LnbitsClient::rejected(answer))),
    }
}

fn fee_of(details: Option<&Value>) -> u64 {
    details
        .and_then(|d| d.get("fee"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .unsigned_abs()
}

impl LnbitsClient {
    /// Polls a payment LNbits took but has not settled, until it settles,
    /// fails, or the client's timeout (counted from `started`) runs out.
    /// Anything short of LNbits' own answer is [`PayError::Pending`].
    async fn await_settlement(
        &self,
        key: &str,
        payment_hash: PaymentHash,
        amount_msat: u64,
        started: Instant,
    ) -> Result<Payment, PayError> {
        let mut last_error = None;
        while started.elapsed() < self.timeout {
            tokio::time::sleep(POLL_INTERVAL).await;
            match self.payment_state(key, &payment_hash).await {
                Ok(Some(state)) if state.paid => {
                    let preimage = match parse_preimage(state.preimage.as_deref()) {
                        Ok(preimage) => preimage,
                        Err(e) => {
                            last_error = Some(e);
                            continue;
                        }
                    };
                    verify_preimage(BACKEND, &payment_hash, &preimage)?;
                    return Ok(Payment {
                        payment_hash,
                        preimage,
                        amount_msat,
                        fee_msat: fee_of(state.details.as_ref()),
                    });
                }
                Ok(Some(state)) if state.status.as_deref() == Some("failed") => {
                    return Err(PayError::Failed {
                        backend: BACKEND,
                        reason: "LNbits reported the payment as failed".into(),
                    });
                }
                Ok(_) => last_error = None,
                Err(e) => last_error = Some(e),
            }
        }
        Err(PayError::Pending {
            backend: BACKEND,
            payment_hash,
            last_error,
        })
    }
}

/// How often a pending payment is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

#[async_trait::async_trait]
impl Wallet for LnbitsClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let key = self.admin_key()?;
        let started = Instant::now();
        let answer = self
            .call(
                Method::POST,
                "/api/v1/payments",
                key,
                Some(json!({ "out": true, "bolt11": request.bolt11.trim() })),
            )
            .await?;
        if !answer.status.is_success() {
            return match pay_failure(&answer, hash, amount_msat) {
                PayFailure::Final(e) => Err(e),
                PayFailure::Pending => self.await_settlement(key, hash, amount_msat, started).await,
            };
        }
        let paid: PaidInvoice = serde_json::from_value(answer.body)
            .map_err(|e| PayError::Backend(bad(format!("payment: {e}"))))?;
        match paid.status.as_deref() {
            Some("success") | None => {
                let preimage = parse_preimage(paid.preimage.as_deref())?;
                // The proof of payment: never report success without it.
                verify_preimage(BACKEND, &hash, &preimage)?;
                Ok(Payment {
                    payment_hash: hash,
                    preimage,
                    amount_msat,
                    fee_msat: paid.fee.unwrap_or(0).unsigned_abs(),
                })
            }
            Some("failed") => Err(PayError::Failed {
                backend: BACKEND,
                reason: "LNbits reported the payment as failed".into(),
            }),
            // Pending (a real funding source) or a state this client does
            // not know: poll until it settles or the timeout runs out.
            Some(_) => self.await_settlement(key, hash, amount_msat, started).await,
        }
    }

    /// `GET /api/v1/payments/{hash}` with the admin key: LNbits answers about
    /// this wallet's own payment with that hash. An incoming invoice of the
    /// same wallet (positive amount) is not an outgoing payment and counts as
    /// [`OutgoingStatus::Unknown`].
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let key = self.admin_key()?;
        let Some(state) = self.payment_state(key, payment_hash).await? else {
            return Ok(OutgoingStatus::Unknown);
        };
        let amount = state
            .details
            .as_ref()
            .and_then(|d| d.get("amount"))
            .and_then(Value::as_i64);
        if amount.is_some_and(|a| a > 0) {
            return Ok(OutgoingStatus::Unknown);
        }
        if state.paid {
            let preimage = parse_preimage(state.preimage.as_deref())?;
            verify_preimage(BACKEND, payment_hash, &preimage)?;
            return Ok(OutgoingStatus::Succeeded(Payment {
                payment_hash: *payment_hash,
                preimage,
                amount_msat: amount.unwrap_or(0).unsigned_abs(),
                fee_msat: fee_of(state.details.as_ref()),
            }));
        }
        Ok(match state.status.as_deref() {
            Some("failed") => OutgoingStatus::Failed {
                reason: "LNbits reports the payment as failed".into(),
            },
            _ => OutgoingStatus::Pending,
        })
    }

    async fn balance_msat(&self) -> Result<u64, BackendError> {
        let key = self.receive_key()?;
        let answer = self.call(Method::GET, "/api/v1/wallet", key, None).await?;
        if !answer.status.is_success() {
            return Err(Self::rejected(&answer));
        }
        let wallet: WalletBalance =
            serde_json::from_value(answer.body).map_err(|e| bad(format!("wallet: {e}")))?;
        u64::try_from(wallet.balance).map_err(|_| bad("negative balance"))
    }
}

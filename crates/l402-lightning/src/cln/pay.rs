//! [`Wallet`] for CLN: `pay`, `listpays`, `listfunds`, `getinfo`.

use std::str::FromStr;

use serde_json::{Value, json};

use super::{BACKEND, ClnClient, Reply, RpcError, msat, rejected};
use crate::http::bad;
use crate::invoice::{precheck, verify_preimage};
use crate::{
    Backend, BackendError, NodeInfo, OutgoingStatus, PayError, PayRequest, Payment, PaymentHash,
    Preimage, Wallet,
};

/// What a `pay` error code (`common/jsonrpc_errors.h`) means for the money.
fn pay_error(e: RpcError, hash: PaymentHash, amount_msat: u64, max_fee: Option<u64>) -> PayError {
    let failed = |reason: String| PayError::Failed {
        backend: BACKEND,
        reason,
    };
    match e.code {
        // PAY_IN_PROGRESS: an earlier attempt is still in flight.
        200 => PayError::Pending {
            backend: BACKEND,
            payment_hash: hash,
            last_error: Some(rejected(&e)),
        },
        // PAY_RHASH_ALREADY_USED.
        201 => PayError::AlreadyPaid {
            backend: BACKEND,
            payment_hash: hash,
        },
        // PAY_ROUTE_TOO_EXPENSIVE: no route within `maxfee`.
        206 => PayError::FeeTooHigh {
            backend: BACKEND,
            fee_msat: 0,
            max_fee_msat: max_fee.unwrap_or(0),
        },
        // PAY_INVOICE_EXPIRED.
        207 => PayError::Expired {
            backend: BACKEND,
            payment_hash: hash,
        },
        // PAY_DESTINATION_PERM_FAIL, PAY_ROUTE_NOT_FOUND, PAY_STOPPED_RETRYING,
        // and invalid parameters (refused before paying).
        203 | 205 | 210 | -32602 => {
            if e.message.to_ascii_lowercase().contains("insufficient") {
                PayError::InsufficientBalance {
                    backend: BACKEND,
                    amount_msat,
                }
            } else {
                failed(format!("CLN error {}: {}", e.code, e.message))
            }
        }
        // 209 PAY_UNSPECIFIED_ERROR and anything else: not known to have failed.
        _ => PayError::Backend(rejected(&e)),
    }
}

/// A `complete` payment of `pay` or `listpays`, its preimage checked.
fn complete(
    hash: &PaymentHash,
    pay: &Value,
    preimage_key: &str,
    amount_msat: u64,
) -> Result<Payment, PayError> {
    let preimage = pay
        .get(preimage_key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(BACKEND, format!("a complete payment has no {preimage_key}")))?;
    let preimage =
        Preimage::from_str(preimage).map_err(|e| bad(BACKEND, format!("{preimage_key}: {e}")))?;
    verify_preimage(BACKEND, hash, &preimage)?;
    let amount = msat(pay.get("amount_msat")).unwrap_or(amount_msat);
    let sent = msat(pay.get("amount_sent_msat")).unwrap_or(amount);
    Ok(Payment {
        payment_hash: *hash,
        preimage,
        amount_msat: amount,
        fee_msat: sent.saturating_sub(amount),
    })
}

#[async_trait::async_trait]
impl Wallet for ClnClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// `pay` takes `maxfee`: CLN holds the fee to it while routing.
    fn enforces_max_fee(&self) -> bool {
        true
    }

    /// `pay {bolt11, maxfee?, retry_for}` → `{payment_preimage,
    /// payment_hash, amount_msat, amount_sent_msat, status: "complete" |
    /// "pending" | "failed", …}` (`doc/schemas/lightning-pay.json`). See the
    /// [module docs](super#did-money-move).
    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let retry_for = crate::http::routing_budget(self.pay_timeout);
        let mut params = json!({
            "bolt11": request.bolt11.trim(),
            "retry_for": retry_for.as_secs(),
        });
        if let Some(max_fee) = request.max_fee_msat {
            params["maxfee"] = json!(max_fee);
        }
        let result = match self.call("pay", &params, self.pay_timeout).await? {
            Reply::Ok(result) => result,
            Reply::Rpc(e) => return Err(pay_error(e, hash, amount_msat, request.max_fee_msat)),
        };
        if let Some(claimed) = result.get("payment_hash").and_then(Value::as_str)
            && PaymentHash::from_str(claimed).ok() != Some(hash)
        {
            return Err(bad(BACKEND, "pay answered for another payment hash").into());
        }
        match result.get("status").and_then(Value::as_str) {
            Some("complete") => complete(&hash, &result, "payment_preimage", amount_msat),
            Some("failed") => Err(PayError::Failed {
                backend: BACKEND,
                reason: "CLN reports the payment as failed".into(),
            }),
            // "pending", or a status this client does not know.
            _ => Err(PayError::Pending {
                backend: BACKEND,
                payment_hash: hash,
                last_error: None,
            }),
        }
    }

    /// `listpays {payment_hash}` → `{pays: [{status: "pending" | "complete" |
    /// "failed", preimage (when complete), amount_msat, amount_sent_msat, …}]}`
    /// (`doc/schemas/lightning-listpays.json`); of several attempts, the
    /// best (complete, then pending, then failed).
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let params = json!({ "payment_hash": payment_hash.to_string() });
        let result = match self.call("listpays", &params, self.timeout).await? {
            Reply::Ok(result) => result,
            Reply::Rpc(e) => return Err(rejected(&e).into()),
        };
        let pays = result
            .get("pays")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(BACKEND, "listpays result has no pays"))?;
        let status = |p: &Value| p.get("status").and_then(Value::as_str).map(str::to_string);
        let rank = |p: &Value| match status(p).as_deref() {
            Some("complete") => 3,
            Some("pending") => 2,
            Some("failed") => 1,
            _ => 0,
        };
        let Some(best) = pays.iter().max_by_key(|p| rank(p)) else {
            return Ok(OutgoingStatus::Unknown);
        };
        Ok(match status(best).as_deref() {
            Some("complete") => {
                OutgoingStatus::Succeeded(complete(payment_hash, best, "preimage", 0)?)
            }
            Some("failed") => OutgoingStatus::Failed {
                reason: "CLN reports the payment as failed".into(),
            },
            _ => OutgoingStatus::Pending,
        })
    }

    /// `listfunds`: the sum of `our_amount_msat` over channels in
    /// `CHANNELD_NORMAL` (`doc/schemas/lightning-listfunds.json`).
    async fn balance_msat(&self) -> Result<u64, BackendError> {
        let result = match self.call("listfunds", &json!({}), self.timeout).await? {
            Reply::Ok(result) => result,
            Reply::Rpc(e) => return Err(rejected(&e)),
        };
        let channels = result
            .get("channels")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(BACKEND, "listfunds result has no channels"))?;
        Ok(channels
            .iter()
            .filter(|c| c.get("state").and_then(Value::as_str) == Some("CHANNELD_NORMAL"))
            .filter_map(|c| msat(c.get("our_amount_msat")))
            .fold(0u64, u64::saturating_add))
    }

    /// `getinfo`: `id`, `alias`, `network`.
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        let result = match self.call("getinfo", &json!({}), self.timeout).await? {
            Reply::Ok(result) => result,
            Reply::Rpc(e) => return Err(rejected(&e)),
        };
        let text = |k: &str| result.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(NodeInfo {
            backend: BACKEND,
            alias: text("alias").unwrap_or_default(),
            pubkey: text("id"),
            network: text("network"),
            real_lightning: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PayOutcome;

    fn outcome(code: i64, message: &str) -> (PayOutcome, PayError) {
        let e = pay_error(
            RpcError {
                code,
                message: message.into(),
            },
            PaymentHash([1; 32]),
            1_000,
            Some(10),
        );
        (e.outcome(), e)
    }

    #[test]
    fn pay_error_codes_say_failed_only_when_cln_gave_up() {
        for code in [201, 203, 205, 206, 207, 210, -32602] {
            assert_eq!(outcome(code, "x").0, PayOutcome::Failed, "{code}");
        }
        // In progress, unspecified, plugin or unknown errors: not known to have failed.
        for code in [200, 209, -1, 1, 204, 211] {
            assert_eq!(outcome(code, "x").0, PayOutcome::Unknown, "{code}");
        }
        assert!(matches!(outcome(200, "x").1, PayError::Pending { .. }));
        assert!(matches!(
            outcome(206, "x").1,
            PayError::FeeTooHigh {
                max_fee_msat: 10,
                ..
            }
        ));
        assert!(matches!(
            outcome(205, "Insufficient funds").1,
            PayError::InsufficientBalance { .. }
        ));
    }

    #[test]
    fn amounts_in_both_encodings() {
        assert_eq!(msat(Some(&json!(21_000))), Some(21_000));
        assert_eq!(msat(Some(&json!("21000msat"))), Some(21_000));
        assert_eq!(msat(Some(&json!("x"))), None);
    }
}

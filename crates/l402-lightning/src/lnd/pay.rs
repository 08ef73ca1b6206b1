//! [`Wallet`] for LND: `POST /v2/router/send` (`SendPaymentV2`, streamed),
//! `GET /v2/router/track/{payment_hash}` (`TrackPaymentV2`), as mapped in
//! `lnrpc/routerrpc/router.yaml`; `GET /v1/balance/channels`, `GET /v1/getinfo`
//! (`lnrpc/lightning.yaml`).

use std::str::FromStr;

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BACKEND, Lines, LndClient, RpcStatus, answer, unauthorized};
use crate::http::{Answer, bad};
use crate::invoice::{precheck, verify_preimage};
use crate::{
    Backend, BackendError, NodeInfo, OutgoingStatus, PayError, PayRequest, Payment, PaymentHash,
    Preimage, Wallet,
};

/// `lnrpc.Payment` (`lightning.proto`): `payment_hash` and
/// `payment_preimage` are hex **strings** (not bytes), `value_msat` and
/// `fee_msat` int64 (strings in JSON), `status` one of `UNKNOWN`,
/// `IN_FLIGHT`, `SUCCEEDED`, `FAILED`, `INITIATED`, and `failure_reason`
/// one of `FAILURE_REASON_NONE`, `_TIMEOUT`, `_NO_ROUTE`, `_ERROR`,
/// `_INCORRECT_PAYMENT_DETAILS`, `_INSUFFICIENT_BALANCE`, `_CANCELED`.
#[derive(Deserialize)]
struct LndPayment {
    #[serde(default)]
    payment_hash: String,
    #[serde(default)]
    payment_preimage: String,
    #[serde(default)]
    value_msat: Option<Value>,
    #[serde(default)]
    fee_msat: Option<Value>,
    status: String,
    #[serde(default)]
    failure_reason: String,
}

/// An int64 as LND's REST proxy writes it (a string), or a number.
fn int(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// One line of a streamed answer: `{"result": Payment}` or `{"error": Status}`.
fn parse_update(line: &[u8]) -> Result<LndPayment, BackendError> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| bad(BACKEND, format!("payment update is not JSON: {e}")))?;
    if let Some(error) = value.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_string();
        return Err(BackendError::Rejected {
            backend: BACKEND,
            status: 0,
            detail: message,
        });
    }
    let result = value.get("result").cloned().unwrap_or(value);
    serde_json::from_value(result).map_err(|e| bad(BACKEND, format!("payment update: {e}")))
}

/// A succeeded payment, its preimage checked.
fn succeeded(hash: &PaymentHash, payment: &LndPayment) -> Result<Payment, PayError> {
    let preimage = Preimage::from_str(&payment.payment_preimage)
        .map_err(|e| bad(BACKEND, format!("payment_preimage: {e}")))?;
    verify_preimage(BACKEND, hash, &preimage)?;
    Ok(Payment {
        payment_hash: *hash,
        preimage,
        amount_msat: int(payment.value_msat.as_ref()),
        fee_msat: int(payment.fee_msat.as_ref()),
    })
}

impl LndClient {
    fn fee_limit_msat(&self, request: &PayRequest, amount_msat: u64) -> u64 {
        request.max_fee_msat.unwrap_or_else(|| {
            (u128::from(amount_msat) * u128::from(self.fee_limit_ppm) / 1_000_000)
                .try_into()
                .unwrap_or(u64::MAX)
                .max(self.fee_limit_floor_msat)
        })
    }

    /// An error LND answered before the payment's stream started.
    fn refused_before_streaming(&self, answer: &Answer, hash: PaymentHash) -> PayError {
        if let Some(e) = unauthorized(answer.status, &answer.body) {
            return e.into();
        }
        let message = RpcStatus::of(&answer.body)
            .map(|s| s.message)
            .unwrap_or_default();
        // routerrpc: `ErrAlreadyPaid` and `ErrPaymentInFlight` are both
        // `AlreadyExists` (409); only the first says nothing is in flight.
        if message.contains("already paid") {
            PayError::AlreadyPaid {
                backend: BACKEND,
                payment_hash: hash,
            }
        } else if message.contains("in transition") || message.contains("in flight") {
            PayError::Pending {
                backend: BACKEND,
                payment_hash: hash,
                last_error: Some(answer.rejected()),
            }
        } else {
            answer.rejected().into()
        }
    }
}

#[async_trait::async_trait]
impl Wallet for LndClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// LND holds the fee to `fee_limit_msat` while routing.
    fn enforces_max_fee(&self) -> bool {
        true
    }

    /// `POST /v2/router/send {"payment_request", "timeout_seconds",
    /// "fee_limit_msat", "no_inflight_updates": true}`, then the streamed
    /// updates until a final one. See the [module docs](super#did-money-move).
    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let routing = crate::http::routing_budget(self.pay_timeout);
        let body = json!({
            "payment_request": request.bolt11.trim(),
            "timeout_seconds": routing.as_secs(),
            "fee_limit_msat": self.fee_limit_msat(request, amount_msat).to_string(),
            "no_inflight_updates": true,
        });
        let response = self
            .start(
                Method::POST,
                "/v2/router/send",
                Some(&body),
                self.pay_timeout,
            )
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = crate::http::read_body(BACKEND, self.pay_timeout, response).await?;
            return Err(self.refused_before_streaming(&answer(status, body), hash));
        }
        let mut lines = Lines::new(response, self.pay_timeout);
        while let Some(line) = lines.next().await? {
            // An error in the stream, after LND took the payment: unknown.
            let update = parse_update(&line)?;
            if !update.payment_hash.is_empty()
                && PaymentHash::from_str(&update.payment_hash).ok() != Some(hash)
            {
                return Err(bad(BACKEND, "payment update is for another payment hash").into());
            }
            match update.status.as_str() {
                "SUCCEEDED" => {
                    let mut paid = succeeded(&hash, &update)?;
                    if paid.amount_msat == 0 {
                        paid.amount_msat = amount_msat;
                    }
                    return Ok(paid);
                }
                "FAILED" => {
                    return Err(match update.failure_reason.as_str() {
                        "FAILURE_REASON_INSUFFICIENT_BALANCE" => PayError::InsufficientBalance {
                            backend: BACKEND,
                            amount_msat,
                        },
                        reason => PayError::Failed {
                            backend: BACKEND,
                            reason: reason.to_string(),
                        },
                    });
                }
                // IN_FLIGHT, INITIATED (and the deprecated UNKNOWN): wait.
                _ => {}
            }
        }
        Err(PayError::Pending {
            backend: BACKEND,
            payment_hash: hash,
            last_error: Some(bad(
                BACKEND,
                "the payment stream ended without a final status",
            )),
        })
    }

    /// `GET /v2/router/track/{payment_hash}` (bytes in the path: URL-safe
    /// base64); the first update is the payment's current state. LND
    /// answers `NotFound` "payment isn't initiated" for a hash it never paid.
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let path = format!(
            "/v2/router/track/{}?no_inflight_updates=false",
            base64::engine::general_purpose::URL_SAFE.encode(payment_hash.as_bytes())
        );
        let response = self.start(Method::GET, &path, None, self.timeout).await?;
        let status = response.status();
        if !status.is_success() {
            let body = crate::http::read_body(BACKEND, self.timeout, response).await?;
            let answer = answer(status, body);
            if let Some(e) = unauthorized(status, &answer.body) {
                return Err(e.into());
            }
            if status == StatusCode::NOT_FOUND || answer.detail().contains("isn't initiated") {
                return Ok(OutgoingStatus::Unknown);
            }
            return Err(answer.rejected().into());
        }
        let mut lines = Lines::new(response, self.timeout);
        let line = lines
            .next()
            .await?
            .ok_or_else(|| bad(BACKEND, "TrackPaymentV2 answered no update"))?;
        let update = parse_update(&line)?;
        Ok(match update.status.as_str() {
            "SUCCEEDED" => OutgoingStatus::Succeeded(succeeded(payment_hash, &update)?),
            "FAILED" => OutgoingStatus::Failed {
                reason: update.failure_reason,
            },
            _ => OutgoingStatus::Pending,
        })
    }

    /// `GET /v1/balance/channels`: `local_balance.msat`.
    async fn balance_msat(&self) -> Result<u64, BackendError> {
        let answer = self.call(Method::GET, "/v1/balance/channels", None).await?;
        if !answer.status.is_success() {
            return Err(answer.rejected());
        }
        let value: Value = answer.json("ChannelBalance")?;
        let local = value
            .get("local_balance")
            .ok_or_else(|| bad(BACKEND, "ChannelBalance has no local_balance"))?;
        Ok(int(local.get("msat")))
    }

    /// `GET /v1/getinfo`: `identity_pubkey`, `alias`, `chains[0].network`.
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        let answer = self.call(Method::GET, "/v1/getinfo", None).await?;
        if !answer.status.is_success() {
            return Err(answer.rejected());
        }
        let value: Value = answer.json("GetInfo")?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Ok(NodeInfo {
            backend: BACKEND,
            alias: text(value.get("alias")).unwrap_or_default(),
            pubkey: text(value.get("identity_pubkey")),
            network: text(value.pointer("/chains/0/network")),
            real_lightning: true,
        })
    }
}

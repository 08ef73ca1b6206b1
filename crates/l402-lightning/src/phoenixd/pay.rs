//! [`Wallet`] for phoenixd: `POST /payinvoice`,
//! `GET /payments/outgoingbyhash/{hash}`, `GET /getbalance`, `GET /getinfo`.

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{BACKEND, PhoenixdClient, parse_hash, parse_preimage};
use crate::http::bad;
use crate::invoice::{decode_invoice, precheck, verify_preimage};
use crate::{
    Backend, BackendError, NodeInfo, OutgoingStatus, PayError, PayRequest, Payment, PaymentHash,
    Wallet,
};

/// The answer to `POST /payinvoice` (`Api.kt`, `post("payinvoice")`): either
/// `ApiType.PaymentSent` `{"recipientAmountSat", "routingFeeSat",
/// "paymentId", "paymentHash", "paymentPreimage"}` or `ApiType.PaymentFailed`
/// `{"paymentHash", "reason"}` (`json/JsonSerializers.kt`), both HTTP 200.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayAnswer {
    #[serde(default)]
    payment_hash: Option<String>,
    #[serde(default)]
    payment_preimage: Option<String>,
    #[serde(default)]
    routing_fee_sat: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

/// `ApiType.OutgoingPayment` (`json/JsonSerializers.kt`): `{"subType",
/// "paymentId", "paymentHash"?, "preimage"?, "txId"?, "isPaid", "sent"
/// (sat, fees included), "fees" (msat), "invoice"?, "completedAt"?,
/// "createdAt"}`. Not paid with a `completedAt` is a failed payment; without
/// one it is still pending (lightning-kmp's `LightningOutgoingPayment.Status`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutgoingPayment {
    #[serde(default)]
    preimage: Option<String>,
    is_paid: bool,
    #[serde(default)]
    sent: u64,
    #[serde(default)]
    fees: u64,
    #[serde(default)]
    invoice: Option<String>,
    #[serde(default)]
    completed_at: Option<u64>,
}

/// `ApiType.Balance`: `{"balanceSat", "feeCreditSat"}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Balance {
    balance_sat: u64,
}

/// `ApiType.NodeInfo`: `{"nodeId", "channels", "chain", "blockHeight", "version"}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    node_id: String,
    chain: String,
}

#[async_trait::async_trait]
impl Wallet for PhoenixdClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    /// `POST /payinvoice` with `invoice`; phoenixd answers once the payment
    /// has ended. See the [module docs](super#did-money-move).
    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let form = [("invoice", request.bolt11.trim().to_string())];
        let answer = self
            .call(Method::POST, "/payinvoice", Some(&form), self.pay_timeout)
            .await?;
        if !answer.status.is_success() {
            // 400: the request was refused before paying (a bad invoice, a
            // missing amount): `Rejected` with a 4xx is failed. A 5xx says
            // nothing about the payment: unknown.
            return Err(answer.rejected().into());
        }
        let paid: PayAnswer = answer.json("payment")?;
        if let Some(claimed) = &paid.payment_hash
            && parse_hash(claimed)? != hash
        {
            return Err(bad(BACKEND, "payment answer is for another payment hash").into());
        }
        if paid.payment_preimage.is_none()
            && let Some(reason) = paid.reason
        {
            return Err(PayError::Failed {
                backend: BACKEND,
                reason,
            });
        }
        let preimage = parse_preimage(paid.payment_preimage.as_deref())?;
        // The proof of payment: never report success without it.
        verify_preimage(BACKEND, &hash, &preimage)?;
        Ok(Payment {
            payment_hash: hash,
            preimage,
            amount_msat,
            fee_msat: paid.routing_fee_sat.unwrap_or(0).saturating_mul(1000),
        })
    }

    /// `GET /payments/outgoingbyhash/{paymentHash}` (`Api.kt`): phoenixd
    /// answers with the best of its attempts for that hash (succeeded, then
    /// pending, then failed), 404 if it never tried.
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let answer = self
            .get(&format!("/payments/outgoingbyhash/{payment_hash}"))
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(OutgoingStatus::Unknown);
        }
        if !answer.status.is_success() {
            return Err(answer.rejected().into());
        }
        let payment: OutgoingPayment = answer.json("outgoing payment")?;
        if payment.is_paid {
            let preimage = parse_preimage(payment.preimage.as_deref())?;
            verify_preimage(BACKEND, payment_hash, &preimage)?;
            // `sent` includes the fee and is truncated to satoshis: the
            // invoice's amount is exact where phoenixd gives the invoice.
            let amount_msat = payment
                .invoice
                .as_deref()
                .and_then(|i| decode_invoice(i).ok())
                .and_then(|d| d.amount_msat)
                .unwrap_or_else(|| {
                    payment
                        .sent
                        .saturating_mul(1000)
                        .saturating_sub(payment.fees)
                });
            return Ok(OutgoingStatus::Succeeded(Payment {
                payment_hash: *payment_hash,
                preimage,
                amount_msat,
                fee_msat: payment.fees,
            }));
        }
        Ok(match payment.completed_at {
            Some(_) => OutgoingStatus::Failed {
                reason: "phoenixd reports the payment as failed".into(),
            },
            None => OutgoingStatus::Pending,
        })
    }

    /// `GET /getbalance`: `balanceSat`, in msat.
    async fn balance_msat(&self) -> Result<u64, BackendError> {
        let answer = self.get("/getbalance").await?;
        if !answer.status.is_success() {
            return Err(answer.rejected());
        }
        let balance: Balance = answer.json("balance")?;
        Ok(balance.balance_sat.saturating_mul(1000))
    }

    /// `GET /getinfo`: the node id and chain.
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        let answer = self.get("/getinfo").await?;
        if !answer.status.is_success() {
            return Err(answer.rejected());
        }
        let info: Info = answer.json("node info")?;
        Ok(NodeInfo {
            backend: BACKEND,
            alias: "phoenixd".into(),
            pubkey: Some(info.node_id),
            network: Some(info.chain),
            real_lightning: true,
        })
    }
}

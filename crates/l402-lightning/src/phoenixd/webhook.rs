//! phoenixd's webhook signatures: `X-Phoenix-Signature:
//! hex(HMAC-SHA256(webhook-secret, body))` over the raw request body
//! (`ACINQ/phoenixd:src/commonMain/kotlin/fr/acinq/phoenixd/Phoenixd.kt`,
//! the webhook sender; the secret is `webhook-secret` in `phoenix.conf`).

use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::PaymentHash;

/// A webhook's signature does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The header is not 64 hex digits.
    #[error("phoenixd webhook: X-Phoenix-Signature is not a hex HMAC-SHA256")]
    Malformed,
    /// The signature does not match the body under this secret.
    #[error("phoenixd webhook: signature does not match")]
    Mismatch,
    /// The (verified) body is not a phoenixd event.
    #[error("phoenixd webhook: not an event: {0}")]
    BadBody(String),
}

/// An event phoenixd pushes (webhook or `/websocket`): kotlinx's polymorphic
/// JSON of `ApiType.ApiEvent`, with its `type` discriminator
/// (`json/JsonSerializers.kt`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoenixdEvent {
    /// `payment_received`: an invoice of this node was paid.
    PaymentReceived {
        /// `amountSat`.
        amount_sat: u64,
        /// `paymentHash`.
        payment_hash: PaymentHash,
        /// `externalId`, as given to `/createinvoice`.
        external_id: Option<String>,
    },
    /// Any other event type (`payment_sent`, …), by its `type`.
    Other {
        /// The `type` discriminator.
        kind: String,
    },
}

impl PhoenixdEvent {
    /// Parses an event body. Verify the signature first:
    /// [`verified_webhook_event`] does both.
    ///
    /// # Errors
    /// [`WebhookError::BadBody`] if it is not a phoenixd event.
    pub fn parse(body: &[u8]) -> Result<PhoenixdEvent, WebhookError> {
        let bad = |why: &str| WebhookError::BadBody(why.to_string());
        let value: Value = serde_json::from_slice(body).map_err(|e| bad(&e.to_string()))?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no type"))?;
        if kind != "payment_received" {
            return Ok(PhoenixdEvent::Other {
                kind: kind.to_string(),
            });
        }
        let hash = value
            .get("paymentHash")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no paymentHash"))?;
        Ok(PhoenixdEvent::PaymentReceived {
            amount_sat: value
                .get("amountSat")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("no amountSat"))?,
            payment_hash: PaymentHash::from_str(hash).map_err(|e| bad(&e.to_string()))?,
            external_id: value
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// Checks a webhook's `X-Phoenix-Signature` over the raw body, then parses
/// the event: what a webhook endpoint calls before believing a payment.
///
/// # Errors
/// [`WebhookError`]: a bad or mismatched signature, or not an event.
pub fn verified_webhook_event(
    secret: &[u8],
    body: &[u8],
    signature: &str,
) -> Result<PhoenixdEvent, WebhookError> {
    verify_webhook_signature(secret, body, signature)?;
    PhoenixdEvent::parse(body)
}

/// Checks phoenixd's `X-Phoenix-Signature` header (`signature`) over the
/// raw `body` with the node's `webhook-secret`. The comparison is constant
/// time. Verify the raw bytes before parsing them.
///
/// ```
/// use l402_lightning::phoenixd::{verify_webhook_signature, WebhookError};
/// let body = br#"{"type":"payment_received","amountSat":21}"#;
/// // A well-formed signature, but of another body or under another secret.
/// let other = "0b4f3e2c8ad8d0d7c2f22e5c3f7ff3b7f17be6a2b6bd4c9fd09fc2d6e1ad4ab8";
/// assert_eq!(verify_webhook_signature(b"secret", body, "zz"), Err(WebhookError::Malformed));
/// assert_eq!(verify_webhook_signature(b"secret", body, other), Err(WebhookError::Mismatch));
/// ```
///
/// # Errors
/// [`WebhookError::Malformed`] if the header is not hex of the right length,
/// [`WebhookError::Mismatch`] if it does not sign `body` under `secret`.
pub fn verify_webhook_signature(
    secret: &[u8],
    body: &[u8],
    signature: &str,
) -> Result<(), WebhookError> {
    let signature = signature.trim();
    if signature.len() != 64 {
        return Err(WebhookError::Malformed);
    }
    let tag = hex::decode(signature).map_err(|_| WebhookError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::Malformed)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&tag).map_err(|_| WebhookError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn accepts_exactly_the_signature_of_the_body() {
        let body = br#"{"type":"payment_received","amountSat":21,"paymentHash":"00"}"#;
        let sig = sign(b"webhook-secret", body);
        assert_eq!(
            verify_webhook_signature(b"webhook-secret", body, &sig),
            Ok(())
        );
        assert_eq!(
            verify_webhook_signature(b"webhook-secret", body, &sig.to_uppercase()),
            Ok(())
        );
        assert_eq!(
            verify_webhook_signature(b"other-secret", body, &sig),
            Err(WebhookError::Mismatch)
        );
        let mut tampered = body.to_vec();
        tampered[30] ^= 1;
        assert_eq!(
            verify_webhook_signature(b"webhook-secret", &tampered, &sig),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify_webhook_signature(b"webhook-secret", body, &sig[..62]),
            Err(WebhookError::Malformed)
        );
        assert_eq!(
            verify_webhook_signature(b"webhook-secret", body, ""),
            Err(WebhookError::Malformed)
        );
    }

    #[test]
    fn verified_events_parse_and_forged_ones_do_not() {
        let hash = "ab".repeat(32);
        let body = format!(
            r#"{{"type":"payment_received","timestamp":1700000000000,"amountSat":21,"paymentHash":"{hash}","externalId":"order-7"}}"#
        );
        let sig = sign(b"s3cret", body.as_bytes());
        assert_eq!(
            verified_webhook_event(b"s3cret", body.as_bytes(), &sig),
            Ok(PhoenixdEvent::PaymentReceived {
                amount_sat: 21,
                payment_hash: hash.parse().unwrap(),
                external_id: Some("order-7".into()),
            })
        );
        assert_eq!(
            verified_webhook_event(b"other", body.as_bytes(), &sig),
            Err(WebhookError::Mismatch)
        );
        let sent = br#"{"type":"payment_sent","amountSat":1}"#;
        assert_eq!(
            verified_webhook_event(b"s3cret", sent, &sign(b"s3cret", sent)),
            Ok(PhoenixdEvent::Other {
                kind: "payment_sent".into()
            })
        );
        let junk = b"not json";
        assert!(matches!(
            verified_webhook_event(b"s3cret", junk, &sign(b"s3cret", junk)),
            Err(WebhookError::BadBody(_))
        ));
    }

    /// RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
    #[test]
    fn rfc4231_vector() {
        assert_eq!(
            verify_webhook_signature(
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            ),
            Ok(())
        );
    }
}

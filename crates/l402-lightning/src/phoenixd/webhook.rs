//! phoenixd's webhook signatures: `X-Phoenix-Signature:
//! hex(HMAC-SHA256(webhook-secret, body))` over the raw request body
//! (`ACINQ/phoenixd:src/commonMain/kotlin/fr/acinq/phoenixd/Phoenixd.kt`,
//! the webhook sender; the secret is `webhook-secret` in `phoenix.conf`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

//! The `l402-signature` header every webhook l402 sends carries (the
//! producer's merchant events, the MCP server's confirmation codes):
//! `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so a receiver can
//! check who sent a body and when with any HMAC implementation.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const SIGNATURE_HEADER: &str = "l402-signature";

/// The `l402-signature` value for `body` sent at `t` (unix seconds), keyed
/// with `secret`.
///
/// ```
/// let header = l402::webhook::signature_header("whsec_test", 1_700_000_000, "{}");
/// assert!(header.starts_with("t=1700000000,v1="));
/// assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
/// ```
pub fn signature_header(secret: impl AsRef<[u8]>, t: u64, body: impl AsRef<[u8]>) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_ref()) else {
        return format!("t={t},v1=");
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_ref());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a value computed independently
    /// (`python3 -c 'import hmac,hashlib; print(hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest())'`).
    #[test]
    fn matches_an_independent_hmac() {
        assert_eq!(
            signature_header("key", 1, "{}"),
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}

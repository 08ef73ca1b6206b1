//! Payment hashes and preimages: the two 32-byte values that tie an invoice to
//! its proof of payment.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Why a hex-encoded 32-byte value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The input was not exactly 64 characters long.
    #[error("expected 64 hex characters, got {0}")]
    Length(usize),
    /// The input contained a character that is not a hex digit.
    #[error("not a hex string")]
    NotHex,
}

fn parse_hex32(s: &str) -> Result<[u8; 32], HexError> {
    if s.len() != 64 {
        return Err(HexError::Length(s.len()));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| HexError::NotHex)?;
    Ok(out)
}

/// The SHA-256 payment hash of a Lightning invoice.
///
/// ```
/// use l402::PaymentHash;
/// let hash: PaymentHash = "0001020304050607080900010203040506070809000102030405060708090102"
///     .parse()
///     .unwrap();
/// assert_eq!(hash.to_string().len(), 64);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentHash(pub [u8; 32]);

impl PaymentHash {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentHash({self})")
    }
}

impl FromStr for PaymentHash {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex32(s).map(PaymentHash)
    }
}

impl From<[u8; 32]> for PaymentHash {
    fn from(bytes: [u8; 32]) -> Self {
        PaymentHash(bytes)
    }
}

/// A payment preimage: the secret whose SHA-256 is the payment hash, and the
/// proof that an invoice was paid.
///
/// Its `Debug` output is redacted; its `Display` is lowercase hex (as it goes
/// on the wire), so print it only where it is meant to be sent. It is zeroized
/// on drop and compared in constant time.
///
/// ```
/// use l402::Preimage;
/// let preimage = Preimage::from([7u8; 32]);
/// let hash = preimage.payment_hash();
/// assert!(preimage.matches(&hash));
/// assert_eq!(format!("{preimage:?}"), "Preimage(..)");
/// ```
#[derive(Clone, Zeroize)]
#[zeroize(drop)]
pub struct Preimage([u8; 32]);

impl Preimage {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A fresh random preimage from the operating system's generator.
    ///
    /// # Errors
    /// Fails only if the operating system's random source fails.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)?;
        Ok(Preimage(bytes))
    }

    /// `sha256(preimage)`.
    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(Sha256::digest(self.0).into())
    }

    /// Whether `sha256(self) == hash`, compared in constant time.
    pub fn matches(&self, hash: &PaymentHash) -> bool {
        self.payment_hash().0.ct_eq(&hash.0).into()
    }

    /// Lowercase hex, as sent in an `Authorization` header.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 32]> for Preimage {
    fn from(bytes: [u8; 32]) -> Self {
        Preimage(bytes)
    }
}

impl PartialEq for Preimage {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for Preimage {}

impl fmt::Debug for Preimage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Preimage(..)")
    }
}

impl fmt::Display for Preimage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Preimage {
    type Err = HexError;
    /// Accepts 64 hex digits in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex32(s).map(Preimage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsat_js_triple() {
        let pre: Preimage = "2ca931a1c36b48f54948b898a271a53ed91ff7d0081939a5fa511249e81cba5c"
            .parse()
            .unwrap();
        let hash: PaymentHash = "7cef93f2c51aa65208bec1447fc38fc58d9bce1375a532edb0dcd290a2c330ae"
            .parse()
            .unwrap();
        assert!(pre.matches(&hash));
        assert_eq!(pre.payment_hash(), hash);
    }

    #[test]
    fn bad_hex_is_typed() {
        assert_eq!("abc".parse::<PaymentHash>(), Err(HexError::Length(3)));
        assert!(matches!(
            "zz".repeat(32).parse::<Preimage>(),
            Err(HexError::NotHex)
        ));
    }
}

//! Macaroons in the libmacaroons V2 binary format, byte-identical to
//! go-macaroon (the library Aperture and LND use), with first-party caveats.
//!
//! ```
//! use l402::macaroon::{Macaroon, RootKey};
//!
//! let root = RootKey::from([1u8; 32]);
//! let mut mac = Macaroon::new(&root, b"an identifier".to_vec(), "lsat").unwrap();
//! mac.add_first_party_caveat("services=weather:0").unwrap();
//! let text = mac.to_string(); // standard padded base64
//! let back: Macaroon = text.parse().unwrap();
//! assert_eq!(back, mac);
//! assert!(back.verify_signature(&root));
//! assert!(!back.verify_signature(&RootKey::from([2u8; 32])));
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::{decode_base64_any, encode_base64};

type HmacSha256 = Hmac<Sha256>;

/// The largest decoded macaroon accepted, in bytes. Real L402 macaroons are a
/// few hundred bytes; this bounds the work any input can cause.
pub const MAX_MACAROON_BYTES: usize = 64 * 1024;

const FIELD_EOS: u8 = 0;
const FIELD_LOCATION: u8 = 1;
const FIELD_IDENTIFIER: u8 = 2;
const FIELD_VERIFICATION_ID: u8 = 4;
const FIELD_SIGNATURE: u8 = 6;
const VERSION_2: u8 = 2;

/// Why a macaroon could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacaroonError {
    /// The text was not base64 in either alphabet.
    #[error("macaroon is not valid base64 (standard or URL-safe)")]
    Base64,
    /// The macaroon is larger than [`MAX_MACAROON_BYTES`].
    #[error("macaroon is {0} bytes, more than the {MAX_MACAROON_BYTES} accepted")]
    TooLarge(usize),
    /// The first byte is not the V2 version byte.
    #[error("unsupported macaroon format (first byte {0:#04x}; only libmacaroons V2 is accepted)")]
    Version(u8),
    /// The input ended in the middle of a field.
    #[error("macaroon is truncated")]
    Truncated,
    /// A field length varint is malformed or too long.
    #[error("malformed field length at byte {0}")]
    BadLength(usize),
    /// A field appeared where the format does not allow it.
    #[error("unexpected field type {field} at byte {offset}")]
    UnexpectedField {
        /// The field tag found.
        field: u8,
        /// Where it was found.
        offset: usize,
    },
    /// The macaroon has no identifier, or an empty one.
    #[error("macaroon has no identifier")]
    MissingIdentifier,
    /// A caveat has an empty identifier.
    #[error("caveat {0} is empty")]
    EmptyCaveat(usize),
    /// The location is not UTF-8.
    #[error("macaroon location is not UTF-8")]
    LocationNotUtf8,
    /// The macaroon carries a third-party caveat, which L402 does not use.
    #[error("third-party caveats are not supported (caveat {0})")]
    ThirdPartyCaveat(usize),
    /// The signature field is missing or not 32 bytes.
    #[error("macaroon signature is missing or not 32 bytes")]
    BadSignature,
    /// Bytes follow the signature.
    #[error("{0} unexpected bytes after the signature")]
    TrailingBytes(usize),
}

/// A root key: the secret a macaroon's signature chain starts from.
///
/// Zeroized on drop; its `Debug` output is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootKey([u8; 32]);

impl RootKey {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for RootKey {
    fn from(bytes: [u8; 32]) -> Self {
        RootKey(bytes)
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(..)")
    }
}

/// `HMAC-SHA256` keyed with `"macaroons-key-generator"`, computed once.
static KEY_GENERATOR: LazyLock<HmacSha256> = LazyLock::new(|| {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(b"macaroons-key-generator")
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
});

fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The key go-macaroon signs with: `HMAC-SHA256("macaroons-key-generator", root_key)`.
fn derive_signing_key(root: &RootKey) -> [u8; 32] {
    let mut mac = KEY_GENERATOR.clone();
    mac.update(&root.0);
    mac.finalize().into_bytes().into()
}

/// A macaroon with first-party caveats.
///
/// `FromStr` accepts standard or URL-safe base64, padded or not; `Display`
/// writes standard padded base64, as Aperture does.
#[derive(Clone, PartialEq, Eq)]
pub struct Macaroon {
    location: String,
    identifier: Vec<u8>,
    caveats: Vec<Vec<u8>>,
    signature: [u8; 32],
}

impl Macaroon {
    /// Creates a macaroon signed with `root` (the key derivation of go-macaroon
    /// is applied to it).
    ///
    /// # Errors
    /// [`MacaroonError::MissingIdentifier`] if `identifier` is empty.
    pub fn new(
        root: &RootKey,
        identifier: Vec<u8>,
        location: impl Into<String>,
    ) -> Result<Self, MacaroonError> {
        if identifier.is_empty() {
            return Err(MacaroonError::MissingIdentifier);
        }
        let mut key = derive_signing_key(root);
        let signature = hmac(&key, &identifier);
        key.zeroize();
        Ok(Macaroon {
            location: location.into(),
            identifier,
            caveats: Vec::new(),
            signature,
        })
    }

    /// Assembles a macaroon from its parts without computing anything: the
    /// signature is taken as given. For tooling and tests that need to build
    /// altered macaroons; [`Macaroon::verify_signature`] still decides whether
    /// one is genuine.
    pub fn from_raw_parts(
        location: impl Into<String>,
        identifier: Vec<u8>,
        caveats: Vec<Vec<u8>>,
        signature: [u8; 32],
    ) -> Self {
        Macaroon {
            location: location.into(),
            identifier,
            caveats,
            signature,
        }
    }

    /// Appends a first-party caveat and extends the signature chain. Anyone
    /// holding a macaroon can do this: caveats can only restrict it.
    ///
    /// # Errors
    /// [`MacaroonError::EmptyCaveat`] if `caveat` is empty.
    pub fn add_first_party_caveat(
        &mut self,
        caveat: impl AsRef<[u8]>,
    ) -> Result<(), MacaroonError> {
        let caveat = caveat.as_ref();
        if caveat.is_empty() {
            return Err(MacaroonError::EmptyCaveat(self.caveats.len()));
        }
        self.signature = hmac(&self.signature, caveat);
        self.caveats.push(caveat.to_vec());
        Ok(())
    }

    /// The location (`"lsat"` for Aperture macaroons; may be empty).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The identifier bytes.
    pub fn identifier(&self) -> &[u8] {
        &self.identifier
    }

    /// The first-party caveat identifiers, in order.
    pub fn caveats(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.caveats.iter().map(Vec::as_slice)
    }

    /// The signature: the end of the HMAC chain.
    pub fn signature(&self) -> &[u8; 32] {
        &self.signature
    }

    /// Recomputes the signature chain from `root` and compares it with this
    /// macaroon's signature in constant time.
    pub fn verify_signature(&self, root: &RootKey) -> bool {
        let mut sig = derive_signing_key(root);
        sig = hmac(&sig, &self.identifier);
        for caveat in &self.caveats {
            sig = hmac(&sig, caveat);
        }
        let ok = sig.ct_eq(&self.signature).into();
        sig.zeroize();
        ok
    }

    /// Serializes to the V2 binary format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            8 + self.location.len()
                + self.identifier.len()
                + self.caveats.iter().map(|c| c.len() + 4).sum::<usize>()
                + 36,
        );
        out.push(VERSION_2);
        if !self.location.is_empty() {
            put_field(&mut out, FIELD_LOCATION, self.location.as_bytes());
        }
        put_field(&mut out, FIELD_IDENTIFIER, &self.identifier);
        out.push(FIELD_EOS);
        for caveat in &self.caveats {
            put_field(&mut out, FIELD_IDENTIFIER, caveat);
            out.push(FIELD_EOS);
        }
        out.push(FIELD_EOS);
        put_field(&mut out, FIELD_SIGNATURE, &self.signature);
        out
    }

    /// Parses the V2 binary format. Third-party caveats are refused.
    ///
    /// # Errors
    /// A [`MacaroonError`] naming what is wrong and where.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MacaroonError> {
        let mut caveats = Vec::new();
        let view = MacaroonView::read(bytes, |caveat| caveats.push(caveat.to_vec()))?;
        Ok(Macaroon {
            location: view.location.to_owned(),
            identifier: view.identifier.to_vec(),
            caveats,
            signature: view.signature,
        })
    }
}

/// A V2 macaroon read in place: every rule of [`Macaroon::from_bytes`]
/// checked (it is the one parser), nothing copied but the signature.
pub(crate) struct MacaroonView<'a> {
    pub(crate) location: &'a str,
    pub(crate) identifier: &'a [u8],
    pub(crate) signature: [u8; 32],
}

impl<'a> MacaroonView<'a> {
    /// Reads `bytes`, handing each first-party caveat to `on_caveat` in order.
    pub(crate) fn read(
        bytes: &'a [u8],
        mut on_caveat: impl FnMut(&'a [u8]),
    ) -> Result<Self, MacaroonError> {
        if bytes.len() > MAX_MACAROON_BYTES {
            return Err(MacaroonError::TooLarge(bytes.len()));
        }
        let mut reader = Reader { bytes, pos: 0 };
        let version = reader.byte()?;
        if version != VERSION_2 {
            return Err(MacaroonError::Version(version));
        }

        // Header: [location] identifier EOS
        let mut location = "";
        let (mut tag, mut data) = reader.field()?;
        if tag == FIELD_LOCATION {
            location = std::str::from_utf8(data).map_err(|_| MacaroonError::LocationNotUtf8)?;
            (tag, data) = reader.field()?;
        }
        if tag != FIELD_IDENTIFIER || data.is_empty() {
            return Err(MacaroonError::MissingIdentifier);
        }
        let identifier = data;
        reader.expect_eos()?;

        // Caveats, each: [location] identifier [verification id] EOS; an empty
        // section ends the list.
        let mut count = 0;
        loop {
            let offset = reader.pos;
            let tag = reader.peek()?;
            if tag == FIELD_EOS {
                reader.pos += 1;
                break;
            }
            let (tag, data) = reader.field()?;
            match tag {
                FIELD_LOCATION => return Err(MacaroonError::ThirdPartyCaveat(count)),
                FIELD_IDENTIFIER => {}
                field => return Err(MacaroonError::UnexpectedField { field, offset }),
            }
            if data.is_empty() {
                return Err(MacaroonError::EmptyCaveat(count));
            }
            let offset = reader.pos;
            match reader.peek()? {
                FIELD_EOS => reader.pos += 1,
                FIELD_VERIFICATION_ID => {
                    return Err(MacaroonError::ThirdPartyCaveat(count));
                }
                field => return Err(MacaroonError::UnexpectedField { field, offset }),
            }
            on_caveat(data);
            count += 1;
        }

        let (tag, data) = reader.field()?;
        if tag != FIELD_SIGNATURE {
            return Err(MacaroonError::BadSignature);
        }
        let signature: [u8; 32] = data.try_into().map_err(|_| MacaroonError::BadSignature)?;
        let rest = bytes.len() - reader.pos;
        if rest != 0 {
            return Err(MacaroonError::TrailingBytes(rest));
        }
        Ok(MacaroonView {
            location,
            identifier,
            signature,
        })
    }
}

fn put_field(out: &mut Vec<u8>, tag: u8, data: &[u8]) {
    out.push(tag);
    let mut len = data.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(data);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<u8, MacaroonError> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or(MacaroonError::Truncated)
    }

    fn byte(&mut self) -> Result<u8, MacaroonError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    fn expect_eos(&mut self) -> Result<(), MacaroonError> {
        let offset = self.pos;
        match self.byte()? {
            FIELD_EOS => Ok(()),
            field => Err(MacaroonError::UnexpectedField { field, offset }),
        }
    }

    /// Reads `tag varint(len) data`.
    fn field(&mut self) -> Result<(u8, &'a [u8]), MacaroonError> {
        let offset = self.pos;
        let tag = self.byte()?;
        if tag == FIELD_EOS {
            return Err(MacaroonError::UnexpectedField { field: tag, offset });
        }
        let len_at = self.pos;
        let mut len: usize = 0;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            // A field can never be longer than the input, so 4 bytes of
            // varint (2^28) is already far beyond any accepted length.
            if shift >= 28 {
                return Err(MacaroonError::BadLength(len_at));
            }
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(MacaroonError::Truncated)?;
        let data = &self.bytes[self.pos..end];
        self.pos = end;
        Ok((tag, data))
    }
}

impl FromStr for Macaroon {
    type Err = MacaroonError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Base64 expands 3 bytes to 4: refuse before decoding anything huge.
        if s.len() > MAX_MACAROON_BYTES / 3 * 4 + 4 {
            return Err(MacaroonError::TooLarge(s.len() / 4 * 3));
        }
        let bytes = decode_base64_any(s).ok_or(MacaroonError::Base64)?;
        Macaroon::from_bytes(&bytes)
    }
}

impl fmt::Display for Macaroon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_base64(&self.to_bytes()))
    }
}

impl fmt::Debug for Macaroon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Macaroon")
            .field("location", &self.location)
            .field("identifier", &hex::encode(&self.identifier))
            .field(
                "caveats",
                &self
                    .caveats
                    .iter()
                    .map(|c| String::from_utf8_lossy(c))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APERTURE: &str = "AgEEbHNhdAJCAAAwpHpumws6ufQoDwiTLNcge0QPUIWA0+tVY+tKPYAJ/zSfmEGlIpNm3VzxuzCqLhEp5KGiyPLUM9L+kcB7uzS+AAIPc2VydmljZXM9bWVtZTowAAISbWVtZV9jYXBhYmlsaXRpZXM9AAAGILA1VCEIExukt4nG+XR9tX8WJ2BVMiHG3UNt1uYJ+NRD";

    #[test]
    fn aperture_macaroon_round_trips_byte_for_byte() {
        let mac: Macaroon = APERTURE.parse().unwrap();
        assert_eq!(mac.location(), "lsat");
        assert_eq!(mac.identifier().len(), 66);
        let caveats: Vec<_> = mac.caveats().collect();
        assert_eq!(
            caveats,
            vec![&b"services=meme:0"[..], &b"meme_capabilities="[..]]
        );
        assert_eq!(mac.to_string(), APERTURE);
    }

    #[test]
    fn url_safe_unpadded_form_decodes_to_the_same_macaroon() {
        let url = APERTURE.replace('+', "-").replace('/', "_");
        let url = url.trim_end_matches('=');
        assert_eq!(url.parse::<Macaroon>().unwrap().to_string(), APERTURE);
    }

    #[test]
    fn truncations_are_errors_not_panics() {
        let bytes = APERTURE.parse::<Macaroon>().unwrap().to_bytes();
        for len in 0..bytes.len() {
            assert!(Macaroon::from_bytes(&bytes[..len]).is_err(), "prefix {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Macaroon::from_bytes(&longer),
            Err(MacaroonError::TrailingBytes(1))
        );
    }

    #[test]
    fn third_party_caveats_are_refused() {
        // identifier "id", then a caveat with a location (third-party form).
        let mut bytes = vec![2, 2, 2, b'i', b'd', 0];
        bytes.extend_from_slice(&[1, 1, b'x', 2, 1, b'c', 4, 1, b'v', 0, 0, 6, 32]);
        bytes.extend_from_slice(&[0u8; 32]);
        assert_eq!(
            Macaroon::from_bytes(&bytes),
            Err(MacaroonError::ThirdPartyCaveat(0))
        );
        let mut bytes = vec![2, 2, 2, b'i', b'd', 0];
        bytes.extend_from_slice(&[2, 1, b'c', 4, 1, b'v', 0, 0, 6, 32]);
        bytes.extend_from_slice(&[0u8; 32]);
        assert_eq!(
            Macaroon::from_bytes(&bytes),
            Err(MacaroonError::ThirdPartyCaveat(0))
        );
    }

    #[test]
    fn overlong_varint_is_refused() {
        let bytes = [2, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            Macaroon::from_bytes(&bytes),
            Err(MacaroonError::BadLength(2))
        );
    }

    #[test]
    fn root_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", RootKey::from([9; 32])), "RootKey(..)");
    }
}

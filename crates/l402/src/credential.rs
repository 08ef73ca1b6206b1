//! `Authorization` credentials: `L402 <macaroon>[,<macaroon>…]:<preimage>`,
//! the legacy `LSAT` scheme, and Aperture's header-less gRPC metadata form.
//!
//! ```
//! use l402::{Credential, Preimage};
//! use l402::macaroon::{Macaroon, RootKey};
//!
//! let mac = Macaroon::new(&RootKey::from([1; 32]), b"id".to_vec(), "lsat").unwrap();
//! let credential = Credential::new(mac, Preimage::from([2; 32]));
//! let header = credential.to_string();
//! assert!(header.starts_with("L402 AgEEbHNhdA"));
//! let back: Credential = header.parse().unwrap();
//! assert_eq!(back, credential);
//! // any case, either base64 alphabet, unpadded
//! let lower = header.replacen("L402", "lsat", 1).replace('=', "");
//! assert_eq!(lower.parse::<Credential>().unwrap().macaroon(), credential.macaroon());
//! ```

use std::fmt;
use std::str::FromStr;

use crate::challenge::Scheme;
use crate::encoding::decode_base64_any_into;
use crate::hash::{HexError, Preimage};
use crate::identifier::{Identifier, TokenId};
use crate::macaroon::{Macaroon, MacaroonError, MacaroonView};

/// The most macaroons accepted in one credential.
pub const MAX_MACAROONS: usize = 8;

/// Why an `Authorization` value is not a usable L402 credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The value is empty.
    #[error("empty Authorization value")]
    Empty,
    /// The scheme is neither `L402` nor `LSAT`.
    #[error("authorization scheme is not L402 or LSAT")]
    NotL402,
    /// No `:` separates the macaroon from the preimage.
    #[error("L402 credential has no ':' between macaroon and preimage")]
    MissingSeparator,
    /// There is no macaroon before the `:`.
    #[error("L402 credential has no macaroon")]
    MissingMacaroon,
    /// More than [`MAX_MACAROONS`] macaroons.
    #[error("L402 credential has more than {MAX_MACAROONS} macaroons")]
    TooManyMacaroons,
    /// A macaroon could not be decoded.
    #[error("macaroon {index} in the credential: {source}")]
    Macaroon {
        /// Its position.
        index: usize,
        /// What was wrong.
        source: MacaroonError,
    },
    /// The preimage is not 64 hex digits.
    #[error("preimage: {0}")]
    Preimage(HexError),
    /// gRPC metadata: the macaroon is not hex.
    #[error("gRPC macaroon metadata is not hex")]
    MetadataNotHex,
    /// gRPC metadata: the macaroon has no `preimage=` caveat.
    #[error("gRPC macaroon metadata has no preimage= caveat")]
    MetadataMissingPreimage,
}

/// A paid credential: one or more macaroons and the payment preimage.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    scheme: Scheme,
    macaroons: Vec<Macaroon>,
    preimage: Preimage,
}

impl Credential {
    /// A credential with the `L402` scheme.
    pub fn new(macaroon: Macaroon, preimage: Preimage) -> Self {
        Credential {
            scheme: Scheme::L402,
            macaroons: vec![macaroon],
            preimage,
        }
    }

    /// The scheme it was sent with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The first (primary) macaroon.
    pub fn macaroon(&self) -> &Macaroon {
        // Every constructor guarantees at least one macaroon.
        &self.macaroons[0]
    }

    /// All macaroons, the primary first.
    pub fn macaroons(&self) -> &[Macaroon] {
        &self.macaroons
    }

    /// The preimage.
    pub fn preimage(&self) -> &Preimage {
        &self.preimage
    }

    /// Aperture's header-less gRPC form: a hex macaroon (metadata key
    /// `macaroon`) carrying a `preimage=<hex>` caveat; the last such caveat wins.
    ///
    /// # Errors
    /// [`CredentialError`] if the hex, the macaroon or the preimage is bad.
    pub fn from_grpc_metadata(hex_macaroon: &str) -> Result<Self, CredentialError> {
        let bytes =
            hex::decode(hex_macaroon.trim()).map_err(|_| CredentialError::MetadataNotHex)?;
        let macaroon = Macaroon::from_bytes(&bytes)
            .map_err(|source| CredentialError::Macaroon { index: 0, source })?;
        let preimage = macaroon
            .caveats()
            .filter_map(|c| c.strip_prefix(b"preimage="))
            .last()
            .ok_or(CredentialError::MetadataMissingPreimage)?;
        let preimage = std::str::from_utf8(preimage)
            .map_err(|_| CredentialError::Preimage(HexError::NotHex))?
            .trim()
            .parse()
            .map_err(CredentialError::Preimage)?;
        Ok(Credential {
            scheme: Scheme::L402,
            macaroons: vec![macaroon],
            preimage,
        })
    }
}

impl FromStr for Credential {
    type Err = CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, macaroons, preimage) = split(s)?;
        let mut parsed = Vec::new();
        for (index, text) in macaroons.split(',').map(str::trim).enumerate() {
            if text.is_empty() {
                continue;
            }
            if parsed.len() == MAX_MACAROONS {
                return Err(CredentialError::TooManyMacaroons);
            }
            parsed.push(
                text.parse()
                    .map_err(|source| CredentialError::Macaroon { index, source })?,
            );
        }
        if parsed.is_empty() {
            return Err(CredentialError::MissingMacaroon);
        }
        Ok(Credential {
            scheme,
            macaroons: parsed,
            preimage,
        })
    }
}

/// `<scheme> <macaroons>:<preimage>`, split and the scheme and preimage
/// parsed: the one reading of the credential's outline.
fn split(s: &str) -> Result<(Scheme, &str, Preimage), CredentialError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CredentialError::Empty);
    }
    let (scheme, rest) = s.split_once([' ', '\t']).ok_or(CredentialError::NotL402)?;
    let scheme = scheme
        .parse::<Scheme>()
        .map_err(|_| CredentialError::NotL402)?;
    let (macaroons, preimage) = rest
        .trim_start()
        .split_once(':')
        .ok_or(CredentialError::MissingSeparator)?;
    let preimage = preimage.trim().parse().map_err(CredentialError::Preimage)?;
    Ok((scheme, macaroons, preimage))
}

/// The largest macaroon [`TokenIdentity::read`] decodes (on the stack);
/// larger ones are parsed in full.
const IDENTITY_MACAROON_BYTES: usize = 1024;

/// What identifies a paid token, read from an `Authorization` value without
/// allocating: its token id, its macaroon's signature and the preimage. For
/// caches of credentials that verified before: every spelling of one
/// credential has the same identity, and the signature covers the
/// identifier and every caveat.
///
/// ```
/// use l402::{Credential, Identifier, PaymentHash, Preimage, TokenId, TokenIdentity};
/// use l402::macaroon::{Macaroon, RootKey};
///
/// let preimage = Preimage::from([2; 32]);
/// let id = Identifier::new(preimage.payment_hash(), TokenId([7; 32]));
/// let mac = Macaroon::new(&RootKey::from([1; 32]), id.to_bytes().to_vec(), "lsat").unwrap();
/// let header = Credential::new(mac.clone(), preimage).to_string();
/// let identity = TokenIdentity::read(&header, "lsat").unwrap();
/// assert_eq!(identity.token_id, TokenId([7; 32]));
/// assert_eq!(&identity.signature, mac.signature());
/// // Another spelling, the same identity; another location, none.
/// let lower = header.replacen("L402", "lsat", 1).replace('=', "");
/// assert_eq!(TokenIdentity::read(&lower, "lsat"), Some(identity));
/// assert_eq!(TokenIdentity::read(&header, "elsewhere"), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    /// The token id from the macaroon's identifier.
    pub token_id: TokenId,
    /// The macaroon's signature.
    pub signature: [u8; 32],
    /// The preimage presented.
    pub preimage: Preimage,
}

impl TokenIdentity {
    /// The identity of `authorization` when it is a credential that
    /// [`Credential::from_str`] accepts, with exactly one macaroon, at
    /// `location`, with an L402 identifier (every check of the full parse
    /// applies). `None` otherwise, which only means "parse it in full": a
    /// credential with several macaroons, another location, or a macaroon
    /// over 1 KiB has no identity here.
    pub fn read(authorization: &str, location: &str) -> Option<TokenIdentity> {
        let (_, macaroons, preimage) = split(authorization).ok()?;
        let mut entries = macaroons
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let (text, None) = (entries.next()?, entries.next()) else {
            return None;
        };
        let mut buf = [0u8; IDENTITY_MACAROON_BYTES];
        let len = decode_base64_any_into(text, &mut buf)?;
        let view = MacaroonView::read(&buf[..len], |_| {}).ok()?;
        if view.location != location {
            return None;
        }
        let identifier = Identifier::from_bytes(view.identifier).ok()?;
        Some(TokenIdentity {
            token_id: identifier.token_id,
            signature: view.signature,
            preimage,
        })
    }
}

impl fmt::Debug for TokenIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIdentity")
            .field("token_id", &self.token_id)
            .field("preimage", &self.preimage)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Credential {
    /// `L402 <base64>[,<base64>…]:<hex preimage>`: this includes the preimage,
    /// so print it only into an `Authorization` header.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.scheme)?;
        for (i, mac) in self.macaroons.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{mac}")?;
        }
        write!(f, ":{}", self.preimage.to_hex())
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("scheme", &self.scheme)
            .field("macaroons", &self.macaroons)
            .field("preimage", &self.preimage)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macaroon::RootKey;

    fn mac() -> Macaroon {
        Macaroon::new(&RootKey::from([1; 32]), b"id".to_vec(), "lsat").unwrap()
    }

    #[test]
    fn errors_are_typed() {
        let m = mac().to_string();
        let pre = "ab".repeat(32);
        assert_eq!("".parse::<Credential>(), Err(CredentialError::Empty));
        assert_eq!(
            "Bearer x".parse::<Credential>(),
            Err(CredentialError::NotL402)
        );
        assert_eq!("L402".parse::<Credential>(), Err(CredentialError::NotL402));
        assert_eq!(
            format!("L402 {m}").parse::<Credential>(),
            Err(CredentialError::MissingSeparator)
        );
        assert_eq!(
            format!("L402 :{pre}").parse::<Credential>(),
            Err(CredentialError::MissingMacaroon)
        );
        assert!(matches!(
            format!("L402 {m}:abc").parse::<Credential>(),
            Err(CredentialError::Preimage(HexError::Length(3)))
        ));
        assert!(matches!(
            format!("L402 !!!:{pre}").parse::<Credential>(),
            Err(CredentialError::Macaroon {
                index: 0,
                source: MacaroonError::Base64
            })
        ));
        let many = [m.as_str(); MAX_MACAROONS + 1].join(",");
        assert_eq!(
            format!("L402 {many}:{pre}").parse::<Credential>(),
            Err(CredentialError::TooManyMacaroons)
        );
    }

    #[test]
    fn several_macaroons_and_uppercase_preimage() {
        let m = mac().to_string();
        let pre = "AB".repeat(32);
        let c: Credential = format!("LSAT {m}, {m}:{pre}").parse().unwrap();
        assert_eq!(c.scheme(), Scheme::Lsat);
        assert_eq!(c.macaroons().len(), 2);
        assert_eq!(c.to_string(), format!("LSAT {m},{m}:{}", "ab".repeat(32)));
    }

    #[test]
    fn grpc_metadata_form() {
        let pre = "cd".repeat(32);
        let mut m = mac();
        m.add_first_party_caveat(format!("preimage={}", "00".repeat(32)))
            .unwrap();
        m.add_first_party_caveat(format!("preimage={pre}")).unwrap();
        let c = Credential::from_grpc_metadata(&hex::encode(m.to_bytes())).unwrap();
        assert_eq!(c.preimage().to_hex(), pre, "the last preimage caveat wins");
        assert_eq!(
            Credential::from_grpc_metadata(&hex::encode(mac().to_bytes())),
            Err(CredentialError::MetadataMissingPreimage)
        );
        assert_eq!(
            Credential::from_grpc_metadata("zz"),
            Err(CredentialError::MetadataNotHex)
        );
    }

    #[test]
    fn debug_redacts_the_preimage() {
        let c = Credential::new(mac(), Preimage::from([0xab; 32]));
        assert!(!format!("{c:?}").contains("abab"));
    }
}

//! The connection string a wallet service hands out:
//! `nostr+walletconnect://<wallet pubkey>?relay=<url>&secret=<hex>[&lud16=…]`
//! (NIP-47, "Nostr Wallet Connect URI").

use std::fmt;
use std::str::FromStr;

use nostr::{Keys, PublicKey, SecretKey, Url};

/// The schemes accepted (`nostr+walletconnect:` is NIP-47's; Alby also
/// wrote `nostrwalletconnect:` in early versions).
const SCHEMES: [&str; 2] = ["nostr+walletconnect", "nostrwalletconnect"];

/// The longest connection string parsed (a handful of relays fit easily).
const MAX_LEN: usize = 4096;

/// A parsed NWC connection string.
///
/// `Debug` and `Display` never show the secret (`Display` writes
/// `secret=..`); [`NwcUri::to_secret_string`] gives the full string for
/// handing on.
///
/// ```
/// use l402_lightning::nwc::NwcUri;
/// let uri: NwcUri = "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4\
///     ?relay=wss%3A%2F%2Frelay.example.com&secret=71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
///     .parse()?;
/// assert_eq!(uri.relays()[0].as_str(), "wss://relay.example.com/");
/// assert!(!uri.to_string().contains("71a8c14c"));
/// assert!(!format!("{uri:?}").contains("71a8c14c"));
/// assert_eq!(uri.to_secret_string().parse::<NwcUri>()?, uri);
/// # Ok::<(), l402_lightning::nwc::NwcUriError>(())
/// ```
#[derive(Clone)]
pub struct NwcUri {
    wallet: PublicKey,
    relays: Vec<Url>,
    keys: Keys,
    lud16: Option<String>,
}

/// Why a connection string was refused. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NwcUriError {
    /// Not a `nostr+walletconnect://` URI at all.
    #[error("not a nostr+walletconnect:// URI")]
    NotNwc,
    /// Longer than this parser reads.
    #[error("longer than {MAX_LEN} bytes")]
    TooLong,
    /// The wallet service's public key is not 32 bytes of hex.
    #[error("the wallet public key is not a 32-byte hex key")]
    BadWalletKey,
    /// No `relay` parameter, or one that is not a `ws://` / `wss://` URL.
    #[error("relay: {0}")]
    BadRelay(String),
    /// No `secret` parameter, or one that is not a valid 32-byte hex key.
    #[error("secret: missing or not a valid 32-byte hex key")]
    BadSecret,
}

impl NwcUri {
    /// The wallet service's public key.
    pub fn wallet_pubkey(&self) -> &PublicKey {
        &self.wallet
    }

    /// The relays the wallet service listens on (at least one).
    pub fn relays(&self) -> &[Url] {
        &self.relays
    }

    /// This client's key pair (from `secret`).
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// This client's public key (the one the wallet service knows).
    pub fn client_pubkey(&self) -> PublicKey {
        self.keys.public_key()
    }

    /// The wallet's lightning address, if given.
    pub fn lud16(&self) -> Option<&str> {
        self.lud16.as_deref()
    }

    /// The full connection string, secret included: only for handing it to
    /// something that needs it, never for printing.
    pub fn to_secret_string(&self) -> String {
        self.write(true)
    }

    fn write(&self, with_secret: bool) -> String {
        let mut out = format!("nostr+walletconnect://{}?", self.wallet.to_hex());
        for relay in &self.relays {
            out.push_str("relay=");
            out.push_str(&encode(relay.as_str()));
            out.push('&');
        }
        out.push_str("secret=");
        if with_secret {
            out.push_str(&self.keys.secret_key().to_secret_hex());
        } else {
            out.push_str("..");
        }
        if let Some(lud16) = &self.lud16 {
            out.push_str("&lud16=");
            out.push_str(&encode(lud16));
        }
        out
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex32(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl FromStr for NwcUri {
    type Err = NwcUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() > MAX_LEN {
            return Err(NwcUriError::TooLong);
        }
        let (scheme, rest) = s.split_once(':').ok_or(NwcUriError::NotNwc)?;
        if !SCHEMES.iter().any(|k| k.eq_ignore_ascii_case(scheme)) {
            return Err(NwcUriError::NotNwc);
        }
        // `nostr+walletconnect:<key>?…` is seen too; read both the same way.
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let url = Url::parse(&format!("nostr+walletconnect://{rest}"))
            .map_err(|_| NwcUriError::NotNwc)?;
        let host = url.host_str().ok_or(NwcUriError::BadWalletKey)?;
        if !hex32(host) {
            return Err(NwcUriError::BadWalletKey);
        }
        let wallet = PublicKey::from_hex(host).map_err(|_| NwcUriError::BadWalletKey)?;
        let mut relays = Vec::new();
        let mut secret = None;
        let mut lud16 = None;
        for (key, value) in url.query_pairs() {
            match &*key {
                "relay" => {
                    let relay = Url::parse(&value)
                        .map_err(|_| NwcUriError::BadRelay(format!("{value:?} is not a URL")))?;
                    if !matches!(relay.scheme(), "ws" | "wss") || relay.host().is_none() {
                        return Err(NwcUriError::BadRelay(format!(
                            "{value:?} is not a ws:// or wss:// URL"
                        )));
                    }
                    if relays.len() < 16 && !relays.contains(&relay) {
                        relays.push(relay);
                    }
                }
                "secret" => {
                    if !hex32(&value) {
                        return Err(NwcUriError::BadSecret);
                    }
                    secret = Some(SecretKey::from_hex(&value).map_err(|_| NwcUriError::BadSecret)?);
                }
                "lud16" if !value.is_empty() => lud16 = Some(value.into_owned()),
                _ => {}
            }
        }
        if relays.is_empty() {
            return Err(NwcUriError::BadRelay("missing".into()));
        }
        let secret = secret.ok_or(NwcUriError::BadSecret)?;
        Ok(NwcUri {
            wallet,
            relays,
            keys: Keys::new(secret),
            lud16,
        })
    }
}

impl fmt::Display for NwcUri {
    /// The connection string with `secret=..`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.write(false))
    }
}

impl fmt::Debug for NwcUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NwcUri")
            .field("wallet", &self.wallet.to_hex())
            .field(
                "relays",
                &self.relays.iter().map(Url::as_str).collect::<Vec<_>>(),
            )
            .field("secret", &"..")
            .finish()
    }
}

impl PartialEq for NwcUri {
    fn eq(&self, other: &Self) -> bool {
        self.wallet == other.wallet
            && self.relays == other.relays
            && self.keys.public_key() == other.keys.public_key()
            && self.lud16 == other.lud16
    }
}

impl Eq for NwcUri {}

#[cfg(test)]
mod tests {
    use super::*;

    const WALLET: &str = "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4";
    const SECRET: &str = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";

    #[test]
    fn parses_nip47s_example_and_round_trips() {
        let text = format!(
            "nostr+walletconnect://{WALLET}?relay=wss%3A%2F%2Frelay.damus.io&secret={SECRET}"
        );
        let uri: NwcUri = text.parse().unwrap();
        assert_eq!(uri.wallet_pubkey().to_hex(), WALLET);
        assert_eq!(uri.relays()[0].as_str(), "wss://relay.damus.io/");
        assert_eq!(uri.to_secret_string().parse::<NwcUri>().unwrap(), uri);
        assert!(!uri.to_string().contains(SECRET));
        assert!(uri.to_string().contains("secret=.."));
        assert!(!format!("{uri:?}").contains(SECRET));
    }

    #[test]
    fn several_relays_lud16_and_the_short_form() {
        let text = format!(
            "nostr+walletconnect:{WALLET}?relay=ws://127.0.0.1:7000&relay=wss://r.example/v1\
             &secret={SECRET}&lud16=me%40example.com"
        );
        let uri: NwcUri = text.parse().unwrap();
        assert_eq!(uri.relays().len(), 2);
        assert_eq!(uri.lud16(), Some("me@example.com"));
        assert_eq!(uri.to_secret_string().parse::<NwcUri>().unwrap(), uri);
    }

    #[test]
    fn bad_input_is_a_typed_error_never_a_panic() {
        let good_relay = "relay=wss%3A%2F%2Fr.example";
        let cases: Vec<(String, NwcUriError)> = vec![
            ("".into(), NwcUriError::NotNwc),
            ("https://example.com".into(), NwcUriError::NotNwc),
            (
                format!("nostr+walletconnect://zz?{good_relay}&secret={SECRET}"),
                NwcUriError::BadWalletKey,
            ),
            (
                format!("nostr+walletconnect://{WALLET}?secret={SECRET}"),
                NwcUriError::BadRelay("missing".into()),
            ),
            (
                format!("nostr+walletconnect://{WALLET}?{good_relay}"),
                NwcUriError::BadSecret,
            ),
            (
                format!("nostr+walletconnect://{WALLET}?{good_relay}&secret=00"),
                NwcUriError::BadSecret,
            ),
            (
                format!(
                    "nostr+walletconnect://{WALLET}?{good_relay}&secret={}",
                    "0".repeat(64)
                ),
                NwcUriError::BadSecret,
            ),
            ("x".repeat(MAX_LEN + 1), NwcUriError::TooLong),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<NwcUri>().unwrap_err(), want, "{text}");
        }
        let http = format!("nostr+walletconnect://{WALLET}?relay=https://x&secret={SECRET}");
        assert!(matches!(
            http.parse::<NwcUri>(),
            Err(NwcUriError::BadRelay(_))
        ));
        for junk in [
            "nostr+walletconnect:",
            "nostr+walletconnect://",
            "nostr+walletconnect://%%?relay=%",
        ] {
            assert!(junk.parse::<NwcUri>().is_err());
        }
    }
}

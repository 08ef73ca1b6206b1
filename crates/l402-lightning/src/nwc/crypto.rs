//! The two encryptions NIP-47 allows for request, response and
//! notification contents, and choosing one from the wallet's info event.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use nostr::nips::{nip04, nip44};
use nostr::{Event, PublicKey, SecretKey};

/// The largest encrypted content decrypted (NIP-44 v2 caps plaintext at
/// 64 KiB; base64 and padding make that about 87 KiB).
const MAX_CIPHERTEXT: usize = 128 * 1024;

/// How a request's content is encrypted (NIP-47 "Encryption").
///
/// The wallet's info event (kind 13194) lists what it speaks in its
/// `encryption` tag; without the tag it speaks NIP-04 only. This client
/// prefers NIP-44 v2 whenever the wallet offers it.
///
/// ```
/// use l402_lightning::nwc::Encryption;
/// assert_eq!("nip44_v2".parse::<Encryption>(), Ok(Encryption::Nip44V2));
/// assert_eq!(Encryption::Nip04.to_string(), "nip04");
/// assert_eq!(Encryption::choose(Some("nip04 nip44_v2")), Some(Encryption::Nip44V2));
/// assert_eq!(Encryption::choose(None), Some(Encryption::Nip04));
/// assert_eq!(Encryption::choose(Some("nip99")), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// NIP-44 version 2 (ChaCha20 + HMAC-SHA256, padded): `nip44_v2`.
    Nip44V2,
    /// NIP-04 (AES-256-CBC), deprecated, for wallets that speak nothing else: `nip04`.
    Nip04,
}

impl Encryption {
    /// The best encryption both sides speak, from the value of the info
    /// event's `encryption` tag (`None`: no tag, so NIP-04). `None` when
    /// the wallet lists nothing this client speaks.
    pub fn choose(tag: Option<&str>) -> Option<Encryption> {
        let Some(tag) = tag else {
            return Some(Encryption::Nip04);
        };
        let offered: Vec<Encryption> = tag
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        [Encryption::Nip44V2, Encryption::Nip04]
            .into_iter()
            .find(|e| offered.contains(e))
    }

    /// The encryption a wallet's info event offers (see [`Encryption::choose`]).
    pub(crate) fn from_info(info: &Event) -> Option<Encryption> {
        Encryption::choose(tag_value(info, "encryption"))
    }

    /// The name used in `encryption` tags.
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Nip44V2 => "nip44_v2",
            Encryption::Nip04 => "nip04",
        }
    }

    /// The notification kind encrypted this way: 23197 for NIP-44, 23196
    /// for NIP-04.
    pub(crate) fn notification_kind(self) -> u16 {
        match self {
            Encryption::Nip44V2 => 23197,
            Encryption::Nip04 => 23196,
        }
    }

    /// Encrypts `plaintext` from `secret` to `peer`.
    pub(crate) fn encrypt(
        self,
        secret: &SecretKey,
        peer: &PublicKey,
        plaintext: &str,
    ) -> Result<String, String> {
        match self {
            Encryption::Nip44V2 => nip44::encrypt(secret, peer, plaintext, nip44::Version::V2)
                .map_err(|e| format!("nip44 encrypt: {e}")),
            Encryption::Nip04 => {
                nip04::encrypt(secret, peer, plaintext).map_err(|e| format!("nip04 encrypt: {e}"))
            }
        }
    }

    /// Decrypts `content` sent by `peer` to `secret`. Malformed input is an
    /// error, never a panic: the NIP-04 IV's length is checked here because
    /// the cipher library assumes it.
    pub(crate) fn decrypt(
        self,
        secret: &SecretKey,
        peer: &PublicKey,
        content: &str,
    ) -> Result<String, String> {
        if content.len() > MAX_CIPHERTEXT {
            return Err(format!("encrypted content over {MAX_CIPHERTEXT} bytes"));
        }
        match self {
            Encryption::Nip44V2 => {
                nip44::decrypt(secret, peer, content).map_err(|e| format!("nip44 decrypt: {e}"))
            }
            Encryption::Nip04 => {
                let (_, iv) = content
                    .split_once("?iv=")
                    .ok_or("nip04: no ?iv= in the content")?;
                let iv = base64::engine::general_purpose::STANDARD
                    .decode(iv)
                    .map_err(|_| "nip04: the IV is not base64")?;
                if iv.len() != 16 {
                    return Err("nip04: the IV is not 16 bytes".into());
                }
                nip04::decrypt(secret, peer, content).map_err(|e| format!("nip04 decrypt: {e}"))
            }
        }
    }
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encryption {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nip44_v2" => Ok(Encryption::Nip44V2),
            "nip04" => Ok(Encryption::Nip04),
            other => Err(format!("unknown NIP-47 encryption {other:?}")),
        }
    }
}

/// The first value of `event`'s first tag named `name`.
pub(crate) fn tag_value<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event.tags.iter().find_map(|tag| match tag.as_slice() {
        [key, value, ..] if key == name => Some(value.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::Keys;

    #[test]
    fn both_encryptions_round_trip_between_two_keys() {
        let (a, b) = (Keys::generate(), Keys::generate());
        for enc in [Encryption::Nip44V2, Encryption::Nip04] {
            let sealed = enc
                .encrypt(a.secret_key(), &b.public_key(), "{\"method\":\"get_info\"}")
                .unwrap();
            let opened = enc
                .decrypt(b.secret_key(), &a.public_key(), &sealed)
                .unwrap();
            assert_eq!(opened, "{\"method\":\"get_info\"}");
            // The other scheme cannot read it.
            let other = if enc == Encryption::Nip04 {
                Encryption::Nip44V2
            } else {
                Encryption::Nip04
            };
            assert!(
                other
                    .decrypt(b.secret_key(), &a.public_key(), &sealed)
                    .is_err()
            );
        }
    }

    #[test]
    fn malformed_ciphertexts_are_errors() {
        let (a, b) = (Keys::generate(), Keys::generate());
        for junk in [
            "",
            "?iv=",
            "AAAA?iv=AAAA",
            "AAAA?iv=AAAAAAAAAAAAAAAAAAAAAA==?iv=x",
            "not base64 at all",
            "Ag==",
        ] {
            for enc in [Encryption::Nip44V2, Encryption::Nip04] {
                assert!(enc.decrypt(a.secret_key(), &b.public_key(), junk).is_err());
            }
        }
        let big = "A".repeat(MAX_CIPHERTEXT + 1);
        assert!(
            Encryption::Nip44V2
                .decrypt(a.secret_key(), &b.public_key(), &big)
                .is_err()
        );
    }

    #[test]
    fn nip44_is_preferred_and_absence_means_nip04() {
        assert_eq!(
            Encryption::choose(Some("nip44_v2")),
            Some(Encryption::Nip44V2)
        );
        assert_eq!(Encryption::choose(Some("nip04")), Some(Encryption::Nip04));
        assert_eq!(Encryption::choose(Some("")), None);
        assert_eq!(Encryption::choose(None), Some(Encryption::Nip04));
    }
}
